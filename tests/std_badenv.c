/* std_badenv.c — a bad HEAPKIT_* value is reported on stderr by name and the program still runs;
 * a good value is accepted silently; HEAPKIT_STATS=1 prints the report at exit. Runs itself as a
 * child with the variable set. */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/wait.h>

static int child(void) {
    /* the allocator must work normally after rejecting the value */
    for (int i = 0; i < 10000; i++) {
        char *p = malloc((size_t)(i % 3000) + 1);
        if (!p) return 2;
        p[0] = 1;
        free(p);
    }
    void *big = malloc((size_t)20 << 20);
    if (!big) return 3;
    free(big);
    printf("child ran to the end\n");
    return 0;
}

static void run_with(const char *assign, bool bad) {
    static char out[1 << 14];
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, assign, 30, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] child status %#x; output:\n%s", assign, st, out);
    CHECKF(strstr(out, "child ran to the end") != NULL, "[%s] child did not run to the end; output:\n%s", assign, out);
    if (bad)
        CHECKF(strstr(out, "HEAPKIT_PURGE_DELAY") != NULL,
               "[%s] no message naming HEAPKIT_PURGE_DELAY on stderr; output:\n%s", assign, out);
    else
        CHECKF(strstr(out, "HEAPKIT_PURGE_DELAY") == NULL, "[%s] a valid value was complained about:\n%s", assign,
               out);
}

/* HEAPKIT_STATS=1: the statistics report appears when the program exits. */
static void stats_at_exit(void) {
    static char out[1 << 16];
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, "HEAPKIT_STATS=1", 30, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "[HEAPKIT_STATS=1] child status %#x", st);
    const char *end = strstr(out, "child ran to the end");
    CHECKF(end != NULL, "[HEAPKIT_STATS=1] child did not run; output:\n%s", out);
    CHECKF(strstr(out, "reserved") || strstr(out, "Reserved") || strstr(out, "RESERVED"),
           "[HEAPKIT_STATS=1] no statistics report (with \"reserved\") at exit:\n%.2000s", out);
    /* without the variable there is no report */
    unsetenv("HEAPKIT_STATS");
    int st2 = hkt_run_self(args, NULL, 30, out, sizeof out);
    CHECK(st2 != -1 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
    CHECKF(strstr(out, "reserved") == NULL, "a report was printed without HEAPKIT_STATS:\n%.500s", out);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    hkt_begin("std_badenv", 120);
    hkt_check_running_on_heapkit();
    run_with("HEAPKIT_PURGE_DELAY=banana", true);
    run_with("HEAPKIT_PURGE_DELAY=12abc", true);
    run_with("HEAPKIT_PURGE_DELAY=0", false);
    stats_at_exit();
    return hkt_done();
}
