/* std_sampled_exit.c — the sampled guard mode must stay cheap for a process that starts and exits,
 * as the many short processes of a build or a script do. A program run with HEAPKIT_SAMPLE_GUARD
 * pays for its guard table: its exit scan used to read an 8 MiB table whole, about 2,000 page faults
 * in every process (a run of python3 that starts 40 processes paid 85,000 more faults than plain).
 * Here /bin/true runs under heapkit with and without sampling, and its minor faults must stay
 * within a few hundred of each other. */
#define _GNU_SOURCE
#include "hkt.h"

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
    hkt_begin("std_sampled_exit", 120);
    hkt_check_running_on_heapkit();
    long plain = faults_of_true(NULL), sampled = faults_of_true("HEAPKIT_SAMPLE_GUARD=1000");
    for (int i = 0; i < 2; i++) { /* the smallest of three runs each: other processes' noise only adds */
        long p = faults_of_true(NULL), s = faults_of_true("HEAPKIT_SAMPLE_GUARD=1000");
        if (p < plain) plain = p;
        if (s < sampled) sampled = s;
    }
    hkt_note("/bin/true: %ld minor faults plain, %ld with HEAPKIT_SAMPLE_GUARD=1000", plain, sampled);
    CHECKF(sampled <= plain + 512, "sampled guard mode costs %ld page faults at start and exit (plain %ld)",
           sampled - plain, plain);
    return hkt_done();
}
