/* std_environ_rewrite.c — a program that writes over its environment strings (as redis, nginx and
 * postgres do to show a process title over argv and environ) still gets its exit reports where
 * HEAPKIT_STATS_FILE and HEAPKIT_LEAK_DIR said when it started: the library keeps its own copies.
 * Runs itself as a child with both set, the child overwrites every byte of its environment strings
 * and exits; the parent looks for the statistics file and the raw leak report. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static void *volatile kept;

static int child(void) {
    kept = malloc(100);
    for (char **e = environ; *e != NULL; e++) memset(*e, 'Z', strlen(*e)); /* the title goes here */
    printf("child ran to the end\n");
    return 0;
}

static bool has_leak_report(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return false;
    bool found = false;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, "leaks.", 6) == 0) found = true;
    closedir(d);
    return found;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    hkt_begin("std_environ_rewrite", 120);
    hkt_check_running_on_heapkit();
    char dir[] = "/tmp/hkt_environ_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char stats[256], leaks[256];
    snprintf(stats, sizeof stats, "%s/stats.json", dir);
    snprintf(leaks, sizeof leaks, "%s/leaks", dir);
    REQUIRE(mkdir(leaks, 0700) == 0);
    setenv("HEAPKIT_STATS_FILE", stats, 1);
    setenv("HEAPKIT_LEAK_DIR", leaks, 1);
    static char out[1 << 14];
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, "HEAPKIT_LEAKS=1", 60, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "child ran to the end") != NULL,
           "child status %#x; output:\n%s", st, out);
    CHECKF(access(stats, F_OK) == 0, "no statistics at %s (HEAPKIT_STATS_FILE, read after the child rewrote its "
           "environment?); output:\n%s", stats, out);
    CHECKF(has_leak_report(leaks), "no raw leak report in %s (HEAPKIT_LEAK_DIR); output:\n%s", leaks, out);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return hkt_done();
}
