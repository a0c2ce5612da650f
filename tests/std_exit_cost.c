/* std_exit_cost.c — a debug mode switched on must stay cheap for a process that starts and exits,
 * as the many short processes of a build or a script do. /bin/true runs under heapkit plain, with
 * HEAPKIT_SAMPLE_GUARD and with HEAPKIT_LEAKS, and its minor page faults must stay within a few
 * hundred of the plain run's. They did not: the sampled mode's exit scan read its 8 MiB guard table
 * whole (~2,100 faults in every process: 85,000 in a python3 run that starts 40), and the leak
 * check cleared all 65,536 slots of the stopped-thread table and zeroed its scratch before use
 * (~830 faults, 2.5 MiB more peak RSS for a 4 MiB program). */
#define _GNU_SOURCE
#include "hkt.h"

#include <limits.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Minor page faults of one run of /bin/true with the environment extra (NULL: none) added. */
static long faults_of_true(const char *extra) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (extra != NULL) putenv((char *)extra);
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    REQUIRE(wait4(pid, &status, 0, &ru) == pid);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return ru.ru_minflt;
}

int main(void) {
    hkt_begin("std_exit_cost", 120);
    hkt_check_running_on_heapkit();
    static const char *const modes[] = {"HEAPKIT_SAMPLE_GUARD=1000", "HEAPKIT_LEAKS=1"};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        long plain = LONG_MAX, mode = LONG_MAX;
        for (int i = 0; i < 3; i++) { /* the smallest of three runs each: other processes' noise only adds */
            long p = faults_of_true(NULL), f = faults_of_true(modes[m]);
            if (p < plain) plain = p;
            if (f < mode) mode = f;
        }
        hkt_note("/bin/true: %ld minor faults plain, %ld with %s", plain, mode, modes[m]);
        CHECKF(mode <= plain + 512, "%s costs %ld page faults at start and exit (plain %ld)", modes[m], mode - plain,
               plain);
    }
    return hkt_done();
}
