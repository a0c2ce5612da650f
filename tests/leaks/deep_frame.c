/* deep_frame.c — two pairs of call chains that sit at the same stack addresses and share every
 * frame but one deep in the stack, taken in turn: the tracker's stack cache knows a stack by the
 * frame address of the capture and the return addresses in its slots, compared in fours, so a
 * chain that differs only in its 16th frame (the deepest one kept at the default
 * HEAPKIT_STACK_DEPTH, in the last four) or its 10th (a middle four) must still get its own
 * stack. a: 1000 x 40 lost; b: every other one of 1000 x 56; c: 1000 x 24; d: every other one of
 * 1000 x 72. The program checks that each pair did allocate from the same stack address (else
 * the test would test nothing). */
#include "leak_util.h"

static uintptr_t deepest; /* down's frame address at the bottom of the last chain */

/* n frames of its own above lk_alloc's, the same return addresses whoever called it */
LK_FN void *down(int n, size_t size) {
    if (n == 0) deepest = (uintptr_t)__builtin_frame_address(0);
    void *volatile p = n == 0 ? lk_alloc(size) : down(n - 1, size);
    return p;
}

/* The same shape, so that each calls down from a frame of the same size: frames #1 in lk_alloc,
 * #2-#15 in down, #16 here. */
LK_FN uintptr_t via_a(int i) {
    void *volatile p = down(13, 40);
    if (i < 0) free(p);
    return deepest;
}

LK_FN uintptr_t via_b(int i) {
    void *volatile p = down(13, 56);
    if (i % 2 == 0) free(p);
    return deepest;
}

/* Frames #1 in lk_alloc, #2-#9 in down, #10 here. */
LK_FN uintptr_t via_c(int i) {
    void *volatile p = down(7, 24);
    if (i < 0) free(p);
    return deepest;
}

LK_FN uintptr_t via_d(int i) {
    void *volatile p = down(7, 72);
    if (i % 2 == 0) free(p);
    return deepest;
}

int main(void) {
    for (int i = 0; i < 1000; i++) {
        uintptr_t a = via_a(i), b = via_b(i), c = via_c(i), d = via_d(i);
        LK_CHECK(a == b && c == d);
    }
    lk_scrub_stack();
    return 0;
}
