/* bad_segv.c — a program that loses a block and then dies of SIGSEGV. No exit handler runs, so
 * heapkit makes no leak report; the command must say so (killed by signal 11) and exit 139.
 * Valgrind, which checks leaks even then, sees the lost block. */
#include <signal.h>

#include "leak_util.h"

LK_FN void leak_before_crash(void) {
    void *volatile p = lk_alloc(64);
    p = NULL;
    (void)p;
}

LK_FN void crash(void) {
    signal(SIGSEGV, SIG_DFL);
    volatile int *volatile nowhere = NULL;
    *nowhere = 1;
}

int main(void) {
    leak_before_crash();
    lk_scrub_stack();
    crash();
    return 0;
}
