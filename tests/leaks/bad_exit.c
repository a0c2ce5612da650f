/* bad_exit.c — a program that loses a block and leaves with _exit(3): no atexit handler and no
 * destructor runs, so heapkit makes no leak report; the command must say so and exit 3. Valgrind
 * checks leaks at the exit_group system call and sees the lost block. */
#include <unistd.h>

#include "leak_util.h"

LK_FN void leak_before_exit(void) {
    void *volatile p = lk_alloc(72);
    p = NULL;
    (void)p;
}

int main(void) {
    leak_before_exit();
    lk_scrub_stack();
    _exit(3);
}
