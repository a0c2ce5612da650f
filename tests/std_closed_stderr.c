/* std_closed_stderr.c — the exit reports (HEAPKIT_STATS=1, and the plain leak report of
 * HEAPKIT_LEAKS=1 without HEAPKIT_LEAK_DIR) reach the stderr the program started with even when
 * the program closes stdout and stderr before it exits, as every GNU coreutil does (their
 * close_stdout). Runs itself as a child with each variable set and reads what it wrote. The plain
 * leak report's wording is checked on the way: a singular is singular ("1 byte in 1 block is"),
 * the library's own leak-signal thread is not counted among the threads stopped, and frame #0 is
 * the allocation call (malloc). A message about a misuse made after stderr was closed (a free of a
 * pointer heapkit never gave out) reaches the same place, and never a file the program opened
 * after closing every fd it did not open. */
#define _GNU_SOURCE
#include "hkt.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile lost; /* overwritten: every block is definitely lost */

static __attribute__((noinline)) void lose_one_byte(void) { lost = malloc(1); }

/* A daemon's habit: close every fd it did not open, then open a file that may get the number of
 * heapkit's duplicate of stderr. A message must not be written into that file. */
static int child_reusing_fds(void) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
    char path[] = "/tmp/hkt_reuse_XXXXXX";
    int file = mkstemp(path);
    if (file < 0) return 5;
    unlink(path);
    int high = fcntl(file, F_DUPFD, 100); /* the lowest free number from 100: the one heapkit had */
    if (high < 0) return 6;
    static long not_from_malloc[4];
    free(&not_from_malloc[2]);
    char text[4096] = {0};
    ssize_t n = pread(high, text, sizeof text - 1, 0);
    if (n != 0) {
        printf("the program's file (fd %d) got: %s\n", high, n > 0 ? text : "(unreadable)");
        return 4;
    }
    printf("child ran to the end\n");
    return 0;
}

static int child(void) {
    if (getenv("REUSE_FDS") != NULL) return child_reusing_fds();
    for (int i = 0; i < 3; i++) lost = malloc(4242);
    lose_one_byte();
    lost = NULL;
    printf("child ran to the end\n");
    if (fclose(stdout) != 0) return 2;
    if (fclose(stderr) != 0) return 3; /* fd 2 is closed now: a report written there is lost (EBADF) */
    if (getenv("BAD_FREE") != NULL) {
        static long not_from_malloc[4];
        free(&not_from_malloc[2]);
    }
    return 0;
}

static void run_with(const char *assign, const char *expect) {
    static char out[1 << 16];
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, assign, 60, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] child status %#x; output:\n%s", assign, st, out);
    CHECKF(strstr(out, "child ran to the end") != NULL, "[%s] child did not run; output:\n%s", assign, out);
    CHECKF(strstr(out, expect) != NULL, "[%s] no \"%s\" in what the child wrote before and after closing stderr:\n%.3000s",
           assign, expect, out);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    hkt_begin("std_closed_stderr", 120);
    hkt_check_running_on_heapkit();
    unsetenv("HEAPKIT_LEAK_DIR");
    run_with("HEAPKIT_STATS=1", "reserved");
    run_with("HEAPKIT_LEAKS=1", "LEAK SUMMARY");
    run_with("HEAPKIT_LEAKS=1", "12726 bytes in 3 blocks are definitely lost");
    run_with("HEAPKIT_LEAKS=1", "1 byte in 1 block is definitely lost");
    run_with("HEAPKIT_LEAKS=1", "definitely lost: 12727 bytes in 4 blocks");
    /* frame #0 is the allocation call itself, by its standard name */
    run_with("HEAPKIT_LEAKS=1", "#0 malloc (libheapkit.so");
    /* the checker thread of HEAPKIT_LEAK_SIGNAL is the library's, not one of the program's */
    setenv("HEAPKIT_LEAK_SIGNAL", "USR2", 1);
    run_with("HEAPKIT_LEAKS=1", "(0 threads stopped)");
    unsetenv("HEAPKIT_LEAK_SIGNAL");
    /* a message, not only a report: the bad free is named though fd 2 is closed */
    setenv("BAD_FREE", "1", 1);
    run_with("HEAPKIT_STATS=0", "heapkit: free(");
    unsetenv("BAD_FREE");
    /* and not into a file of the program's that took the duplicate's number */
    setenv("REUSE_FDS", "1", 1);
    run_with("HEAPKIT_STATS=0", "heapkit: free(");
    unsetenv("REUSE_FDS");
    return hkt_done();
}
