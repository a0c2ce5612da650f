/* stack_overflow.c — unbounded recursion runs the main thread into its stack guard. With a
 * guard mode's fault handler the fault is reported as a stack overflow; the program still dies
 * of SIGSEGV. */
#include "check_util.h"

int main(void) {
    return ck_descend(NULL, 0);
}
