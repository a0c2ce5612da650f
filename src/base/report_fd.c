/* report_fd.c — where heapkit's reports and messages are written: a private, close-on-exec
 * duplicate of the stderr the program started with, taken when the library loads. Programs close
 * stderr before they exit (every GNU coreutil does) or point fd 2 elsewhere; the duplicate keeps
 * our output where the user expects it, as Valgrind's does. */
#include "base.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The duplicate of stderr for reports is taken at this fd or above: far from the low numbers
 * programs expect open() to hand out next, and below the smallest usual RLIMIT_NOFILE (1024). */
#define HK_REPORT_FD_MIN 100

static int hk_report_dup = -1;
static struct stat hk_report_file; /* what the duplicate refers to, to know it if the program reuses its number */

void hk_report_fd_take(void) {
    hk_report_dup = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, HK_REPORT_FD_MIN);
    if (hk_report_dup < 0) hk_report_dup = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (hk_report_dup >= 0 && fstat(hk_report_dup, &hk_report_file) != 0) hk_report_dup = -1;
}

/* A program may close every fd it did not open (daemons do) and open a file that gets our number:
 * writing a report into it would damage the program's data, so the duplicate is used only while it
 * is still the file it was. */
int hk_report_fd(void) {
    int fd = hk_report_dup;
    struct stat now;
    if (fd < 0 || fstat(fd, &now) != 0) return STDERR_FILENO;
    return now.st_dev == hk_report_file.st_dev && now.st_ino == hk_report_file.st_ino ? fd : STDERR_FILENO;
}
