/* std_leaks.c — hk_leak_check() from inside a program run with HEAPKIT_LEAKS=1 (libheapkit.so
 * preloaded): each case makes one kind of leak, then checks that a check reports exactly the new
 * blocks of each kind (checks report only what no earlier check reported). Pointers the program
 * means to keep live in volatile globals; the leaking work happens in noinline functions and the
 * stack is scrubbed afterwards from the same depth, so no stale copy of a lost pointer stays in a
 * dead frame (or in an unwritten slot of the next frame there). */
#include "hkt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

struct node {
    struct node *next;
    char payload[40];
};

static void *volatile keep_global;
static char *volatile keep_interior;
static __thread void *volatile keep_tls;

static int (*leak_check)(hk_leak_summary_t *); /* hk_leak_check, found in the preloaded library */

static hk_leak_summary_t check_now(void) {
    hkt_scrub_stack();
    hk_leak_summary_t s;
    memset(&s, 0xff, sizeof s);
    int rc = leak_check(&s);
    CHECKF(rc == 0, "hk_leak_check returned %d (errno %d)", rc, errno);
    return s;
}

static void expect(const hk_leak_summary_t *s, size_t def_blocks, size_t def_bytes, size_t ind_blocks,
                   size_t ind_bytes, size_t pos_blocks, size_t pos_bytes, const char *what) {
    CHECKF(s->definite.blocks == def_blocks && s->definite.bytes == def_bytes,
           "%s: definitely lost %zu blocks / %zu bytes, expected %zu / %zu", what, s->definite.blocks,
           s->definite.bytes, def_blocks, def_bytes);
    CHECKF(s->indirect.blocks == ind_blocks && s->indirect.bytes == ind_bytes,
           "%s: indirectly lost %zu blocks / %zu bytes, expected %zu / %zu", what, s->indirect.blocks,
           s->indirect.bytes, ind_blocks, ind_bytes);
    CHECKF(s->possible.blocks == pos_blocks && s->possible.bytes == pos_bytes,
           "%s: possibly lost %zu blocks / %zu bytes, expected %zu / %zu", what, s->possible.blocks,
           s->possible.bytes, pos_blocks, pos_bytes);
}

static NOINLINE void leak_direct(int n, size_t size) {
    for (int i = 0; i < n; i++) {
        char *volatile p = malloc(size);
        memset(p, 0x5a, size);
    }
}

static NOINLINE void leak_list(int n) {
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *x = calloc(1, sizeof *x);
        x->next = head;
        head = x;
    }
    *(struct node *volatile *)&head = NULL;
}

static NOINLINE void leak_cycle(int n) {
    struct node *first = malloc(sizeof *first), *last = first;
    for (int i = 1; i < n; i++) {
        last->next = malloc(sizeof *last);
        last = last->next;
    }
    last->next = first;
}

static NOINLINE void keep_reachable(void) {
    keep_global = malloc(100);
    keep_tls = malloc(200);
    keep_interior = (char *)malloc(300) + 150;
}

static NOINLINE void leak_aligned_and_huge(void) {
    void *a = NULL;
    CHECK(posix_memalign(&a, 4096, 5000) == 0);
    void *volatile huge = malloc((size_t)3 << 20);
    memset(huge, 1, 4096);
    void *volatile r = realloc(malloc(10), 70000); /* the realloc'ed block is the one lost */
    (void)r;
}

/* A thread keeps a block in a local while it waits: stopped for the scan, its stack is a root. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;

static void *holder(void *arg) {
    (void)arg;
    char *volatile mine = malloc(777);
    memset(mine, 7, 777);
    pthread_mutex_lock(&lock);
    stage = 1;
    pthread_cond_broadcast(&cond);
    while (stage < 2) pthread_cond_wait(&cond, &lock); /* woken by the stop signal too: loop */
    pthread_mutex_unlock(&lock);
    mine = NULL; /* now lost: the thread exits without freeing it */
    return NULL;
}

static void wait_stage(int want) {
    pthread_mutex_lock(&lock);
    while (stage < want) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

int main(void) {
    hkt_begin("std_leaks", 120);
    leak_check = (int (*)(hk_leak_summary_t *))dlsym(RTLD_DEFAULT, "hk_leak_check");
    REQUIRE(leak_check != NULL);
    /* What the process held before main, the loader's memory for libunwind (which leak tracking
     * opens in the library's constructor) included: nothing lost, nothing possibly lost. */
    hk_leak_summary_t s = check_now();
    expect(&s, 0, 0, 0, 0, 0, 0, "the first check, of what the process held before main");
    s = check_now();
    expect(&s, 0, 0, 0, 0, 0, 0, "second check with nothing new");
    /* A dlopen: the loader's table for _dl_find_object is aligned by hand inside its block and
     * known to the loader only by that aligned address (the block keeps its own start to free it
     * by); it was "possibly lost" under heap checking's redzones (std_leaks_checked). libanl is a
     * stub of glibc's own package, present wherever glibc is and loaded by nothing else here. */
    void *lib = dlopen("libanl.so.1", RTLD_NOW);
    CHECKF(lib != NULL, "dlopen(libanl.so.1): %s", dlerror());
    s = check_now();
    expect(&s, 0, 0, 0, 0, 0, 0, "the loader's memory for a dlopen");

    leak_direct(10, 48);
    hkt_scrub_stack(); /* from here: its frame lies where the leaking function's was */
    s = check_now();
    expect(&s, 10, 480, 0, 0, 0, 0, "ten direct leaks");
    s = check_now();
    expect(&s, 0, 0, 0, 0, 0, 0, "the same leaks again (already reported)");

    leak_list(6);
    hkt_scrub_stack(); /* from here: its frame lies where the leaking function's was */
    s = check_now();
    expect(&s, 1, sizeof(struct node), 5, 5 * sizeof(struct node), 0, 0, "a lost list");

    leak_cycle(4);
    hkt_scrub_stack(); /* from here: its frame lies where the leaking function's was */
    s = check_now();
    expect(&s, 1, sizeof(struct node), 3, 3 * sizeof(struct node), 0, 0, "a lost cycle");

    size_t reachable_before = s.reachable.blocks;
    keep_reachable();
    hkt_scrub_stack(); /* from here: its frame lies where the leaking function's was */
    s = check_now();
    expect(&s, 0, 0, 0, 0, 1, 300, "globals, TLS, and an interior pointer");
    CHECKF(s.reachable.blocks == reachable_before + 2, "still reachable: %zu blocks, expected %zu + 2",
           s.reachable.blocks, reachable_before);
    free(keep_global);
    keep_global = NULL;
    free(keep_tls);
    keep_tls = NULL;
    s = check_now();
    CHECKF(s.reachable.blocks == reachable_before, "after freeing the kept blocks: %zu reachable, expected %zu",
           s.reachable.blocks, reachable_before);

    leak_aligned_and_huge();
    hkt_scrub_stack(); /* from here: its frame lies where the leaking function's was */
    s = check_now();
    expect(&s, 3, 5000 + ((size_t)3 << 20) + 70000, 0, 0, 0, 0, "aligned, huge and realloc'ed blocks");

    pthread_t t;
    CHECK(pthread_create(&t, NULL, holder, NULL) == 0);
    wait_stage(1);
    s = check_now();
    expect(&s, 0, 0, 0, 0, 0, 0, "a block held on another thread's stack");
    pthread_mutex_lock(&lock);
    stage = 2;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(t, NULL);
    s = check_now();
    expect(&s, 1, 777, 0, 0, 0, 0, "the block its thread dropped before exiting");

    /* Churn with no leak: nothing new may be reported. */
    for (int round = 0; round < 50; round++) {
        void *blocks[200];
        for (int i = 0; i < 200; i++) blocks[i] = malloc((size_t)(i * 37 % 3000) + 1);
        for (int i = 0; i < 200; i++) blocks[i] = realloc(blocks[i], (size_t)(i * 53 % 5000) + 1);
        for (int i = 0; i < 200; i++) free(blocks[i]);
    }
    s = check_now();
    expect(&s, 0, 0, 0, 0, 0, 0, "churn without leaks");
    return hkt_done();
}
