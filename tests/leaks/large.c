/* large.c — blocks too large for size classes (glibc and heapkit both map them on their own):
 * a lost 4 MiB block, a lost 32-byte block that holds the only pointer to a 6 MiB one (indirectly
 * lost), a lost calloc of 4 MiB, a 5 MiB block a global still holds that holds a 48-byte one,
 * and a 3 MiB block held only by a pointer 1 MiB into it (possibly lost). */
#include "leak_util.h"

#define MiB (1024 * 1024)

void *g_large;
char *g_large_interior;

LK_FN void lose_large(void) {
    void *volatile p = lk_alloc(4 * MiB);
    p = NULL;
    (void)p;
}

LK_FN void lose_large_holder(void) {
    void **volatile holder = lk_alloc(32);
    holder[0] = lk_alloc(6 * MiB);
    holder = NULL;
    (void)holder;
}

LK_FN void lose_large_calloc(void) {
    char *volatile p = calloc(1024, 4096);
    LK_CHECK(p != NULL && p[4 * MiB - 1] == 0);
    p = NULL;
    (void)p;
}

LK_FN void keep_large(void) {
    void **p = lk_alloc(5 * MiB);
    p[1000] = lk_alloc(48);
    g_large = p;
}

LK_FN void keep_large_interior(void) { g_large_interior = (char *)lk_alloc(3 * MiB) + MiB; }

int main(void) {
    lose_large();
    lose_large_holder();
    lose_large_calloc();
    keep_large();
    keep_large_interior();
    lk_scrub_stack();
    return 0;
}
