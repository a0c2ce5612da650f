/* std_leak_thread_churn.c — leak tracking in a program that starts many short threads, as a server
 * that makes a thread per request does. An exited thread's stack cache is handed to the next
 * thread (track.c), which then hits entries another thread filled: the stacks must still be each
 * block's own (alternate threads leak from two functions at the same depth, and the report must
 * give each function exactly its threads' blocks), and tracking must not cost each thread a fresh
 * cache's page faults (it did: ~7 minor faults a thread, 7,000 more than the plain run here). Runs
 * itself as a child, with HEAPKIT_LEAKS=1 and without; the child is -rdynamic, so the plain report
 * names the two functions (dladdr). */
#define _GNU_SOURCE
#include "hkt.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 1000
#define SIZE_A 96
#define SIZE_B 208
#define TEMPS 24

void *volatile hkt_churn_sink;

/* Two allocation sites at the same depth, each called from the same place of the thread: their
 * stacks differ in the first frame only. */
__attribute__((noinline)) void *leak_site_a(size_t n) {
    void *p = malloc(n);
    hkt_churn_sink = p;
    return p;
}

__attribute__((noinline)) void *leak_site_b(size_t n) {
    void *p = malloc(n);
    hkt_churn_sink = p;
    return p;
}

static void *worker(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    void *(*site)(size_t) = i % 2 ? leak_site_b : leak_site_a;
    void *temps[TEMPS];
    for (int k = 0; k < TEMPS; k++) temps[k] = site(16 + (size_t)k * 8); /* freed below */
    for (int k = 0; k < TEMPS; k++) free(temps[k]);
    (void)site(i % 2 ? SIZE_B : SIZE_A); /* lost */
    hkt_churn_sink = NULL;
    return NULL;
}

static int child(void) {
    for (uintptr_t i = 0; i < THREADS; i += 2) {
        pthread_t t[2];
        for (int j = 0; j < 2; j++)
            if (pthread_create(&t[j], NULL, worker, (void *)(i + (uintptr_t)j)) != 0) return 2;
        for (int j = 0; j < 2; j++) pthread_join(t[j], NULL);
    }
    return 0;
}

/* Minor page faults of one run of the child with the environment extra (NULL: none) added. */
static long child_faults(const char *extra) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (extra != NULL) putenv((char *)extra);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/proc/self/exe", program_invocation_name, "child", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    REQUIRE(wait4(pid, &status, 0, &ru) == pid);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return ru.ru_minflt;
}

/* The group of the report whose first program frame is `site`: its line, or NULL. */
static const char *group_of(const char *report, const char *site) {
    char frame[64];
    snprintf(frame, sizeof frame, "#1 %s+", site);
    const char *f = strstr(report, frame);
    if (f == NULL) return NULL;
    const char *g = f;
    while (g > report && strncmp(g, " bytes in ", 10) != 0) g--;
    while (g > report && g[-1] != '\n') g--;
    return g;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    hkt_begin("std_leak_thread_churn", 240);
    hkt_check_running_on_heapkit();

    static char out[1 << 16];
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, "HEAPKIT_LEAKS=1", 120, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x; output:\n%s", st, out);
    static const struct {
        const char *site;
        size_t size;
    } sites[] = {{"leak_site_a", SIZE_A}, {"leak_site_b", SIZE_B}};
    for (size_t s = 0; s < 2; s++) {
        char want[96];
        snprintf(want, sizeof want, "%zu bytes in %d blocks are definitely lost", sites[s].size * (THREADS / 2),
                 THREADS / 2);
        const char *g = group_of(out, sites[s].site);
        CHECKF(g != NULL && strncmp(strstr(g, "== ") ? strstr(g, "== ") + 3 : g, want, strlen(want)) == 0,
               "the leaks of %s: want \"%s\"; report:\n%s", sites[s].site, want, out);
    }
    CHECKF(strstr(out, "definitely lost: 152000 bytes in 1000 blocks") != NULL, "the summary; report:\n%s", out);

    long plain = LONG_MAX, tracked = LONG_MAX;
    for (int i = 0; i < 3; i++) { /* the smallest of three runs each: other processes' noise only adds */
        long p = child_faults(NULL), t = child_faults("HEAPKIT_LEAKS=1");
        if (p < plain) plain = p;
        if (t < tracked) tracked = t;
    }
    hkt_note("%d short threads: %ld minor faults plain, %ld with HEAPKIT_LEAKS=1", THREADS, plain, tracked);
    CHECKF(tracked <= plain + THREADS, "leak tracking costs %ld page faults for %d threads (plain %ld)", tracked - plain,
           THREADS, plain);
    return hkt_done();
}
