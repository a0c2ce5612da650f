/* profile_prog.c — programs with known allocation patterns for the heap profile tests
 * (test-profile.py): every site is a function of its own, so the symbolized profile names it.
 * Built against glibc, never linked with heapkit; `heapkit run --profile` brings heapkit in.
 *   pattern   the exact-mode pattern: see below for the numbers each site must show
 *   sampled   many blocks of known sizes, for the sampled mode's estimates
 *   dump      hk_profile_dump() (found with dlsym), twice, with growth between
 *   fork      a child allocates and exits; the parent allocates too
 *   signal    raises HEAPKIT_PROFILE_SIGNAL's signal, waits for the profile, then exits
 *   tiny      a heap that never holds more than 7000 bytes: 5000 and 2000 live at its peak
 *   handoff   one site allocated from and freed by three threads in turn (see below)
 *   freed     2000 blocks of 40 bytes, all but one freed: one live block left in their class */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MIB ((size_t)1 << 20)

/* Keeps the compiler from pairing away a malloc and its free. */
static void *volatile sink;

NOINLINE static void *site_big(size_t n) { return malloc(n); }         /* 10 x 1 MiB, all freed */
NOINLINE static void *site_kept(size_t n) { return malloc(n); }        /* 5 x 4000, 1 kept to the end */
NOINLINE static void site_temp(void) { sink = malloc(100); free(sink); } /* 1000 temporaries of 100 B */
NOINLINE static void *site_huge(size_t n) { return malloc(n); }        /* 3 x 3 MiB, freed */
NOINLINE static void *site_thread(size_t n) { return malloc(n); }      /* 7 x 2048 by a thread, freed by main */
NOINLINE static void *site_calloc(void) { return calloc(3, 1000); }     /* 1 x 3000, freed */

static void *thread_main(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 7; i++)
        out[i] = site_thread(2048);
    return NULL;
}

static int pattern(void)
{
    void *big[10], *kept[5], *threads[7];
    for (int i = 0; i < 10; i++) {
        big[i] = site_big(MIB);
        memset(big[i], 1, MIB);
    }
    for (int i = 0; i < 10; i++)
        free(big[i]);
    for (int i = 0; i < 1000; i++)
        site_temp();
    for (int i = 0; i < 5; i++)
        kept[i] = site_kept(4000);
    for (int i = 0; i < 4; i++)
        free(kept[i]);
    sink = kept[4]; /* still live at exit */
    void *huge[3];
    for (int i = 0; i < 3; i++)
        huge[i] = site_huge(3 * MIB);
    for (int i = 0; i < 3; i++)
        free(huge[i]);
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, threads) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    for (int i = 0; i < 7; i++)
        free(threads[i]);
    void *c = site_calloc();
    free(c);
    return 0;
}

NOINLINE static void *site_small(size_t n) { return malloc(n); } /* 200,000 x 256 B, kept */
NOINLINE static void *site_large(size_t n) { return malloc(n); } /* 20 x 1 MiB, kept */

static int sampled(void)
{
    enum { SMALL = 200000, LARGE = 20 };
    void **small = calloc(SMALL, sizeof *small), *large[LARGE];
    for (int i = 0; i < SMALL; i++)
        small[i] = site_small(256);
    for (int i = 0; i < LARGE; i++)
        large[i] = site_large(MIB);
    sink = small;
    sink = large[LARGE - 1];
    return 0; /* all still live at exit */
}

NOINLINE static void *site_grow(size_t n) { return malloc(n); }

static int dump(void)
{
    int (*profile_dump)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "hk_profile_dump");
    if (profile_dump == NULL) {
        fputs("profile_prog: hk_profile_dump not found (is heapkit preloaded?)\n", stderr);
        return 1;
    }
    void *a[64];
    for (int i = 0; i < 16; i++)
        a[i] = site_grow(10000);
    if (profile_dump() != 0)
        return 1;
    for (int i = 16; i < 64; i++)
        a[i] = site_grow(10000);
    if (profile_dump() != 0)
        return 1;
    sink = a[63];
    for (int i = 0; i < 64; i++)
        free(a[i]);
    return 0;
}

NOINLINE static void *site_child(size_t n) { return malloc(n); }
NOINLINE static void *site_parent(size_t n) { return malloc(n); }

static int forked(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        for (int i = 0; i < 11; i++)
            sink = site_child(500);
        exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    for (int i = 0; i < 13; i++)
        sink = site_parent(700);
    return 0;
}

/* Whether a profile of this process is in HEAPKIT_PROFILE_DIR, waiting for it up to 10 s. */
static bool profile_dumped(void)
{
    const char *dir = getenv("HEAPKIT_PROFILE_DIR");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "profile.%d.", (int)getpid());
    for (int tries = 0; dir != NULL && tries < 1000; tries++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        bool found = false;
        while (d != NULL && (e = readdir(d)) != NULL && !found)
            found = strncmp(e->d_name, prefix, strlen(prefix)) == 0;
        if (d != NULL)
            closedir(d);
        if (found)
            return true;
        usleep(10000);
    }
    return false;
}

static int signalled(void)
{
    const char *sig = getenv("PROFILE_PROG_SIGNAL");
    for (int i = 0; i < 9; i++)
        sink = site_grow(3000);
    if (sig != NULL && getenv("PROFILE_PROG_SIGNAL_PARENT") != NULL) { /* sent to `heapkit run` */
        if (kill(getppid(), atoi(sig)) != 0)
            return 1;
        return profile_dumped() ? 0 : 3;
    }
    if (sig == NULL || raise(atoi(sig)) != 0)
        return 1;
    usleep(500000); /* the profiler's thread writes it meanwhile */
    return 0;
}

NOINLINE static void *site_tiny_a(size_t n) { return malloc(n); }
NOINLINE static void *site_tiny_b(size_t n) { return malloc(n); }

static int tiny(void)
{
    void *a = site_tiny_b(2000), *b = site_tiny_a(5000);
    memset(a, 1, 2000);
    memset(b, 1, 5000);
    free(b);
    free(a);
    return 0;
}

/* handoff: one site's blocks allocated and freed by three threads, each counting into the same
 * site (a profiler that kept per-thread counters must still sum them, and the site's peak must be
 * the sum's). main allocates 3 blocks at site_shared;
 * thread A (run alone, then joined) allocates 4 and frees one of main's; thread B allocates 2 and
 * frees one of A's; main frees one of B's. Live bytes go 1001..3003, 7007 (A), 6006, 8008 (B's
 * second: the site's peak), 7007, 6006: 9 calls, 9009 bytes, 6 blocks and 6006 bytes live at exit.
 * Run with HEAPKIT_STACK_DEPTH=1, so that the three threads' calls are one site. */
NOINLINE static void *site_shared(void) { return malloc(1001); }

struct handoff_step {
    void **blocks;
    int first, count, free_index;
};

static void *handoff_thread(void *arg)
{
    struct handoff_step *step = arg;
    for (int i = 0; i < step->count; i++)
        step->blocks[step->first + i] = site_shared();
    free(step->blocks[step->free_index]);
    step->blocks[step->free_index] = NULL;
    return NULL;
}

static int handoff(void)
{
    static void *blocks[9];
    for (int i = 0; i < 3; i++)
        blocks[i] = site_shared();
    struct handoff_step a = {blocks, 3, 4, 0}, b = {blocks, 7, 2, 3};
    pthread_t t;
    if (pthread_create(&t, NULL, handoff_thread, &a) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    if (pthread_create(&t, NULL, handoff_thread, &b) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    free(blocks[7]);
    blocks[7] = NULL;
    sink = blocks;
    return 0; /* six blocks live at exit */
}

/* wrapped: two sites that allocate through the same chain of wrappers (as sqlite3Malloc or
 * PyMem_Malloc are), deeper than the text report's first frames: the report must show each site
 * far enough to tell them apart, and a third site, with nothing to be told apart from, by its
 * first frames only. The blocks stay live at exit: 3000, 7000 and 5000 bytes. */
NOINLINE static void *wrap_inner(size_t n) { return malloc(n); }
NOINLINE static void *wrap_middle(size_t n) { return wrap_inner(n); }
NOINLINE static void *wrap_outer(size_t n) { return wrap_middle(n); }
NOINLINE static void *site_wrapped_a(void) { return wrap_outer(3000); }
NOINLINE static void *site_wrapped_b(void) { return wrap_outer(7000); }
NOINLINE static void *site_unwrapped(void) { return malloc(5000); }

static int wrapped(void)
{
    static void *kept[3];
    kept[0] = site_wrapped_a();
    kept[1] = site_wrapped_b();
    kept[2] = site_unwrapped();
    sink = kept;
    return 0;
}

/* freed: under leak tracking alone the freed blocks keep their records; the statistics' internal
 * fragmentation must count the one live block only. */
static int freed(void)
{
    static void *blocks[2000];
    for (int i = 0; i < 2000; i++)
        blocks[i] = malloc(40);
    for (int i = 1; i < 2000; i++)
        free(blocks[i]);
    sink = blocks;
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "pattern";
    if (strcmp(mode, "pattern") == 0)
        return pattern();
    if (strcmp(mode, "sampled") == 0)
        return sampled();
    if (strcmp(mode, "dump") == 0)
        return dump();
    if (strcmp(mode, "fork") == 0)
        return forked();
    if (strcmp(mode, "signal") == 0)
        return signalled();
    if (strcmp(mode, "handoff") == 0)
        return handoff();
    if (strcmp(mode, "tiny") == 0)
        return tiny();
    if (strcmp(mode, "wrapped") == 0)
        return wrapped();
    if (strcmp(mode, "freed") == 0)
        return freed();
    fprintf(stderr, "profile_prog: unknown mode %s\n", mode);
    return 2;
}
