/* std_leak_signal_exit.c — a block a HEAPKIT_LEAK_SIGNAL check reported definitely lost is not
 * listed again by the exit check: nothing the checker thread kept of that check (its stack, its
 * registers) may count as a root later. Runs itself as a child with HEAPKIT_LEAKS=1,
 * HEAPKIT_LEAK_SIGNAL=USR2 and a private HEAPKIT_LEAK_DIR; the child leaks, signals itself, waits
 * for the report and exits; the exit report must not name the leak's stack (in any kind). Three
 * rounds, as the fault showed every time. */
#define _GNU_SOURCE
#include "hkt.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEAK_BLOCKS 5
#define LEAK_SIZE 4321

static __attribute__((noinline)) void leak_some(void) {
    for (int i = 0; i < LEAK_BLOCKS; i++) {
        char *volatile p = malloc(LEAK_SIZE);
        memset(p, 1, LEAK_SIZE);
    }
}

static int child(const char *dir) {
    static char report[1 << 16];
    char path[4096];
    leak_some();
    hkt_scrub_stack();
    snprintf(path, sizeof path, "%s/leaks.%d.1.raw", dir, (int)getpid());
    if (kill(getpid(), SIGUSR2) != 0) return 2;
    if (!hkt_wait_report(path, report, sizeof report)) return 3;
    return 0; /* the exit check writes leaks.PID.2.raw */
}

/* The stack id of the definite group of LEAK_BLOCKS x LEAK_SIZE in a raw report, or NULL. */
static const char *leak_stack(const char *report, char *id, size_t cap) {
    char want[64];
    snprintf(want, sizeof want, "\t%d\t%d\t", LEAK_BLOCKS, LEAK_BLOCKS * LEAK_SIZE);
    for (const char *l = strstr(report, "leak\tdefinite\t"); l != NULL; l = strstr(l + 1, "leak\tdefinite\t")) {
        const char *s = l + strlen("leak\tdefinite\t");
        size_t n = strcspn(s, "\t");
        if (strncmp(s + n, want, strlen(want)) == 0 && n < cap) {
            memcpy(id, s, n);
            id[n] = '\0';
            return id;
        }
    }
    return NULL;
}

static void round_once(int round) {
    char dir[] = "/tmp/hkt-leak-signal-exit.XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    static char env[4200], out[1 << 14], first[1 << 16], last[1 << 16];
    snprintf(env, sizeof env, "HEAPKIT_LEAK_DIR=%s", dir);
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, dir, NULL};
    int st = hkt_run_self(args, env, 30, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d: child status %#x; output:\n%s", round, st,
           out);
    char path[4200], *pid_end;
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls %s", dir);
    FILE *ls = popen(cmd, "r");
    REQUIRE(ls != NULL);
    char name[256];
    int pid = 0;
    while (fgets(name, sizeof name, ls) != NULL)
        if (strncmp(name, "leaks.", 6) == 0) pid = (int)strtol(name + 6, &pid_end, 10);
    pclose(ls);
    CHECKF(pid > 0, "round %d: no report in %s", round, dir);
    snprintf(path, sizeof path, "%s/leaks.%d.1.raw", dir, pid);
    CHECKF(hkt_wait_report(path, first, sizeof first), "round %d: no signal report %s", round, path);
    snprintf(path, sizeof path, "%s/leaks.%d.2.raw", dir, pid);
    CHECKF(hkt_wait_report(path, last, sizeof last), "round %d: no exit report %s", round, path);
    char id[32];
    CHECKF(leak_stack(first, id, sizeof id) != NULL, "round %d: the signal check did not report the %d lost blocks:\n%s",
           round, LEAK_BLOCKS, first);
    if (leak_stack(first, id, sizeof id) != NULL) {
        char needle[64];
        for (const char *kind = "definite\0indirect\0possible\0reachable\0"; *kind; kind += strlen(kind) + 1) {
            snprintf(needle, sizeof needle, "leak\t%s\t%s\t", kind, id);
            CHECKF(strstr(last, needle) == NULL,
                   "round %d: the exit check lists the blocks reported at the signal again (%s):\n%s", round, kind,
                   last);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("std_leak_signal_exit", 120);
    hkt_check_running_on_heapkit();
    for (int round = 1; round <= 3; round++) round_once(round);
    return hkt_done();
}
