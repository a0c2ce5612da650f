/* bad_exec.c — a program that loses two blocks and then replaces itself with /bin/true. The
 * image that leaked is gone without an exit, so its leaks are reported by no one; the process
 * (same pid) then runs /bin/true, still under the checker, whose own report at its exit is clean. */
#include <unistd.h>

#include "leak_util.h"

LK_FN void leak_before_exec(void) {
    for (int i = 0; i < 2; i++) {
        void *volatile p = lk_alloc(96);
        (void)p;
    }
}

int main(void) {
    leak_before_exec();
    lk_scrub_stack();
    execl("/bin/true", "true", (char *)NULL);
    perror("execl /bin/true");
    return 99;
}
