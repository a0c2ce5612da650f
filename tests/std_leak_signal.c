/* std_leak_signal.c — HEAPKIT_LEAK_SIGNAL=USR2 with HEAPKIT_LEAK_DIR: a long-running program
 * leaks, is sent the signal, and the library's checker thread writes a raw report (reason
 * "signal") naming the new leak; a second signal reports nothing new. The program keeps running
 * meanwhile (it sleeps in a loop, as a server would wait). */
#include "hkt.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static __attribute__((noinline)) void leak_some(void) {
    for (int i = 0; i < 7; i++) {
        char *volatile p = malloc(96);
        memset(p, 1, 96);
    }
}

int main(void) {
    hkt_begin("std_leak_signal", 60);
    const char *dir = getenv("HEAPKIT_LEAK_DIR");
    REQUIRE(dir != NULL);
    leak_some();
    hkt_scrub_stack();
    static char report[1 << 16];
    char path[4096];

    snprintf(path, sizeof path, "%s/leaks.%d.1.raw", dir, (int)getpid());
    unlink(path);
    REQUIRE(kill(getpid(), SIGUSR2) == 0);
    CHECKF(hkt_wait_report(path, report, sizeof report), "no complete report at %s", path);
    CHECKF(strstr(report, "check\t1\tsignal\n") != NULL, "first report is not a signal check:\n%s", report);
    CHECKF(strstr(report, "summary\tdefinite\t7\t672\n") != NULL, "first report lacks 7 blocks / 672 bytes:\n%s",
           report);
    CHECKF(strstr(report, "leak\tdefinite\t") != NULL, "first report lists no leak group:\n%s", report);

    snprintf(path, sizeof path, "%s/leaks.%d.2.raw", dir, (int)getpid());
    unlink(path);
    REQUIRE(kill(getpid(), SIGUSR2) == 0);
    CHECKF(hkt_wait_report(path, report, sizeof report), "no complete second report at %s", path);
    CHECKF(strstr(report, "summary\tdefinite\t0\t0\n") != NULL, "second report is not empty of new leaks:\n%s",
           report);
    return hkt_done();
}
