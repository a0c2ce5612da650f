/* pool_inline.c — the thread's record behind heapkit_pool_inline.h's inline paths: filled in for
 * the pool a thread uses (a LOCAL pool's cache, a SHARED pool's magazine; only where the inline
 * paths may be used: not in an ASan build), emptied in every thread that had it when the pool is destroyed
 * (so a stale handle, or a new pool at the same address, is never served from a freed cache), and
 * emptied by the thread's exit. Objects handed out by the inline paths and the library's calls
 * mix freely, and misuse through the inline paths (double free, wrong pool, interior pointer,
 * NULL) still reaches the library, which reports it and goes on. The records of versions 1 and 2
 * (the headers before this one) stay exported and empty. The other pool tests are also
 * built with this header forced in (the *_inline tests in tests/CMakeLists.txt). */
#define _GNU_SOURCE
#include "pool_test.h"
#include "heapkit_pool_inline.h"

#include <semaphore.h>

#if defined(__SANITIZE_ADDRESS__)
#define PI_ARMS 0 /* an ASan build poisons free objects: every call goes to the library */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PI_ARMS 0
#endif
#endif
#ifndef PI_ARMS
#define PI_ARMS 1
#endif
/* Under TSan the misuse cases are left out: they run in forked children, and TSan's deadlock
 * detector fails its own check when fork takes every lock of the library at once (the other tests
 * with children are not in the TSan build either). */
#if defined(__SANITIZE_THREAD__)
#define PI_CHILDREN 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PI_CHILDREN 0
#endif
#endif
#ifndef PI_CHILDREN
#define PI_CHILDREN 1
#endif

/* Version 1 of the record, as the header before version 2 declared it: still exported, so a
 * program built then still links, and never filled in (empty and full), so its inline paths call. */
typedef struct pi_tls_v1_s {
    hk_pool_t *pool;
    void ***top;
    void **floor, **end;
    uintptr_t live_key;
} pi_tls_v1_t;
extern __thread pi_tls_v1_t hk_pool_tls_v1;

static bool v1_empty(const hk_pool_t *p) {
    return hk_pool_tls_v1.pool != p && hk_pool_tls_v1.pool != NULL && *hk_pool_tls_v1.top == hk_pool_tls_v1.floor &&
           hk_pool_tls_v1.floor == hk_pool_tls_v1.end;
}

/* Version 2 (version 3's layout, before the library's promise about cached objects' words):
 * exported and empty too. */
extern __thread hk_pool_tls_v3_t hk_pool_tls_v2;
static bool v2_empty(const hk_pool_t *p) {
    return hk_pool_tls_v2.pool != p && hk_pool_tls_v2.pool != NULL && hk_pool_tls_v2.top == hk_pool_tls_v2.floor &&
           hk_pool_tls_v2.floor == hk_pool_tls_v2.end;
}

/* Does this thread's record serve p? (Empty, it names no pool, NULL included.) */
static bool serves(const hk_pool_t *p) { return hk_pool_tls_v3.pool == p; }

/* Another thread that uses a pool, then waits (its record still naming the pool) until told to
 * look at its record again. */
typedef struct helper_s {
    hk_pool_t *pool;
    sem_t used, look, looked;
    bool served_before, served_after;
    bool objects_ok;
} helper_t;

static void *helper_main(void *arg) {
    helper_t *h = arg;
    void *objs[64];
    h->objects_ok = true;
    for (int i = 0; i < 64; i++) {
        objs[i] = hk_pool_alloc(h->pool);
        if (objs[i] == NULL) h->objects_ok = false;
        else memset(objs[i], 0x5a, 40);
    }
    for (int i = 0; i < 64; i++) hk_pool_free(h->pool, objs[i]);
    h->served_before = serves(h->pool);
    sem_post(&h->used);
    sem_wait(&h->look);
    h->served_after = serves(h->pool);
    sem_post(&h->looked);
    return NULL;
}

static void *exit_main(void *arg) {
    hk_pool_t *pool = arg;
    hk_pool_free(pool, hk_pool_alloc(pool));
    return serves(pool) ? pool : NULL;
}

/* Misuse through the inline paths, each in a child: the library's line, and a working pool after. */
static int child(const char *name) {
    hk_pool_t *alpha = hk_pool_create("alpha", 40, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    hk_pool_t *beta = hk_pool_create("beta", 40, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    void *keep = hk_pool_alloc(alpha); /* the record now serves alpha */
    if (strcmp(name, "double") == 0) {
        void *p = hk_pool_alloc(alpha);
        pt_addr(p);
        hk_pool_free(alpha, p);
        hk_pool_free(alpha, p);
    } else if (strcmp(name, "wrong_pool") == 0) {
        void *p = hk_pool_alloc(beta);
        if (hk_pool_alloc(alpha) == NULL) return 62; /* the record serves alpha again */
        pt_addr(p);
        hk_pool_free(alpha, p);
        hk_pool_free(beta, p);
    } else if (strcmp(name, "interior") == 0) {
        char *p = hk_pool_alloc(alpha);
        pt_addr(p + 16);
        hk_pool_free(alpha, p + 16);
        hk_pool_free(alpha, p);
    } else if (strcmp(name, "foreign") == 0) {
        void *b = hk_malloc(40);
        pt_addr(b);
        hk_pool_free(alpha, b);
        hk_free(b);
    } else if (strcmp(name, "destroyed") == 0) { /* the record served the pool; the handle is stale now */
        hk_pool_free(beta, hk_pool_alloc(beta));
        hk_pool_destroy(beta);
        if (hk_pool_alloc(beta) != NULL) return 60;
        hk_pool_free(alpha, keep);
        hk_pool_destroy(alpha);
        return 0;
    }
    hk_pool_free(alpha, NULL); /* nothing */
    void *objs[100];
    for (int i = 0; i < 100; i++) {
        objs[i] = hk_pool_alloc(alpha);
        if (objs[i] == NULL) return 61;
        memset(objs[i], i, 40);
    }
    for (int i = 0; i < 100; i++) hk_pool_free(alpha, objs[i]);
    hk_pool_free(alpha, keep);
    hk_pool_destroy(alpha);
    hk_pool_destroy(beta);
    return 0;
}

static const pt_case_t k_cases[] = {
    {"double", NULL, {"double free", "hk_pool_free(pool 'alpha', ", "ignored"}, NULL, 0, true, false},
    {"wrong_pool", NULL, {"object of pool 'beta'", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"interior", NULL, {"middle of a 40-byte object", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"foreign", NULL, {"not allocated by this pool", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"destroyed", NULL, {"hk_pool_alloc", "destroyed"}, NULL, 0, false, false},
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("pool_inline", 120);

    /* Filled in by the first call, for a LOCAL pool; the inline and out-of-line calls mix. */
    hk_pool_t *p = hk_pool_create("inline", 48, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(p != NULL);
    enum { N = 5000 };
    static void *objs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = i % 3 == 0 ? (hk_pool_alloc)(p) : hk_pool_alloc(p);
        REQUIRE(objs[i] != NULL);
        memset(objs[i], i & 0xff, 48);
    }
    CHECKF(serves(p) == PI_ARMS, "record names %p, pool %p", (void *)hk_pool_tls_v3.pool, (void *)p);
    CHECK(!serves(NULL));
    CHECK(v1_empty(p));
    CHECK(v2_empty(p));
    for (int i = 0; i < N; i++) {
        const unsigned char *b = objs[i];
        CHECKF(b[0] == (i & 0xff) && b[47] == (i & 0xff), "object %d overwritten", i);
    }
    hk_pool_stats_t st;
    hk_pool_stats(p, &st);
    CHECKF(st.live == N, "live %zu after %d allocations", st.live, N);
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) hk_pool_free(p, objs[i]);
        else (hk_pool_free)(p, objs[i]);
    }
    hk_pool_stats(p, &st);
    CHECKF(st.live == 0, "live %zu after every free", st.live);

    /* A SHARED pool's magazine is served by the record too (its first call makes the magazine);
     * objects in the magazine are free in the statistics. */
    hk_pool_t *s = hk_pool_create("shared", 48, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    REQUIRE(s != NULL);
    void *so = hk_pool_alloc(s);
    CHECK(so != NULL);
    CHECK(serves(s) == PI_ARMS);
    hk_pool_stats(s, &st);
    CHECKF(st.live == 1, "shared: live %zu with one object out", st.live);
    hk_pool_free(s, so);
    hk_pool_stats(s, &st);
    CHECK(st.live == 0);
    hk_pool_destroy(s);
    CHECK(!serves(s)); /* the destroy emptied the record */

    /* A destroy in this thread empties another thread's record of the pool. */
    helper_t h = {.pool = p};
    sem_init(&h.used, 0, 0);
    sem_init(&h.look, 0, 0);
    sem_init(&h.looked, 0, 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, helper_main, &h) == 0);
    sem_wait(&h.used);
    CHECK(h.objects_ok);
    CHECK(h.served_before == PI_ARMS);
    hk_pool_destroy(p);
    CHECK(!serves(p) && !serves(NULL));
    sem_post(&h.look);
    sem_wait(&h.looked);
    CHECKF(!h.served_after, "the helper's record still names %p after the destroy", (void *)p);
    pthread_join(t, NULL);

    /* A new pool, wherever it lands (the old address included), starts unserved. */
    hk_pool_t *q = hk_pool_create("again", 48, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(q != NULL);
    CHECK(!serves(q));
    void *qo = hk_pool_alloc(q);
    CHECK(qo != NULL);
    hk_pool_free(q, qo);

    /* A thread's record names the pool while it runs; its exit leaves the pool whole. */
    void *res = NULL;
    REQUIRE(pthread_create(&t, NULL, exit_main, q) == 0);
    pthread_join(t, &res);
    CHECK(res == (PI_ARMS ? (void *)q : NULL));
    hk_pool_stats(q, &st);
    CHECK(st.live == 0);
    hk_pool_destroy(q);

    /* Misuse through the inline paths: the library's one line, then the process goes on. */
    for (size_t i = 0; PI_CHILDREN && i < sizeof k_cases / sizeof k_cases[0]; i++) {
        hkt_note("case %s", k_cases[i].name);
        pt_run(&k_cases[i]);
    }
    return hkt_done();
}
