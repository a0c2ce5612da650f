/* arena_reset_uaf.c — memory of an hk_arena written after hk_arena_reset took it back. Under heap
 * checking each arena allocation is a checked block of its own, named by its arena, and a reset
 * frees it into the quarantine. Linked with heapkit for the arena API. */
#include <heapkit.h>
#include "check_util.h"

CK_FN static char *take(hk_arena_t *arena) { return hk_arena_alloc(arena, 40); }
CK_FN static void start_over(hk_arena_t *arena) { hk_arena_reset(arena); }
CK_FN static void write_after_reset(char *p) { p[12] = 7; }

int main(void) {
    hk_arena_t *arena = hk_arena_create("request", NULL, 0);
    if (arena == NULL) return 2;
    char *p = ck_launder(take(arena));
    p[0] = 1;
    start_over(arena);
    write_after_reset(ck_launder(p));
    hk_arena_destroy(arena);
    return 0;
}
