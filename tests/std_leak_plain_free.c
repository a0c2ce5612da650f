/* std_leak_plain_free.c — leak tracking alone (HEAPKIT_LEAKS=1, no profile, no heap checking) leaves
 * frees on the allocator's plain paths, and a check tells the free blocks from its lists
 * (src/debug/leak_free.c). Each case here has blocks that wait on one kind of list when the check
 * runs, beside blocks really lost, and expects exactly the lost ones:
 * - blocks an exited thread left on pages of its abandoned segment, some freed by that thread
 *   (its page's own list), most freed afterwards by another thread (the page's remote stack);
 * - checks while threads allocate and free, from their own pages and each other's, the whole time
 *   (the check stops them: a page stopped halfway through a change must not make a lost block);
 * - a forked child of such threads, which has only their memory (and loses what they held);
 * - a block realloc'ed in place (the record learns the new size);
 * and a double free is still reported as one (the allocator's own check, as without tracking). */
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

static int (*leak_check)(hk_leak_summary_t *);
static int (*trim)(void);

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

/* Allocates into its ring and frees what was there, in turn its own blocks and the other
 * churner's (remote frees), of sizes over several classes; every live block stays in a ring. */
static void *churner(void *arg) {
    uintptr_t me = (uintptr_t)arg;
    uint64_t seed = me + 1;
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

static NOINLINE void checks_while_busy(pthread_t *t) {
    for (uintptr_t i = 0; i < CHURNERS; i++) REQUIRE(pthread_create(&t[i], NULL, churner, (void *)i) == 0);
    for (int c = 0; c < CHECKS; c++) {
        usleep(2000);
        hk_leak_summary_t s = check_now();
        /* Not "possibly": a stopped thread's registers may hold a pointer into a block's middle
         * only (memset's, say) while the rings hold it too. */
        CHECKF(s.definite.blocks == 0 && s.indirect.blocks == 0,
               "a check while threads allocate and free: %zu definitely and %zu indirectly lost, expected 0",
               s.definite.blocks, s.indirect.blocks);
    }
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
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) <= 2 * CHURNERS,
           "a forked child of busy threads: %d blocks lost (status %#x), expected at most %d", WEXITSTATUS(status),
           status, 2 * CHURNERS);
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
    return 3;
}

int main(int argc, char **argv) {
    int child = hkt_mode_child(argc, argv, run_mode);
    if (child >= 0) return child;
    hkt_begin("std_leak_plain_free", 120);
    leak_check = (int (*)(hk_leak_summary_t *))dlsym(RTLD_DEFAULT, "hk_leak_check");
    trim = (int (*)(void))dlsym(RTLD_DEFAULT, "hk_trim");
    REQUIRE(leak_check != NULL && trim != NULL);
    hk_leak_summary_t s = check_now();
    expect_lost(&s, 0, 0, "the first check");

    abandoned_pages();
    hkt_scrub_stack();
    s = check_now();
    expect_lost(&s, LEFT_LOST, LEFT_LOST * LEFT_SIZE, "an exited thread's blocks, freed on its abandoned pages");
    for (int i = 0; i < LEFT_KEPT; i++) {
        free(kept[i]);
        kept[i] = NULL; /* a stale copy could point into a block a page carved there later */
    }

    pthread_t t[CHURNERS];
    checks_while_busy(t);
    forked_while_busy();
    stop_churners(t);
    s = check_now();
    expect_lost(&s, 0, 0, "after the busy threads freed everything");

    realloc_in_place();
    hkt_scrub_stack(); /* from main: the dead frames of the realloc, below check_now's frame too */
    s = check_now();
    expect_lost(&s, 1, 70, "a block realloc'ed in place to 70 bytes, then lost");

    static char out[4096]; /* not in main's frame: what ran before main left words there, unwritten */
    int status = hkt_run_mode(argv[0], 1, "HEAPKIT_LEAKS=1", out, sizeof out);
    CHECKF(strstr(out, "double free") != NULL, "a double free under leak tracking, status %#x, said: %s", status, out);
    return hkt_done();
}
