/* check_util.h — what the heap-bug corpus programs share: functions kept out of line so each
 * stack names the function the .expect file names, and pointers the compiler cannot see through
 * (a store to a block just freed, or one past its end, would otherwise be dropped), and the
 * recursion that overflows a stack. */
#ifndef CHECK_UTIL_H
#define CHECK_UTIL_H

#include <stddef.h>

#define CK_FN __attribute__((noinline, noclone, used))

/* Hides a pointer from the optimizer: what it points to may be read or written anywhere. */
static inline void *ck_launder(void *p) {
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

/* Recursion with no end the compiler can see, 512 bytes a frame: runs the calling thread into its
 * stack guard page (the stack-overflow programs). */
CK_FN static int ck_descend(volatile char *prev, int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[511] = prev != NULL ? prev[0] : 0;
    if (depth == -1) return 0; /* never */
    return ck_descend(frame, depth + 1) + frame[1];
}

#endif
