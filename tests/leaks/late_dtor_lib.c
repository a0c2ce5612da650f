/* late_dtor_lib.c — the library late_dtor.c links (late_dtor_linked.so) and dlopens
 * (late_dtor_plugin.so): it keeps blocks only it knows how to find (the pointers are stored
 * xor-ed, so no scan can see them) and frees them in its destructor. A check made before that
 * destructor runs calls them definitely lost; one made after every destructor sees none. */
#include "leak_util.h"

void late_keep(size_t size);

#define LATE_KEPT 4
#define LATE_HIDE ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

static uintptr_t late_hidden[LATE_KEPT];
static int late_count;

LK_FN void late_keep(size_t size) {
    LK_CHECK(late_count < LATE_KEPT);
    late_hidden[late_count++] = (uintptr_t)lk_alloc(size) ^ LATE_HIDE;
}

__attribute__((destructor)) static void late_free_all(void) {
    while (late_count > 0) free((void *)(late_hidden[--late_count] ^ LATE_HIDE));
}
