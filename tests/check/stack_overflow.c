/* stack_overflow.c — unbounded recursion runs the main thread into its stack guard. With a
 * guard mode's fault handler the fault is reported as a stack overflow; the program still dies
 * of SIGSEGV. */
#include "check_util.h"

CK_FN static int recurse(volatile char *prev, int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[511] = prev != NULL ? prev[0] : 0;
    if (depth == -1) return 0; /* never: the recursion has no end the compiler can see */
    return recurse(frame, depth + 1) + frame[1];
}

int main(void) {
    return recurse(NULL, 0);
}
