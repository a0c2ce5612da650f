/* aligned.c — leaks of aligned allocations, counted at the size asked for: posix_memalign (64,
 * 100), aligned_alloc (256, 512), memalign (4096, 10000), valloc (123), posix_memalign with a
 * 1 MiB alignment (1000), and an aligned_alloc (64, 64) block a global still holds. */
#define _GNU_SOURCE
#include <malloc.h>

#include "leak_util.h"

void *g_aligned;

LK_FN void lose_posix_memalign(void) {
    void *p = NULL;
    LK_CHECK(posix_memalign(&p, 64, 100) == 0 && ((uintptr_t)p & 63) == 0);
    memset(p, 0xA5, 100);
}

LK_FN void lose_aligned_alloc(void) {
    void *p = aligned_alloc(256, 512);
    LK_CHECK(p != NULL && ((uintptr_t)p & 255) == 0);
    memset(p, 0xA5, 512);
}

LK_FN void lose_memalign(void) {
    void *p = memalign(4096, 10000);
    LK_CHECK(p != NULL && ((uintptr_t)p & 4095) == 0);
    memset(p, 0xA5, 10000);
}

LK_FN void lose_valloc(void) {
    void *p = valloc(123);
    LK_CHECK(p != NULL && ((uintptr_t)p & 4095) == 0);
    memset(p, 0xA5, 123);
}

LK_FN void lose_big_alignment(void) {
    void *p = NULL;
    LK_CHECK(posix_memalign(&p, 1 << 20, 1000) == 0 && ((uintptr_t)p & ((1 << 20) - 1)) == 0);
    memset(p, 0xA5, 1000);
}

LK_FN void keep_aligned(void) {
    g_aligned = aligned_alloc(64, 64);
    LK_CHECK(g_aligned != NULL && ((uintptr_t)g_aligned & 63) == 0);
    memset(g_aligned, 0xA5, 64);
}

int main(void) {
    lose_posix_memalign();
    lose_aligned_alloc();
    lose_memalign();
    lose_valloc();
    lose_big_alignment();
    keep_aligned();
    lk_scrub_stack();
    return 0;
}
