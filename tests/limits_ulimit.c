/* limits_ulimit.c — under an address-space limit (`ulimit -v`, RLIMIT_AS set before exec, so the
 * loader and the library's own load count too) a program must get at least 95% of the memory it
 * gets from glibc, with heapkit really loaded. For several limits and block sizes it runs itself
 * as a child that allocates blocks until malloc returns NULL (which must come with ENOMEM),
 * once without and once with LD_PRELOAD of the library given as argument, and compares the totals.
 * With HEAPKIT_LEAKS=1 under a limit, the leak check still reports a lost block with its stack.
 * Under a limit, blocks of ~100 KB have a mapping of their own and a bin in steady use gets pages
 * fitted to the size asked (src/core/fit.c): the fit child checks that these blocks behave as any
 * (realloc, calloc, aligned allocation, remote frees, the leak report, heap checking).
 * Usage: limits_ulimit LIBHEAPKIT.so (the test) | limits_ulimit grab|leak|fit ARG (the children). */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* The grab child: malloc(size) until NULL; prints the bytes obtained and whether heapkit served them.
 * Capped, so that a limit that does not bite cannot run the machine dry. */
#define GRAB_CAP ((size_t)2 << 30)
static int grab(size_t size) {
    size_t total = 0;
    void *prev = NULL;
    int err = 0;
    while (total < GRAB_CAP) {
        errno = 0;
        void **p = malloc(size);
        if (p == NULL) {
            err = errno;
            break;
        }
        *p = prev; /* keep them reachable: nothing is freed */
        prev = p;
        total += size;
    }
    printf("total %zu errno %d heapkit %d\n", total, err, dlsym(RTLD_DEFAULT, "hk_malloc") != NULL);
    return 0;
}

/* Run `self MODE ARG` under RLIMIT_AS = kb KiB, with LD_PRELOAD=lib if lib and `assign` (NAME=VALUE)
 * in its environment if given; what it wrote on stdout and stderr into out; its wait status. */
static int run_limited(const char *self, long kb, const char *lib, const char *assign, const char *mode,
                       const char *arg, char *out, size_t cap) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (lib) setenv("LD_PRELOAD", lib, 1);
        else unsetenv("LD_PRELOAD");
        if (assign) putenv((char *)assign);
        struct rlimit rl = {(rlim_t)kb << 10, (rlim_t)kb << 10};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(120);
        execl(self, self, mode, arg, (char *)NULL);
        _exit(121);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    return st;
}

/* Run `self grab size` under RLIMIT_AS = kb KiB, with LD_PRELOAD=lib if lib; the child's totals. */
static bool run_child(const char *self, long kb, size_t size, const char *lib, size_t *total, int *err,
                      int *heapkit) {
    char num[32], out[256];
    snprintf(num, sizeof num, "%zu", size);
    int st = run_limited(self, kb, lib, NULL, "grab", num, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || sscanf(out, "total %zu errno %d heapkit %d", total, err, heapkit) != 3) {
        hkt_fail(__FILE__, __LINE__, "limit %ld KiB, size %zu, %s: the child failed (status %#x): %s", kb, size,
                 lib ? "heapkit" : "glibc", st, out);
        return false;
    }
    return true;
}

/* The leak check's child: 16 MiB in use, one block of 4242 bytes lost from a function of its own. */
static void *volatile lost;
static void **volatile kept;
static __attribute__((noinline)) void lose_a_block(void) { lost = malloc(4242); }

static int leak(void) {
    for (int i = 0; i < 256; i++) {
        void **p = malloc(64 << 10);
        if (p == NULL) return 3;
        *p = kept;
        kept = p;
    }
    lose_a_block();
    lost = NULL;
    return 0;
}

/* HEAPKIT_LEAKS=1 under a limit: the tracker's records and the stacks fit, and the report names the
 * lost block with its allocation stack (the plain report has no names of the test's static functions). */
static void check_leaks_under(const char *self, const char *lib, long kb) {
    static char out[1 << 16];
    int st = run_limited(self, kb, lib, "HEAPKIT_LEAKS=1", "leak", "0", out, sizeof out);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "leaks under %ld KiB: child status %#x:\n%.3000s", kb, st, out);
    CHECKF(strstr(out, "4,242 bytes in 1 block") != NULL || strstr(out, "4242 bytes in 1 block") != NULL,
           "leaks under %ld KiB: the lost block is not reported:\n%.3000s", kb, out);
    CHECKF(strstr(out, "#1 ") != NULL, "leaks under %ld KiB: no allocation stack:\n%.3000s", kb, out);
    CHECKF(strstr(out, "cannot") == NULL, "leaks under %ld KiB: something could not be done:\n%.3000s", kb, out);
}

/* The fit child: a 100,000-byte block under a limit takes less than its size class (104,848
 * bytes: a 512 KiB page split in 5) and is an ordinary block for every call; one is lost. */
#define FIT_SIZE 100000
#define FIT_CLASS 104848
static __attribute__((noinline)) void lose_a_fitted_block(void) { lost = malloc(FIT_SIZE); }

static bool filled(const unsigned char *p, size_t n, unsigned char c) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != c) return false;
    return true;
}

/* Fitted pages: past the first pages of its class, a bin in steady use gets pages whose blocks
 * are the size asked (4,000 bytes, not the class's 4,096); then sizes of the same bin, bigger and
 * smaller, some blocks freed by another thread, contents checked all along. */
#define FIT_COUNT 900
static unsigned char *fit_blocks[FIT_COUNT];
static size_t fit_sizes[FIT_COUNT];

static void *free_every_third(void *arg) {
    (void)arg;
    for (size_t i = 1; i < FIT_COUNT; i += 3) {
        free(fit_blocks[i]);
        fit_blocks[i] = NULL;
    }
    return NULL;
}

static bool fitted_pages(void) {
    for (size_t i = 0; i < FIT_COUNT; i++) {
        fit_sizes[i] = 4000;
        if ((fit_blocks[i] = malloc(4000)) == NULL) return false;
        memset(fit_blocks[i], (int)(i & 0xff), 4000);
    }
    if (getenv("HEAPKIT_CHECK") == NULL && malloc_usable_size(fit_blocks[FIT_COUNT - 1]) != 4000) {
        printf("4000-byte block: usable size %zu\n", malloc_usable_size(fit_blocks[FIT_COUNT - 1]));
        return false;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, free_every_third, NULL) != 0 || pthread_join(t, NULL) != 0) return false;
    for (size_t i = 0; i < FIT_COUNT; i += 3) { /* 3,600 to 4,080 bytes: all of the 4,096 class */
        free(fit_blocks[i]);
        fit_sizes[i] = 3600 + (i % 5) * 120;
        if ((fit_blocks[i] = malloc(fit_sizes[i])) == NULL) return false;
        memset(fit_blocks[i], (int)(i & 0xff), fit_sizes[i]);
    }
    for (size_t i = 0; i < FIT_COUNT; i++) {
        if (fit_blocks[i] != NULL && !filled(fit_blocks[i], fit_sizes[i], (unsigned char)(i & 0xff))) {
            printf("block %zu of %zu bytes overwritten\n", i, fit_sizes[i]);
            return false;
        }
        free(fit_blocks[i]);
    }
    return true;
}

static int fit(void) {
    unsigned char *a = malloc(FIT_SIZE);
    if (a == NULL) return 2;
    size_t usable = malloc_usable_size(a);
    if (usable < FIT_SIZE || (getenv("HEAPKIT_CHECK") == NULL && usable >= FIT_CLASS)) {
        printf("usable size %zu\n", usable);
        return 3;
    }
    memset(a, 0xab, FIT_SIZE);
    unsigned char *b = realloc(a, FIT_SIZE + 20000); /* grows: moved or in place, contents kept */
    if (b == NULL || !filled(b, FIT_SIZE, 0xab)) return 4;
    memset(b, 0xcd, FIT_SIZE + 20000);
    a = realloc(b, 40000); /* shrinks to a small part: a new block */
    if (a == NULL || !filled(a, 40000, 0xcd)) return 5;
    free(a);
    for (int i = 0; i < 4; i++) { /* a freed, written block reused by calloc reads zero */
        a = malloc(FIT_SIZE);
        if (a == NULL) return 6;
        memset(a, 0xef, FIT_SIZE);
        free(a);
        a = calloc(1, FIT_SIZE);
        if (a == NULL || !filled(a, FIT_SIZE, 0)) return 7;
        free(a);
    }
    static const size_t aligns[] = {512, 4096, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *p = aligned_alloc(aligns[i], FIT_SIZE);
        if (p == NULL || ((uintptr_t)p & (aligns[i] - 1)) != 0) return 8;
        memset(p, 1, FIT_SIZE);
        void *q = NULL;
        if (posix_memalign(&q, aligns[i], 40000) != 0 || ((uintptr_t)q & (aligns[i] - 1)) != 0) return 9;
        memset(q, 2, 40000);
        free(p);
        free(q);
    }
    if (!fitted_pages()) return 10;
    lose_a_fitted_block();
    lost = NULL;
    printf("fit ok\n");
    return 0;
}

/* The fit child under a limit, as it is and with HEAPKIT_LEAKS=1 (the lost block is reported with
 * its stack) and HEAPKIT_CHECK=1 (heap checking wraps the blocks; nothing is reported). */
static void check_fit_under(const char *self, const char *lib, long kb) {
    static char out[1 << 16];
    static const char *const envs[] = {NULL, "HEAPKIT_LEAKS=1", "HEAPKIT_CHECK=1"};
    for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++) {
        const char *env = envs[e] ? envs[e] : "(plain)";
        int st = run_limited(self, kb, lib, envs[e], "fit", "0", out, sizeof out);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fit under %ld KiB, %s: child status %#x:\n%.3000s", kb, env,
               st, out);
        CHECKF(strstr(out, "fit ok") != NULL, "fit under %ld KiB, %s: no 'fit ok':\n%.3000s", kb, env, out);
        if (e == 1) {
            CHECKF(strstr(out, "100,000 bytes in 1 block") != NULL || strstr(out, "100000 bytes in 1 block") != NULL,
                   "fit under %ld KiB: the lost block is not reported:\n%.3000s", kb, out);
            CHECKF(strstr(out, "#1 ") != NULL, "fit under %ld KiB: no allocation stack:\n%.3000s", kb, out);
        }
        if (e == 2) CHECKF(strstr(out, "heapkit:") == NULL, "fit under %ld KiB, %s: a report:\n%.3000s", kb, env, out);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "grab") == 0) return grab((size_t)strtoull(argv[2], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "leak") == 0) return leak();
    if (argc == 3 && strcmp(argv[1], "fit") == 0) return fit();
    hkt_begin("limits_ulimit", 280);
    REQUIRE(argc == 2);
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(len > 0);
    self[len] = '\0';
    static const long limits_kb[] = {20000, 40000, 100000, 200000, 400000};
    static const size_t sizes[] = {64, 4000, 100000, (size_t)1 << 20};
    for (size_t l = 0; l < sizeof limits_kb / sizeof limits_kb[0]; l++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t g, h;
            int ge, he, gh, hh;
            if (!run_child(self, limits_kb[l], sizes[s], NULL, &g, &ge, &gh)) continue;
            if (!run_child(self, limits_kb[l], sizes[s], argv[1], &h, &he, &hh)) continue;
            printf("limit %6ld KiB, blocks of %7zu: glibc %4zu MiB, heapkit %4zu MiB (%3zu%%)\n", limits_kb[l], sizes[s],
                   g >> 20, h >> 20, g ? h * 100 / g : 0);
            CHECKF(!gh, "the glibc run has heapkit loaded");
            CHECKF(hh, "limit %ld KiB: heapkit was not loaded in the child (the loader dropped the preload)",
                   limits_kb[l]);
            CHECKF(he == ENOMEM, "limit %ld KiB, size %zu: heapkit's malloc failed with errno %d, want ENOMEM",
                   limits_kb[l], sizes[s], he);
            /* The goal, 95% of glibc, holds at every limit and size: at 20 MB only since libunwind
             * and liblzma are no longer mapped into every process (~300 KB, 1.5% of the limit). */
            const unsigned floor = 95;
            CHECKF(h >= g / 100 * floor, "limit %ld KiB, blocks of %zu: heapkit gave %zu bytes, glibc %zu: under %u%%",
                   limits_kb[l], sizes[s], h, g, floor);
        }
    }
    for (long kb = 100000; kb <= 400000; kb *= 2) check_leaks_under(self, argv[1], kb);
    check_fit_under(self, argv[1], 100000);
    return hkt_done();
}
