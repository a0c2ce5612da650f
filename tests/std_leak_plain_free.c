/* std_leak_plain_free.c — leak tracking alone (HEAPKIT_LEAKS=1, no profile, no heap checking) leaves
 * frees on the allocator's plain paths, and a check tells the free blocks from its lists
 * (src/debug/leak_free.c). Each case here has blocks that wait on one kind of list when the check
 * runs, beside blocks really lost, and expects exactly the lost ones:
 * - blocks an exited thread left on pages of its abandoned segment, some freed by that thread
 *   (its page's own list), most freed afterwards by another thread (the page's remote stack);
 * - checks while threads allocate and free, from their own pages and each other's, the whole time
 *   (the check stops them: a page stopped halfway through a change must not make a lost block),
 *   with one block a churner lost among its churned pages: a check that cannot tell its page's
 *   state may pass it over, but that check only, so one of the checks must report it;
 * - a forked child of such threads, which has only their memory (and loses what they held);
 * - a block realloc'ed in place (the record learns the new size);
 * and a double free is still reported as one (the allocator's own check, as without tracking).
 * That the frees really are plain is read from the statistics: no page in use sends its frees
 * through a hook (observed_pages), where an exact profile beside the tracking does. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define LEFT 256       /* blocks the exited thread allocates */
#define LEFT_SIZE 48
#define LEFT_LOST 3    /* of which the program loses */
#define LEFT_KEPT 5    /* and keeps */
#define LEFT_OWN 40    /* and the thread frees itself */
#define CHURNERS 2
#define RING 512
#define CHECKS 20
#define CHURN_LOST_SIZE 24 /* the block a churner loses */

static int (*leak_check)(hk_leak_summary_t *);
static int (*trim)(void);
static size_t (*stats_json)(char *, size_t);

/* Pages in use whose frees take the hooked, generic path (the statistics' observed_pages). */
static long observed_pages(void) {
    static char json[1 << 16];
    size_t n = stats_json(json, sizeof json);
    const char *at = n < sizeof json ? strstr(json, "\"observed_pages\":") : NULL;
    CHECKF(at != NULL, "hk_stats_json has no observed_pages (%zu bytes)", n);
    return at != NULL ? strtol(at + strlen("\"observed_pages\":"), NULL, 10) : -1;
}

static void *volatile left[LEFT];
static void *volatile kept[LEFT_KEPT];

static hk_leak_summary_t check_now(void) {
    hkt_scrub_stack();
    hk_leak_summary_t s;
    memset(&s, 0xff, sizeof s);
    int rc = leak_check(&s);
    CHECKF(rc == 0, "hk_leak_check returned %d (errno %d)", rc, errno);
    return s;
}

static void expect_lost(const hk_leak_summary_t *s, size_t blocks, size_t bytes, const char *what) {
    CHECKF(s->definite.blocks == blocks && s->definite.bytes == bytes,
           "%s: definitely lost %zu blocks / %zu bytes, expected %zu / %zu", what, s->definite.blocks,
           s->definite.bytes, blocks, bytes);
    CHECKF(s->indirect.blocks == 0 && s->possible.blocks == 0, "%s: %zu indirectly and %zu possibly lost, expected 0",
           what, s->indirect.blocks, s->possible.blocks);
}

/* ------------------------------------------------------------ abandoned pages */

static void *leaver(void *arg) {
    (void)arg;
    for (int i = 0; i < LEFT; i++) left[i] = malloc(LEFT_SIZE);
    for (int i = LEFT - LEFT_OWN; i < LEFT; i++) { /* onto its page's own list */
        free(left[i]);
        left[i] = NULL;
    }
    return NULL;
}

static NOINLINE void abandoned_pages(void) {
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, leaver, NULL) == 0);
    pthread_join(t, NULL);
    trim(); /* its parked heap expires: its segment is abandoned, owned by no thread */
    for (int i = 0; i < LEFT_KEPT; i++) kept[i] = left[i];
    for (int i = LEFT_KEPT + LEFT_LOST; i < LEFT - LEFT_OWN; i++) free(left[i]); /* onto remote stacks */
    for (int i = 0; i < LEFT; i++) left[i] = NULL; /* the lost ones are lost now */
}

/* ------------------------------------------------------------ busy threads */

static void *volatile ring[CHURNERS][RING];
static _Atomic int stop_churn;

static NOINLINE void lose_one(void) {
    char *volatile p = malloc(CHURN_LOST_SIZE);
    memset(p, 1, CHURN_LOST_SIZE);
    p = NULL;
}

/* Churner 0 first loses a block on its own pages. Then each allocates into its ring and frees what was there, in turn its own blocks and the other
 * churner's (remote frees), of sizes over several classes; every live block stays in a ring. */
static void *churner(void *arg) {
    uintptr_t me = (uintptr_t)arg;
    uint64_t seed = me + 1;
    if (me == 0) {
        lose_one();
        hkt_scrub_stack();
    }
    for (unsigned long n = 0; !atomic_load_explicit(&stop_churn, memory_order_relaxed); n++) {
        size_t size = 16 + hkt_rand(&seed) % 700;
        unsigned slot = (unsigned)(hkt_rand(&seed) % RING);
        uintptr_t whose = (n & 1) ? me : (me + 1) % CHURNERS;
        void *old = __atomic_exchange_n(&ring[whose][slot], NULL, __ATOMIC_ACQ_REL);
        free(old);
        void *fresh = malloc(size);
        memset(fresh, 0, size < 64 ? size : 64);
        void *prev = __atomic_exchange_n(&ring[me][slot], fresh, __ATOMIC_ACQ_REL);
        free(prev);
    }
    return NULL;
}

/* Returns how many of the checks listed the block churner 0 lost (0 or 1: a block is listed once). */
static NOINLINE size_t checks_while_busy(pthread_t *t) {
    for (uintptr_t i = 0; i < CHURNERS; i++) REQUIRE(pthread_create(&t[i], NULL, churner, (void *)i) == 0);
    size_t listed = 0;
    for (int c = 0; c < CHECKS; c++) {
        usleep(2000);
        hk_leak_summary_t s = check_now();
        /* Not "possibly": a stopped thread's registers may hold a pointer into a block's middle
         * only (memset's, say) while the rings hold it too. */
        CHECKF(s.definite.blocks <= 1 && s.definite.bytes == s.definite.blocks * CHURN_LOST_SIZE &&
                   s.indirect.blocks == 0,
               "a check while threads allocate and free: %zu definitely lost (%zu bytes) and %zu indirectly, "
               "expected at most the churner's lost %d-byte block",
               s.definite.blocks, s.definite.bytes, s.indirect.blocks, CHURN_LOST_SIZE);
        listed += s.definite.blocks;
    }
    return listed;
}

static NOINLINE void forked_while_busy(void) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { /* the churners' memory, without the churners */
        hk_leak_summary_t s;
        hkt_scrub_stack();
        if (leak_check(&s) != 0) _exit(255);
        size_t lost = s.definite.blocks + s.indirect.blocks + s.possible.blocks;
        _exit(lost < 254 ? (int)lost : 254);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    /* A churner may hold two blocks out of the rings when the fork copies it (one taken out and not
     * freed yet, one just allocated): in the child no thread holds them, so they are lost there. */
    /* And the block churner 0 lost, if no check listed it yet. */
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) <= 2 * CHURNERS + 1,
           "a forked child of busy threads: %d blocks lost (status %#x), expected at most %d", WEXITSTATUS(status),
           status, 2 * CHURNERS + 1);
}

static NOINLINE void stop_churners(pthread_t *t) {
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < CHURNERS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < CHURNERS; i++)
        for (int j = 0; j < RING; j++) {
            free(ring[i][j]);
            ring[i][j] = NULL;
        }
}

/* ------------------------------------------------------------ realloc, double free */

static NOINLINE void realloc_in_place(void) {
    char *volatile p = malloc(120);
    char *q = realloc(p, 70); /* kept in its block: half of it is still used */
    CHECKF(q == p, "realloc(p, 70) of a 120-byte block moved it (%p -> %p)", (void *)p, (void *)q);
    p = NULL;
}

static int run_mode(int mode) {
    if (mode == 1) {
        char *volatile p = malloc(64);
        hkt_report_addr(p);
        free(p);
        free(p);
        return 0;
    }
    if (mode == 2) { /* under an exact profile too: frees are observed */
        void *volatile p = malloc(64);
        printf("OBSERVED %ld\n", observed_pages());
        fflush(stdout);
        free(p);
        return 0;
    }
    return 3;
}

int main(int argc, char **argv) {
    stats_json = (size_t (*)(char *, size_t))dlsym(RTLD_DEFAULT, "hk_stats_json");
    REQUIRE(stats_json != NULL);
    int child = hkt_mode_child(argc, argv, run_mode);
    if (child >= 0) return child;
    hkt_begin("std_leak_plain_free", 120);
    leak_check = (int (*)(hk_leak_summary_t *))dlsym(RTLD_DEFAULT, "hk_leak_check");
    trim = (int (*)(void))dlsym(RTLD_DEFAULT, "hk_trim");
    REQUIRE(leak_check != NULL && trim != NULL);
    hk_leak_summary_t s = check_now();
    expect_lost(&s, 0, 0, "the first check");
    long observed = observed_pages();
    CHECKF(observed == 0, "leak tracking alone: %ld pages in use send their frees through a hook, expected 0", observed);

    abandoned_pages();
    hkt_scrub_stack();
    s = check_now();
    expect_lost(&s, LEFT_LOST, LEFT_LOST * LEFT_SIZE, "an exited thread's blocks, freed on its abandoned pages");
    for (int i = 0; i < LEFT_KEPT; i++) {
        free(kept[i]);
        kept[i] = NULL; /* a stale copy could point into a block a page carved there later */
    }

    pthread_t t[CHURNERS];
    size_t listed = checks_while_busy(t);
    forked_while_busy();
    stop_churners(t);
    s = check_now();
    CHECKF(listed + s.definite.blocks == 1,
           "the block a churner lost: listed by %zu busy checks and %zu times after, expected once in all", listed,
           s.definite.blocks);
    expect_lost(&s, 1 - listed, (1 - listed) * CHURN_LOST_SIZE, "after the busy threads freed everything");

    realloc_in_place();
    hkt_scrub_stack(); /* from main: the dead frames of the realloc, below check_now's frame too */
    s = check_now();
    expect_lost(&s, 1, 70, "a block realloc'ed in place to 70 bytes, then lost");

    static char out[4096]; /* not in main's frame: what ran before main left words there, unwritten */
    int status = hkt_run_mode(argv[0], 1, "HEAPKIT_LEAKS=1", out, sizeof out);
    CHECKF(strstr(out, "double free") != NULL, "a double free under leak tracking, status %#x, said: %s", status, out);
    /* The statistic the first check read is not 0 by default: with an exact profile frees are observed. */
    status = hkt_run_mode(argv[0], 2, "HEAPKIT_PROFILE=exact", out, sizeof out);
    const char *seen = strstr(out, "OBSERVED ");
    CHECKF(seen != NULL && strtol(seen + 9, NULL, 10) > 0,
           "under an exact profile beside leak tracking, pages observed: status %#x, said: %s", status, out);
    return hkt_done();
}
