/* pool_errors.c — bad input to hk_pool_free: an object of another pool, double frees (from the
 * cache, from a chunk list, from another thread), pointers heapkit never handed out, interior
 * pointers, pointers into a chunk past the objects made, and destroy with live objects. Each
 * case runs in a child that must print one "heapkit: hk_pool_free(pool 'NAME', ADDR): ..." line,
 * survive, and still get distinct, intact objects from its pools; HEAPKIT_ON_ERROR=abort aborts, and
 * so does the hardened mode (HEAPKIT_SECURE=1), with a line that does not say "ignored".
 * With HEAPKIT_LEAKS=1 the same checks hold (objects are then blocks of their own), and an object
 * never returned is reported at exit under its pool's name. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <unistd.h>

/* After the misuse: the pool hands out distinct objects that keep their contents. */
static int still_works(hk_pool_t *pool, size_t size) {
    enum { N = 600 };
    uint8_t *objs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = hk_pool_alloc(pool);
        if (objs[i] == NULL) return 40;
        hkt_fill(objs[i], size, (uint32_t)i);
    }
    for (int i = 0; i < N; i++)
        if (hkt_verify(objs[i], size, (uint32_t)i) != (size_t)-1) return 41; /* two handouts of one object */
    for (int i = 0; i < N; i++) hk_pool_free(pool, objs[i]);
    return 0;
}

static void *free_in_thread_main(void *arg) {
    void **a = arg;
    hk_pool_free(a[0], a[1]);
    return NULL;
}

static hk_pool_t *volatile g_kept_pool; /* reachable: only the lost object must be reported */

/* The object is allocated and lost in a thread that then exits: no stale copy of its address
 * can stay in a live stack or register (the leak scan skips the stacks of threads that are gone). */
static void *leak_one_object_main(void *arg) {
    (void)arg;
    void *p = hk_pool_alloc(g_kept_pool);
    memset(p, 0x5a, 64); /* no pointer in it */
    return NULL;
}

typedef struct counts_s {
    size_t ctor, dtor;
} counts_t;
static void count_ctor(void *p, void *arg) {
    (void)p;
    ((counts_t *)arg)->ctor++;
}
static void count_dtor(void *p, void *arg) {
    (void)p;
    ((counts_t *)arg)->dtor++;
}

static int child(const char *name) {
    unsigned mode = strstr(name, "shared") ? HK_POOL_SHARED : HK_POOL_LOCAL;
    hk_pool_t *alpha = hk_pool_create("alpha", 48, 0, mode, NULL, NULL, NULL);
    hk_pool_t *beta = hk_pool_create("beta", 48, 0, mode, NULL, NULL, NULL);
    if (!alpha || !beta) return 30;
    int on_stack[8] = {0};

    if (strcmp(name, "wrong_pool_local") == 0 || strcmp(name, "wrong_pool_shared") == 0) {
        uint8_t *p = hk_pool_alloc(alpha);
        hkt_fill(p, 48, 9);
        pt_addr(p);
        hk_pool_free(beta, p);
        if (hkt_verify(p, 48, 9) != (size_t)-1) return 50; /* the object is alpha's and untouched */
        for (int i = 0; i < 600; i++) {
            void *q = hk_pool_alloc(beta);
            if (q == p) return 51;
        }
        hk_pool_free(alpha, p);
        return still_works(alpha, 48) + still_works(beta, 48);
    }
    if (strcmp(name, "wrong_pool_sizes") == 0) { /* chunks of another size: the owner is still found */
        hk_pool_t *big = hk_pool_create("big-objects", (size_t)200 << 10, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
        void *first = hk_pool_alloc(big);
        uint8_t *p = hk_pool_alloc(big);
        pt_addr(p);
        hk_pool_free(alpha, p);
        hk_pool_free(big, p);
        hk_pool_free(big, first);
        return still_works(big, 1024) + still_works(alpha, 48);
    }
    if (strncmp(name, "double_cache", 12) == 0) { /* the object is still in the thread's cache */
        void *p = hk_pool_alloc(alpha);
        pt_addr(p);
        hk_pool_free(alpha, p);
        hk_pool_free(alpha, hkt_launder(p));
        return still_works(alpha, 48);
    }
    if (strncmp(name, "double_deep", 11) == 0) { /* many frees in between: it is on a chunk's list */
        void *objs[1000];
        void *p = hk_pool_alloc(alpha);
        for (int i = 0; i < 1000; i++) objs[i] = hk_pool_alloc(alpha);
        pt_addr(p);
        hk_pool_free(alpha, p);
        for (int i = 0; i < 1000; i++) hk_pool_free(alpha, objs[i]);
        hk_pool_free(alpha, hkt_launder(p));
        return still_works(alpha, 48);
    }
    if (strcmp(name, "double_remote") == 0) { /* the second free comes from another thread */
        void *keep = hk_pool_alloc(alpha);
        void *p = hk_pool_alloc(alpha);
        pt_addr(p);
        hk_pool_free(alpha, p);
        void *args[2] = {alpha, hkt_launder(p)};
        pthread_t t;
        pthread_create(&t, NULL, free_in_thread_main, args);
        pthread_join(t, NULL);
        hk_pool_free(alpha, keep);
        return still_works(alpha, 48);
    }
    if (strcmp(name, "foreign_stack") == 0) {
        void *bad = hkt_launder(&on_stack[2]);
        pt_addr(bad);
        hk_pool_free(alpha, bad);
        return still_works(alpha, 48);
    }
    if (strcmp(name, "foreign_block") == 0) { /* heapkit memory, but a plain block */
        void *b = hk_malloc(64);
        memset(b, 0x77, 64);
        pt_addr(b);
        hk_pool_free(alpha, b);
        uint8_t *c = b;
        for (int i = 0; i < 64; i++)
            if (c[i] != 0x77) return 52;
        hk_free(b);
        return still_works(alpha, 48);
    }
    if (strcmp(name, "interior") == 0) {
        uint8_t *p = hk_pool_alloc(alpha);
        pt_addr(p + 8);
        hk_pool_free(alpha, p + 8);
        hk_pool_free(alpha, p);
        return still_works(alpha, 48);
    }
    if (strcmp(name, "not_made") == 0) { /* inside a chunk, past the objects made so far */
        uint8_t *p = hk_pool_alloc(alpha);
        uint8_t *far = p + 48 * 900;
        pt_addr(far);
        hk_pool_free(alpha, far);
        hk_pool_free(alpha, p);
        return still_works(alpha, 48);
    }
    if (strncmp(name, "destroy_live", 12) == 0) {
        hk_pool_t *d = hk_pool_create("dying", 64, 0, mode, NULL, NULL, NULL);
        uint8_t *a = hk_pool_alloc(d), *b = hk_pool_alloc(d), *c = hk_pool_alloc(d);
        hk_pool_free(d, b);
        hk_pool_destroy(d);
        memset(a, 1, 64); /* still valid memory: their chunk was kept */
        memset(c, 2, 64);
        if (a[63] != 1 || c[0] != 2) return 53;
        return still_works(alpha, 48);
    }
    if (strcmp(name, "tracked_ctor") == 0) { /* each object its own block: made at alloc, unmade at free */
        counts_t n = {0, 0};
        hk_pool_t *p = hk_pool_create("counted", 32, 0, HK_POOL_LOCAL, count_ctor, count_dtor, &n);
        void *objs[10];
        for (int i = 0; i < 10; i++) objs[i] = hk_pool_alloc(p);
        for (int i = 0; i < 4; i++) hk_pool_free(p, objs[i]);
        if (n.ctor != 10 || n.dtor != 4) return 54;
        uint8_t *freed = objs[0];
        for (int i = 8; i < 32; i++) /* debug mode fills freed objects (the allocator may reuse the first word) */
            if (freed[i] != 0xdd) return 55;
        for (int i = 4; i < 10; i++) hk_pool_free(p, objs[i]);
        hk_pool_destroy(p);
        return n.dtor == 10 ? still_works(alpha, 48) : 56;
    }
    if (strcmp(name, "tracked_leak") == 0) {
        g_kept_pool = hk_pool_create("leaky-pool", 64, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
        pthread_t t;
        pthread_create(&t, NULL, leak_one_object_main, NULL);
        pthread_join(t, NULL);
        return 0;
    }
    if (strcmp(name, "abort") == 0) {
        void *p = hk_pool_alloc(alpha);
        hk_pool_free(alpha, p);
        hk_pool_free(alpha, hkt_launder(p));
        return 57; /* not reached: HEAPKIT_ON_ERROR=abort */
    }
    return 99;
}

#define LEAKS "HEAPKIT_LEAKS=1"
#define SECURE "HEAPKIT_SECURE=1"

static const pt_case_t k_cases[] = {
    {"wrong_pool_local", NULL, {"object of pool 'alpha'", "hk_pool_free(pool 'beta', ", "ignored"}, NULL, 0, true, false},
    {"wrong_pool_shared", NULL, {"object of pool 'alpha'", "hk_pool_free(pool 'beta', ", "ignored"}, NULL, 0, true, false},
    {"wrong_pool_sizes", NULL, {"object of pool 'big-objects'", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"double_cache", NULL, {"double free", "hk_pool_free(pool 'alpha', ", "ignored"}, NULL, 0, true, false},
    {"double_cache_shared", NULL, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"double_deep", NULL, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"double_deep_shared", NULL, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"double_remote", NULL, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"foreign_stack", NULL, {"not allocated by heapkit", "hk_pool_free(pool 'alpha', ", "ignored"}, NULL, 0, true, false},
    {"foreign_block", NULL, {"not allocated by this pool", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"interior", NULL, {"middle of a 48-byte object", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"not_made", NULL, {"no object was handed out", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"destroy_live", NULL, {"2 objects still live", "hk_pool_destroy(pool 'dying')", "1 chunk left"}, NULL, 0, false, false},
    {"destroy_live_shared", NULL, {"2 objects still live", "hk_pool_destroy(pool 'dying')"}, NULL, 0, false, false},
    {"abort", "HEAPKIT_ON_ERROR=abort", {"double free", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, false, false},
    /* debug mode: every object a tracked block of its own */
    {"wrong_pool_local", LEAKS, {"object of pool 'alpha'", "hk_pool_free(pool 'beta', "}, NULL, 0, true, false},
    {"double_cache", LEAKS, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"double_deep_shared", LEAKS, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"double_remote", LEAKS, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"foreign_stack", LEAKS, {"not allocated by heapkit", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"foreign_block", LEAKS, {"not allocated by this pool", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"interior", LEAKS, {"middle of an object", "hk_pool_free(pool 'alpha', "}, NULL, 0, true, false},
    {"destroy_live", LEAKS, {"2 objects still live", "hk_pool_destroy(pool 'dying')", "left allocated"}, NULL, 0,
     false, false},
    {"tracked_ctor", LEAKS, {NULL}, NULL, 0, false, false},
    {"tracked_leak", LEAKS, {NULL}, "definitely lost in 'leaky-pool'", 0, false, false},
};

/* The hardened mode: every misuse that could corrupt a pool is fatal, and its line does not say
 * "ignored". */
static const pt_case_t k_secure_cases[] = {
    {"double_cache", SECURE, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
    {"double_deep", SECURE, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
    {"double_remote", SECURE, {"double free", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
    {"wrong_pool_local", SECURE, {"object of pool 'alpha'", "hk_pool_free(pool 'beta', "}, NULL, SIGABRT, true, false},
    {"foreign_stack", SECURE, {"not allocated by heapkit", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
    {"foreign_block", SECURE, {"not allocated by this pool", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
    {"interior", SECURE, {"middle of a 48-byte object", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
    {"not_made", SECURE, {"no object was handed out", "hk_pool_free(pool 'alpha', "}, NULL, SIGABRT, true, false},
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("pool_errors", 600);
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        hkt_note("case %s%s%s", k_cases[i].name, k_cases[i].env ? " with " : "", k_cases[i].env ? k_cases[i].env : "");
        pt_run(&k_cases[i]);
    }
    for (size_t i = 0; i < sizeof k_secure_cases / sizeof k_secure_cases[0]; i++) {
        hkt_note("case %s with %s", k_secure_cases[i].name, k_secure_cases[i].env);
        pt_run_without(&k_secure_cases[i], "ignored");
    }
    return hkt_done();
}
