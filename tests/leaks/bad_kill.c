/* bad_kill.c — a program that loses a block and kills itself with SIGKILL: nothing can run, so
 * there is no leak report, from heapkit or from Valgrind; the command must say so and exit 137. */
#include <signal.h>
#include <unistd.h>

#include "leak_util.h"

LK_FN void leak_before_kill(void) {
    void *volatile p = lk_alloc(80);
    p = NULL;
    (void)p;
}

int main(void) {
    leak_before_kill();
    lk_scrub_stack();
    kill(getpid(), SIGKILL);
    for (;;) pause();
}
