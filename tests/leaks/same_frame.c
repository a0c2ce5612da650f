/* same_frame.c — one allocating helper reached by two call chains whose frames sit at the same
 * stack addresses, taken in turn: the tracker's stack cache knows a stack by the frame address
 * of the capture and the return addresses in its slots, so a chain that differs only in an outer
 * frame must still get its own stack (red: 1000 x 40 bytes lost; blue: every other one of 1000
 * x 56 lost). green reallocates its block (in place or moved) through the same helper's frames,
 * so the realloc's capture, which the malloc hook's is not, is checked the same way. */
#include "leak_util.h"

LK_FN void *alloc_here(size_t n) { return lk_alloc(n); }

/* The same shape, so that each calls alloc_here from a frame of the same size. */
LK_FN void via_red(int i) {
    void *volatile p = alloc_here(40);
    (void)p;
    (void)i;
}

LK_FN void via_blue(int i) {
    void *volatile p = alloc_here(56);
    if (i % 2 == 0) free(p);
}

LK_FN void via_green(int i) {
    void *volatile p = alloc_here(24);
    p = realloc(p, 32 + (size_t)(i % 2) * 200);
    LK_CHECK(p != NULL);
}

int main(void) {
    for (int i = 0; i < 1000; i++) {
        via_red(i);
        via_blue(i);
        if (i < 300) via_green(i);
    }
    lk_scrub_stack();
    return 0;
}
