/* arena_threads.c — hk_arena across threads: a locked arena shared by several threads (alloc,
 * strdup, printf, cleanups: no two allocations overlap and every cleanup runs once); children of
 * a locked parent created, used and destroyed by different threads, the rest destroyed with the
 * parent; an unlocked arena handed from one thread to another with hk_arena_set_owner; and the
 * statistics read while owners allocate in their own arenas. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <sched.h>
#include <stdatomic.h>

enum { THREADS = 4 };

typedef struct span_s {
    uint8_t *p;
    size_t n;
    uint32_t seed;
} span_t;

static int span_cmp(const void *a, const void *b) {
    const span_t *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

static _Atomic size_t g_cleanups;
static void count_cleanup(void *arg) {
    (void)arg;
    atomic_fetch_add(&g_cleanups, 1);
}

typedef struct shared_s {
    hk_arena_t *arena;
    span_t *spans[THREADS];
    size_t per_thread;
    _Atomic int next;
} shared_t;

static void *locked_user_main(void *arg) {
    shared_t *s = arg;
    int me = atomic_fetch_add(&s->next, 1);
    uint64_t r = (uint64_t)me * 977 + 1;
    span_t *spans = s->spans[me];
    for (size_t i = 0; i < s->per_thread; i++) {
        size_t kind = (size_t)(hkt_rand(&r) % 8);
        uint32_t seed = (uint32_t)(me * 1000003 + (int)i);
        if (kind == 0) {
            char *str = hk_arena_printf(s->arena, "thread %d item %zu", me, i);
            spans[i] = (span_t){(uint8_t *)str, str ? strlen(str) + 1 : 0, 0};
            continue;
        }
        if (kind == 1) hk_arena_on_cleanup(s->arena, count_cleanup, NULL);
        size_t n = kind == 2 ? (size_t)(hkt_rand(&r) % 3000) : (size_t)(hkt_rand(&r) % 200);
        if (i % 1000 == 999) n = (size_t)300 << 10; /* large */
        uint8_t *p = hk_arena_alloc(s->arena, n);
        if (p != NULL) hkt_fill(p, n, seed);
        spans[i] = (span_t){p, n, seed};
    }
    return NULL;
}

static void test_locked_shared(void) {
    shared_t s = {.per_thread = hkt_scaled(20000)};
    s.arena = hk_arena_create("shared", NULL, HK_ARENA_LOCKED);
    REQUIRE(s.arena != NULL);
    for (int i = 0; i < THREADS; i++) {
        s.spans[i] = hk_calloc(s.per_thread, sizeof(span_t));
        REQUIRE(s.spans[i] != NULL);
    }
    atomic_store(&g_cleanups, 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, locked_user_main, &s);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    size_t total = s.per_thread * THREADS, bad = 0, missing = 0, k = 0;
    span_t *all = hk_malloc(total * sizeof(span_t));
    REQUIRE(all != NULL);
    for (int i = 0; i < THREADS; i++) {
        for (size_t j = 0; j < s.per_thread; j++) {
            span_t sp = s.spans[i][j];
            if (sp.p == NULL) {
                missing++;
                continue;
            }
            if (sp.seed != 0 && hkt_verify(sp.p, sp.n, sp.seed) != (size_t)-1) bad++;
            if (sp.n > 0) all[k++] = sp; /* a zero-size allocation may share the next one's address */
        }
    }
    CHECKF(missing == 0, "%zu allocations failed", missing);
    CHECKF(bad == 0, "%zu allocations overwritten by another thread's", bad);
    qsort(all, k, sizeof *all, span_cmp);
    size_t overlaps = 0;
    for (size_t i = 1; i < k; i++) {
        if (all[i - 1].p + all[i - 1].n <= all[i].p) continue;
        if (overlaps++ < 5)
            hkt_note("overlap: %p+%zu (seed %u) and %p+%zu (seed %u)", (void *)all[i - 1].p, all[i - 1].n,
                     all[i - 1].seed, (void *)all[i].p, all[i].n, all[i].seed);
    }
    CHECKF(overlaps == 0, "%zu overlapping allocations", overlaps);
    size_t registered = 0;
    for (int i = 0; i < THREADS; i++) { /* kind 1 registered a cleanup: count them the same way */
        uint64_t r = (uint64_t)i * 977 + 1;
        for (size_t j = 0; j < s.per_thread; j++) {
            size_t kind = (size_t)(hkt_rand(&r) % 8);
            if (kind == 0) continue;
            if (kind == 1) registered++;
            hkt_rand(&r);
        }
    }
    hk_arena_destroy(s.arena);
    CHECKF(atomic_load(&g_cleanups) == registered, "%zu cleanups ran, %zu were registered", atomic_load(&g_cleanups),
           registered);
    for (int i = 0; i < THREADS; i++) hk_free(s.spans[i]);
    hk_free(all);
}

/* ------------------------------------------------------------- children in threads */

typedef struct family_s {
    hk_arena_t *parent;
    size_t rounds;
} family_t;

static void *child_user_main(void *arg) {
    family_t *f = arg;
    for (size_t i = 0; i < f->rounds; i++) {
        hk_arena_t *child = hk_arena_create("child", f->parent, 0);
        if (child == NULL) continue;
        hk_arena_on_cleanup(child, count_cleanup, NULL);
        for (int j = 0; j < 50; j++) memset(hk_arena_alloc(child, 64), j, 64);
        char *s = hk_arena_strdup(child, "child string");
        if (s == NULL || strcmp(s, "child string") != 0) atomic_fetch_add(&g_cleanups, 1000000);
        if (i % 2 == 0) hk_arena_destroy(child); /* the others go with the parent */
    }
    return NULL;
}

static void test_children(void) {
    family_t f = {hk_arena_create("family", NULL, HK_ARENA_LOCKED), hkt_scaled(400)};
    REQUIRE(f.parent != NULL);
    atomic_store(&g_cleanups, 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, child_user_main, &f);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    hk_arena_stats_t st;
    hk_arena_stats(f.parent, &st);
    size_t left = THREADS * (f.rounds / 2);
    CHECKF(st.children == left, "%zu children alive, want %zu", st.children, left);
    CHECKF(atomic_load(&g_cleanups) == THREADS * (f.rounds - f.rounds / 2), "%zu child cleanups ran before the parent went",
           atomic_load(&g_cleanups));
    hk_arena_destroy(f.parent);
    CHECKF(atomic_load(&g_cleanups) == THREADS * f.rounds, "%zu child cleanups ran in all, want %zu",
           atomic_load(&g_cleanups), THREADS * f.rounds);
}

/* ------------------------------------------------------------- hand-over */

typedef struct relay_s {
    hkt_queue_t q;
} relay_t;

static void *worker_main(void *arg) {
    relay_t *r = arg;
    for (;;) {
        hk_arena_t *a = hkt_queue_pop(&r->q);
        if (a == NULL) return NULL;
        hk_arena_set_owner(a);
        const char *first = hk_arena_alloc(a, 1); /* the acceptor wrote the request's first string before it */
        (void)first;
        char *reply = hk_arena_printf(a, "handled %s", "request");
        if (reply == NULL || strcmp(reply, "handled request") != 0) atomic_fetch_add(&g_cleanups, 1000000);
        hk_arena_destroy(a);
    }
}

static void test_handover(void) {
    relay_t r;
    hkt_queue_init(&r.q);
    atomic_store(&g_cleanups, 0);
    pthread_t w[2];
    for (int i = 0; i < 2; i++) pthread_create(&w[i], NULL, worker_main, &r);
    size_t n = hkt_scaled(3000);
    for (size_t i = 0; i < n; i++) {
        hk_arena_t *a = hk_arena_create("request", NULL, 0);
        REQUIRE(a != NULL);
        hk_arena_strdup(a, "GET / HTTP/1.1");
        hk_arena_on_cleanup(a, count_cleanup, NULL);
        hkt_queue_push(&r.q, a);
    }
    for (int i = 0; i < 2; i++) hkt_queue_push(&r.q, NULL);
    for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
    hkt_queue_destroy(&r.q);
    CHECKF(atomic_load(&g_cleanups) == n, "%zu of %zu requests cleaned up (or a reply was wrong)",
           atomic_load(&g_cleanups), n);
}

/* ------------------------------------------------------------- statistics while allocating */

typedef struct busy_s {
    hk_arena_t *arenas[2];
    _Atomic int ready;
    size_t rounds;
} busy_t;

static void *own_arena_main(void *arg) {
    busy_t *b = arg;
    int me = atomic_fetch_add(&b->ready, 1);
    hk_arena_t *a = b->arenas[me];
    hk_arena_set_owner(a);
    for (size_t i = 0; i < b->rounds; i++) {
        for (int j = 0; j < 100; j++) memset(hk_arena_alloc(a, (size_t)j * 8 + 8), 1, (size_t)j * 8 + 8);
        hk_arena_printf(a, "%zu", i);
        hk_arena_reset(a);
    }
    return NULL;
}

/* Another thread's arena figures, read while it allocates and resets (the report's arenas lines
 * come from the same reads; its per-page walk of the heap is a snapshot that races by design). */
static void test_stats_while_busy(void) {
    busy_t b = {{hk_arena_create("busy", NULL, 0), hk_arena_create("busy", NULL, 0)}, 0, hkt_scaled(3000)};
    REQUIRE(b.arenas[0] && b.arenas[1]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, own_arena_main, &b);
    size_t reads = 0;
    while (atomic_load(&b.ready) < 2 || reads < 200) {
        for (int i = 0; i < 2; i++) {
            hk_arena_stats_t st;
            hk_arena_stats(b.arenas[i], &st);
            /* figures move while read; the first chunk is always there */
            CHECKF(st.chunks >= 1 && st.chunk_bytes >= 4096 && strcmp(st.name, "busy") == 0, "chunks %zu bytes %zu",
                   st.chunks, st.chunk_bytes);
        }
        reads++;
        sched_yield();
    }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) hk_arena_destroy(b.arenas[i]);
}

int main(void) {
    hkt_begin("arena_threads", 600);
    test_locked_shared();
    test_children();
    test_handover();
    test_stats_while_busy();
    return hkt_done();
}
