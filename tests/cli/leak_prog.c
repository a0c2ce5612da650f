/* leak_prog.c — the program the `heapkit` CLI leak tests run and symbolize (tests/cli_leaks).
 * `frames` prints known call sites (function, address relative to the load bias, source line)
 * so the test can write raw leak reports by hand; the other modes leak, crash, _exit, fork or
 * ask for checks, to drive `heapkit run --leaks` end to end. Built PIE, non-PIE and static
 * (LEAK_PROG_STATIC: without the dlsym of the check mode). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../leaks/leak_util.h" /* lk_scrub_stack */

#ifdef __clang__
#define NOINLINE __attribute__((noinline, used))
#else
#define NOINLINE __attribute__((noinline, noclone, used)) /* a clone would rename the function */
#endif
/* After a call, so the call stays a call (with a return address) and not a tail jump. */
#define NO_TAIL() __asm__ volatile("" ::: "memory")

struct site {
    const char *name;
    uintptr_t ret; /* return address of the call to capture() */
    int line, outer_line;
};
static struct site sites[8];
static int site_count;

NOINLINE static void capture(const char *name, int line, int outer_line)
{
    struct site *s = &sites[site_count++];
    s->name = name;
    s->ret = (uintptr_t)__builtin_return_address(0);
    s->line = line;
    s->outer_line = outer_line;
    NO_TAIL();
}

/* An ordinary function of the program. */
NOINLINE void make_node(void)
{
    capture("make_node", __LINE__, 0);
    NO_TAIL();
}

/* A call inlined into another function: two frames at one address. */
static inline __attribute__((always_inline)) void inl_helper(int outer_line)
{
    capture("inl_helper", __LINE__, outer_line);
}

NOINLINE void inl_outer(void)
{
    inl_helper(__LINE__);
    NO_TAIL();
}

/* Stand-ins for heapkit's own frames when it is linked statically: a hidden internal function
 * (local symbol) and a public entry point (global symbol). */
NOINLINE static void hk_fake_internal(void)
{
    capture("hk_fake_internal", __LINE__, 0);
    NO_TAIL();
}

NOINLINE void hk_fake_alloc(void)
{
    capture("hk_fake_alloc", __LINE__, 0);
    NO_TAIL();
}

static int find_bias(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uintptr_t *)arg = info->dlpi_addr; /* the first object is the program itself */
    return 1;
}

NOINLINE static void print_frames(void)
{
    make_node();
    inl_outer();
    hk_fake_internal();
    hk_fake_alloc();
    capture("print_frames", __LINE__, 0);
    uintptr_t bias = 0;
    dl_iterate_phdr(find_bias, &bias);
    for (int i = 0; i < site_count; i++)
        printf("%s %lx %d %d\n", sites[i].name, (unsigned long)(sites[i].ret - bias), sites[i].line,
               sites[i].outer_line);
}

/* Lost for good: the only pointer is dropped. */
NOINLINE static void leak_once(size_t size)
{
    char *volatile p = malloc(size);
    p[0] = 1;
    p = NULL; // cppcheck-suppress memleak ; lost on purpose
    NO_TAIL();
}

/* Waits until the library has written a complete report for this process's check `n`. */
static void wait_for_report(int n)
{
    const char *dir = getenv("HEAPKIT_LEAK_DIR");
    if (dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/leaks.%d.%d.raw", dir, (int)getpid(), n);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            char buf[256];
            int done = 0;
            while (fgets(buf, sizeof buf, f) != NULL)
                done = strcmp(buf, "end\n") == 0;
            fclose(f);
            if (done)
                return;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "leak_prog: no report %s\n", path);
    exit(98);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "frames") == 0) {
        print_frames();
        return 0;
    }
    if (strcmp(mode, "leak") == 0) {
        leak_once(100);
        lk_scrub_stack();
        return 0;
    }
    if (strcmp(mode, "clean") == 0) {
        free(malloc(10));
        return 0;
    }
    if (strcmp(mode, "_exit") == 0) {
        leak_once(100);
        lk_scrub_stack();
        _exit(0);
    }
    if (strcmp(mode, "fork_exit") == 0) { /* a child that leaves through _exit(7), reaped by its parent */
        pid_t pid = fork();
        if (pid == 0) {
            leak_once(100);
            _exit(7);
        }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : 1;
    }
    if (strcmp(mode, "segv") == 0) {
        leak_once(100);
        lk_scrub_stack();
        raise(SIGSEGV);
        return 1;
    }
    if (strcmp(mode, "fork") == 0) {
        leak_once(100);
        lk_scrub_stack();
        pid_t pid = fork();
        if (pid == 0) {
            leak_once(200);
            lk_scrub_stack();
            exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        return 0;
    }
    /* A forked child killed by SIGKILL: reaped by its parent with waitpid (forkkill) or waitid
     * (forkkill-waitid), or left a zombie for whoever inherits it, heapkit run as a subreaper
     * (orphankill). */
    if (strcmp(mode, "forkkill") == 0 || strcmp(mode, "forkkill-waitid") == 0 || strcmp(mode, "orphankill") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            leak_once(200);
            kill(getpid(), SIGKILL);
            for (;;)
                pause();
        }
        siginfo_t info;
        int status;
        if (strcmp(mode, "forkkill") == 0)
            waitpid(pid, &status, 0);
        else if (strcmp(mode, "forkkill-waitid") == 0)
            waitid(P_PID, (id_t)pid, &info, WEXITED);
        else
            waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
        return 0;
    }
#ifndef LEAK_PROG_STATIC
    if (strcmp(mode, "check") == 0) { /* an on-demand check through the API, then exit */
        int (*check)(void *) = (int (*)(void *))dlsym(RTLD_DEFAULT, "hk_leak_check");
        if (check == NULL)
            return 97;
        leak_once(100);
        lk_scrub_stack();
        check(NULL);
        leak_once(300);
        lk_scrub_stack();
        return 0;
    }
#endif
    if (strcmp(mode, "signal") == 0) { /* a check on HEAPKIT_LEAK_SIGNAL (argv[2], a number) */
        leak_once(100);
        lk_scrub_stack();
        raise(argc > 2 ? atoi(argv[2]) : SIGUSR2);
        wait_for_report(1);
        return 0;
    }
    fprintf(stderr, "usage: leak_prog frames|leak|clean|_exit|segv|fork|forkkill|orphankill|check|signal [SIG]\n");
    return 2;
}
