/* bad_exec_static.c — a program that loses a block and then replaces itself with a statically
 * linked program (/sbin/ldconfig --version, its output thrown away), which no preloaded library
 * reaches: the process exits 0 and nobody makes a leak report, so the command must say why. */
#include <fcntl.h>
#include <unistd.h>

#include "leak_util.h"

LK_FN void leak_before_exec(void) {
    void *volatile p = lk_alloc(88);
    p = NULL;
    (void)p;
}

int main(void) {
    leak_before_exec();
    lk_scrub_stack();
    int null = open("/dev/null", O_WRONLY);
    LK_CHECK(null >= 0 && dup2(null, 1) == 1);
    execl("/sbin/ldconfig", "ldconfig", "--version", (char *)NULL);
    perror("execl /sbin/ldconfig");
    return 99;
}
