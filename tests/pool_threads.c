/* pool_threads.c — hk_pool across threads, both modes: producers allocate and consumers free
 * (cross-thread frees) while the producers exit; objects of a thread that exited are freed by
 * others and its chunks adopted; threads churn a shared set of slots, freeing each other's
 * objects; threads exit while others free into their chunks; constructor and destructor calls
 * stay balanced; statistics are read while all this runs; a SHARED pool's per-thread magazines
 * count as free and go back to the pool when their thread exits. No object is ever handed to two
 * owners (each carries a stamp checked at free), and once everything is freed and the pool
 * trimmed, nothing is live and no chunk is left: nothing lost, nothing freed twice. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>

#define STAMP_MAGIC 0x5ca1ab1e00000000ull

typedef struct obj_s {
    uint64_t reserved; /* the pool may use the first word of a free object */
    uint64_t stamp;    /* STAMP_MAGIC ^ address while live: two owners would disagree */
    uint64_t owner;
    uint64_t payload[5];
} obj_t;

static const unsigned k_modes[] = {HK_POOL_LOCAL, HK_POOL_SHARED};
static const char *mode_name(unsigned m) { return m == HK_POOL_LOCAL ? "local" : "shared"; }

static _Atomic size_t g_bad;

static obj_t *obj_new(hk_pool_t *pool, uint64_t owner) {
    obj_t *o = hk_pool_alloc(pool);
    if (o == NULL) {
        atomic_fetch_add(&g_bad, 1);
        return NULL;
    }
    if (o->stamp == (STAMP_MAGIC ^ (uintptr_t)o)) atomic_fetch_add(&g_bad, 1); /* still live elsewhere */
    o->stamp = STAMP_MAGIC ^ (uintptr_t)o;
    o->owner = owner;
    for (int i = 0; i < 5; i++) o->payload[i] = owner * 31 + (uint64_t)i;
    return o;
}

static void obj_free(hk_pool_t *pool, obj_t *o) {
    bool ok = o->stamp == (STAMP_MAGIC ^ (uintptr_t)o);
    for (int i = 0; i < 5 && ok; i++) ok = o->payload[i] == o->owner * 31 + (uint64_t)i;
    if (!ok) atomic_fetch_add(&g_bad, 1);
    o->stamp = 0;
    hk_pool_free(pool, o);
}

/* Everything freed: after a trim (which also collects what other threads freed into chunks of
 * threads that exited) nothing is live and no chunk remains. */
static void check_empty(hk_pool_t *pool, const char *what) {
    hk_pool_trim(pool);
    hk_pool_stats_t st;
    hk_pool_stats(pool, &st);
    CHECKF(st.live == 0, "%s: %zu objects live after everything was freed", what, st.live);
    CHECKF(st.chunks == 0 && st.bytes == 0, "%s: %zu chunks (%zu bytes) left after trim", what, st.chunks, st.bytes);
    size_t bad = atomic_exchange(&g_bad, 0);
    CHECKF(bad == 0, "%s: %zu objects handed out twice, corrupted, or missing", what, bad);
}

/* ------------------------------------------------------------- producers and consumers */

typedef struct pipe_s {
    hk_pool_t *pool;
    hkt_queue_t queue;
    size_t per_producer;
    uint64_t id;
} pipe_t;

static void *producer_main(void *arg) {
    pipe_t *p = arg;
    uint64_t id = __atomic_add_fetch(&p->id, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < p->per_producer; i++) hkt_queue_push(&p->queue, obj_new(p->pool, id));
    return NULL; /* exits while its objects are still being freed by the consumers */
}

static void *consumer_main(void *arg) {
    pipe_t *p = arg;
    for (;;) {
        obj_t *o = hkt_queue_pop(&p->queue);
        if (o == (obj_t *)p) return NULL; /* end marker */
        if (o != NULL) obj_free(p->pool, o);
    }
}

static void test_pipeline(unsigned mode) {
    enum { PRODUCERS = 3, CONSUMERS = 2 };
    pipe_t p = {.per_producer = hkt_scaled(40000)};
    p.pool = hk_pool_create("pipeline", sizeof(obj_t), 0, mode, NULL, NULL, NULL);
    REQUIRE(p.pool != NULL);
    hkt_queue_init(&p.queue);
    pthread_t prod[PRODUCERS], cons[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) pthread_create(&cons[i], NULL, consumer_main, &p);
    for (int round = 0; round < 2; round++) { /* the second round's producers adopt the first's chunks */
        for (int i = 0; i < PRODUCERS; i++) pthread_create(&prod[i], NULL, producer_main, &p);
        for (int i = 0; i < PRODUCERS; i++) pthread_join(prod[i], NULL);
    }
    for (int i = 0; i < CONSUMERS; i++) hkt_queue_push(&p.queue, &p);
    for (int i = 0; i < CONSUMERS; i++) pthread_join(cons[i], NULL);
    hkt_queue_destroy(&p.queue);
    char what[64];
    snprintf(what, sizeof what, "pipeline (%s)", mode_name(mode));
    check_empty(p.pool, what);
    hk_pool_destroy(p.pool);
}

/* ------------------------------------------------------------- the owner exits first */

typedef struct batch_s {
    hk_pool_t *pool;
    obj_t **objs;
    size_t n;
} batch_t;

static void *alloc_batch_main(void *arg) {
    batch_t *b = arg;
    for (size_t i = 0; i < b->n; i++) b->objs[i] = obj_new(b->pool, 7);
    return NULL;
}

static void *free_batch_main(void *arg) {
    batch_t *b = arg;
    for (size_t i = 0; i < b->n; i++) obj_free(b->pool, b->objs[i]);
    return NULL;
}

static void test_owner_exited(void) {
    hk_pool_t *pool = hk_pool_create("orphans", sizeof(obj_t), 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(pool != NULL);
    size_t n = hkt_scaled(30000);
    batch_t b = {pool, hk_malloc(n * sizeof(obj_t *)), n};
    REQUIRE(b.objs != NULL);
    pthread_t t;
    /* 1. a thread allocates and exits; this thread frees everything (adopting the chunks) */
    pthread_create(&t, NULL, alloc_batch_main, &b);
    pthread_join(t, NULL);
    hk_pool_stats_t st;
    hk_pool_stats(pool, &st);
    CHECKF(st.live == n, "after the owner exited: %zu live, want %zu", st.live, n);
    size_t chunks = st.chunks;
    free_batch_main(&b);
    hk_pool_stats(pool, &st);
    CHECKF(st.live == 0, "freed by another thread after the owner exited: %zu still live", st.live);
    check_empty(pool, "owner exited, freed here");

    /* 2. a thread allocates and exits; another frees half (its chunks are orphans, the frees
     * go onto their lists or adopt them); a third allocates: it reuses those chunks */
    pthread_create(&t, NULL, alloc_batch_main, &b);
    pthread_join(t, NULL);
    batch_t half = {pool, b.objs, n / 2};
    pthread_create(&t, NULL, free_batch_main, &half);
    pthread_join(t, NULL);
    batch_t again = {pool, hk_malloc(n / 2 * sizeof(obj_t *)), n / 2};
    REQUIRE(again.objs != NULL);
    pthread_create(&t, NULL, alloc_batch_main, &again);
    pthread_join(t, NULL);
    hk_pool_stats(pool, &st);
    CHECKF(st.live == n, "live %zu, want %zu", st.live, n);
    CHECKF(st.chunks <= chunks + 2, "%zu chunks for %zu live objects; %zu held them before", st.chunks, n, chunks);
    batch_t rest = {pool, b.objs + n / 2, n - n / 2};
    pthread_create(&t, NULL, free_batch_main, &rest);
    free_batch_main(&again);
    pthread_join(t, NULL);
    check_empty(pool, "orphans reused");
    hk_free(again.objs);
    hk_free(b.objs);
    hk_pool_destroy(pool);
}

/* ------------------------------------------------------------- churn with shared slots */

typedef struct churn_s {
    hk_pool_t *pool;
    _Atomic(obj_t *) *slots;
    size_t nslots, iters;
    uint64_t seed;
} churn_t;

static void *churn_main(void *arg) {
    churn_t *c = arg;
    uint64_t s = __atomic_add_fetch(&c->seed, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED) | 1;
    for (size_t i = 0; i < c->iters; i++) {
        size_t k = (size_t)(hkt_rand(&s) % c->nslots);
        obj_t *fresh = (hkt_rand(&s) & 3) ? obj_new(c->pool, s & 0xffff) : NULL;
        obj_t *old = atomic_exchange(&c->slots[k], fresh);
        if (old != NULL) obj_free(c->pool, old); /* often another thread's object */
    }
    return NULL;
}

typedef struct stats_reader_s {
    hk_pool_t *pool;
    _Atomic bool stop;
    size_t reads;
} stats_reader_t;

/* The pool's figures, read while its users work (hk_pool_stats is what the report's pools lines
 * use; the report's per-page walk of the heap is a snapshot that races with allocation by design). */
static void *stats_main(void *arg) {
    stats_reader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        hk_pool_stats_t st;
        hk_pool_stats(r->pool, &st);
        /* figures move while read; what must hold is the pool's identity and its chunk geometry */
        if (strcmp(st.name, "churn") != 0 || st.object_size != sizeof(obj_t) || st.bytes % 65536 != 0)
            atomic_fetch_add(&g_bad, 1);
        r->reads++;
        sched_yield();
    }
    return NULL;
}

static void test_churn(unsigned mode) {
    enum { THREADS = 4 };
    churn_t c = {.nslots = 2048, .iters = hkt_scaled(150000), .seed = 42};
    c.pool = hk_pool_create("churn", sizeof(obj_t), 0, mode, NULL, NULL, NULL);
    REQUIRE(c.pool != NULL);
    c.slots = hk_calloc(c.nslots, sizeof *c.slots);
    REQUIRE(c.slots != NULL);
    stats_reader_t reader = {c.pool, false, 0};
    pthread_t stats_thread, t[THREADS];
    pthread_create(&stats_thread, NULL, stats_main, &reader);
    for (int round = 0; round < 2; round++) { /* threads of round 2 inherit round 1's objects and chunks */
        for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn_main, &c);
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    }
    atomic_store(&reader.stop, true);
    pthread_join(stats_thread, NULL);
    CHECK(reader.reads > 0);
    for (size_t k = 0; k < c.nslots; k++) {
        obj_t *o = atomic_exchange(&c.slots[k], NULL);
        if (o != NULL) obj_free(c.pool, o);
    }
    char what[64];
    snprintf(what, sizeof what, "churn (%s)", mode_name(mode));
    check_empty(c.pool, what);
    hk_free(c.slots);
    hk_pool_destroy(c.pool);
}

/* ------------------------------------------------------------- exits racing remote frees */

typedef struct racer_s {
    hk_pool_t *pool;
    hkt_queue_t *queue;
} racer_t;

static void *short_lived_main(void *arg) {
    racer_t *r = arg;
    for (int i = 0; i < 300; i++) hkt_queue_push(r->queue, obj_new(r->pool, 3));
    return NULL; /* gone while the freer is still at work on its objects */
}

static void *freer_main(void *arg) {
    racer_t *r = arg;
    for (;;) {
        obj_t *o = hkt_queue_pop(r->queue);
        if (o == NULL) return NULL;
        obj_free(r->pool, o);
    }
}

static void test_exit_race(void) {
    hkt_queue_t q;
    hkt_queue_init(&q);
    racer_t r = {hk_pool_create("exit-race", sizeof(obj_t), 0, HK_POOL_LOCAL, NULL, NULL, NULL), &q};
    REQUIRE(r.pool != NULL);
    pthread_t freers[2];
    for (int i = 0; i < 2; i++) pthread_create(&freers[i], NULL, freer_main, &r);
    size_t rounds = hkt_scaled(60);
    for (size_t round = 0; round < rounds; round++) {
        pthread_t a, b;
        pthread_create(&a, NULL, short_lived_main, &r);
        pthread_create(&b, NULL, short_lived_main, &r);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
    }
    for (int i = 0; i < 2; i++) hkt_queue_push(&q, NULL);
    for (int i = 0; i < 2; i++) pthread_join(freers[i], NULL);
    hkt_queue_destroy(&q);
    check_empty(r.pool, "exit race");
    hk_pool_destroy(r.pool);
}

/* ------------------------------------------------------------- constructors across threads */

static _Atomic size_t g_ctor, g_dtor;
static void count_ctor(void *p, void *arg) {
    (void)arg;
    memset(p, 0, sizeof(obj_t));
    atomic_fetch_add(&g_ctor, 1);
}
static void count_dtor(void *p, void *arg) {
    (void)p;
    (void)arg;
    atomic_fetch_add(&g_dtor, 1);
}

static void test_ctor_threads(unsigned mode) {
    enum { THREADS = 3 };
    churn_t c = {.nslots = 512, .iters = hkt_scaled(60000), .seed = 7};
    c.pool = hk_pool_create("ctor-threads", sizeof(obj_t), 0, mode, count_ctor, count_dtor, NULL);
    REQUIRE(c.pool != NULL);
    c.slots = hk_calloc(c.nslots, sizeof *c.slots);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn_main, &c);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    for (size_t k = 0; k < c.nslots; k++) {
        obj_t *o = atomic_exchange(&c.slots[k], NULL);
        if (o != NULL) obj_free(c.pool, o);
    }
    hk_pool_destroy(c.pool);
    size_t made = atomic_load(&g_ctor), unmade = atomic_load(&g_dtor);
    CHECKF(made > 0 && made == unmade, "%s: %zu objects constructed, %zu destructed", mode_name(mode), made, unmade);
    CHECKF(atomic_exchange(&g_bad, 0) == 0, "%s: objects corrupted or handed out twice", mode_name(mode));
    atomic_store(&g_ctor, 0);
    atomic_store(&g_dtor, 0);
    hk_free(c.slots);
}

/* ------------------------------------------------------------- thread exit, the core's
 * A thread's pool caches are handed over by the core's thread exit (the thread is named by its
 * heap). These threads use only pools (this flavour's malloc is glibc's), so their heap is made
 * for the pools; their heap records are reused by the next threads, so a token comes back. */

static pthread_key_t g_late_key;
static obj_t *g_late[8][64];
static _Atomic int g_late_next;

/* A program's own thread-key destructor, run after heapkit's (its key is newer): it allocates
 * and frees objects after the thread's heap and caches were handed over, so the thread gets a
 * fresh heap and cache, which must be handed over too (another destructor round). */
static void late_destructor(void *arg) {
    hk_pool_t *pool = arg;
    int slot = atomic_fetch_add(&g_late_next, 1);
    for (int i = 0; i < 64; i++) {
        obj_t *scratch = obj_new(pool, 11);
        g_late[slot][i] = obj_new(pool, 12); /* left live, freed by the main thread */
        if (scratch != NULL) obj_free(pool, scratch);
    }
}

static void *late_main(void *arg) {
    hk_pool_t *pool = arg;
    obj_t *o = obj_new(pool, 10);
    if (o != NULL) obj_free(pool, o);
    pthread_setspecific(g_late_key, pool);
    return NULL;
}

static void test_exit_destructor(void) {
    hk_pool_t *pool = hk_pool_create("late-exit", sizeof(obj_t), 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(pool != NULL);
    REQUIRE(pthread_key_create(&g_late_key, late_destructor) == 0);
    for (int round = 0; round < 2; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, late_main, pool);
        for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    }
    CHECKF(atomic_load(&g_late_next) == 8, "%d late destructors ran, want 8", atomic_load(&g_late_next));
    hk_pool_stats_t st;
    hk_pool_stats(pool, &st);
    CHECKF(st.live == 8 * 64, "after the late destructors: %zu live, want %d", st.live, 8 * 64);
    for (int s = 0; s < 8; s++)
        for (int i = 0; i < 64; i++)
            if (g_late[s][i] != NULL) obj_free(pool, g_late[s][i]); /* chunks of caches that must be gone */
    check_empty(pool, "pool used in a thread-key destructor after heapkit's");
    pthread_key_delete(g_late_key);
    hk_pool_destroy(pool);
}

typedef struct relay_s {
    hk_pool_t *pool;
    obj_t *objs[200];
} relay_t;

/* Frees the previous thread's objects (its chunks are orphans by now, and this thread may well
 * have its heap record, so its token) and leaves its own for the next. */
static void *relay_main(void *arg) {
    relay_t *r = arg;
    for (int i = 0; i < 200; i++) {
        obj_t *mine = obj_new(r->pool, 20);
        if (r->objs[i] != NULL) obj_free(r->pool, r->objs[i]);
        r->objs[i] = mine;
    }
    return NULL;
}

static void test_token_reuse(void) {
    relay_t r = {hk_pool_create("relay", sizeof(obj_t), 0, HK_POOL_LOCAL, NULL, NULL, NULL), {NULL}};
    REQUIRE(r.pool != NULL);
    for (int n = 0; n < 40; n++) {
        pthread_t t;
        pthread_create(&t, NULL, relay_main, &r);
        pthread_join(t, NULL);
    }
    hk_pool_stats_t st;
    hk_pool_stats(r.pool, &st);
    CHECKF(st.live == 200, "relay: %zu live, want 200", st.live);
    for (int i = 0; i < 200; i++) obj_free(r.pool, r.objs[i]);
    check_empty(r.pool, "relay of threads reusing heap records");
    hk_pool_destroy(r.pool);
}

/* ------------------------------------------------------------- a SHARED pool's magazines */

/* A thread's magazine holds objects it freed; they are free in the statistics while it lives,
 * and go back to the pool when it exits. Another thread's frees of its objects (more than a
 * magazine holds) go through that thread's magazine into the pool, and everything comes back
 * out exactly once. */
#define MAG_OBJECTS 1000
#define MAG_FREED_BY_OWNER 10
#define MAG_FREED_BY_MAIN 300
typedef struct mag_s {
    hk_pool_t *pool;
    obj_t *objs[MAG_OBJECTS];
    sem_t made, checked;
} mag_t;

static void *mag_main(void *arg) {
    mag_t *m = arg;
    for (int i = 0; i < MAG_OBJECTS; i++) m->objs[i] = obj_new(m->pool, 40);
    for (int i = 0; i < MAG_FREED_BY_OWNER; i++) obj_free(m->pool, m->objs[i]);
    sem_post(&m->made);
    sem_wait(&m->checked); /* the main thread read the statistics while we live */
    return NULL;
}

static void test_shared_magazines(void) {
    static mag_t m;
    m.pool = hk_pool_create("magazines", sizeof(obj_t), 0, HK_POOL_SHARED, NULL, NULL, NULL);
    REQUIRE(m.pool != NULL);
    sem_init(&m.made, 0, 0);
    sem_init(&m.checked, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, mag_main, &m);
    sem_wait(&m.made);
    hk_pool_stats_t st;
    hk_pool_stats(m.pool, &st);
    CHECKF(st.live == MAG_OBJECTS - MAG_FREED_BY_OWNER, "magazines: %zu live while the owner holds %d in its magazine",
           st.live, MAG_FREED_BY_OWNER);
    for (int i = MAG_FREED_BY_OWNER; i < MAG_FREED_BY_OWNER + MAG_FREED_BY_MAIN; i++) obj_free(m.pool, m.objs[i]);
    sem_post(&m.checked);
    pthread_join(t, NULL);
    hk_pool_stats(m.pool, &st);
    size_t left = MAG_OBJECTS - MAG_FREED_BY_OWNER - MAG_FREED_BY_MAIN;
    CHECKF(st.live == left, "magazines: %zu live after the owner exited, want %zu", st.live, left);
    /* every free object comes out once: a stamp still set means one was handed out twice */
    obj_t *again[MAG_FREED_BY_OWNER + MAG_FREED_BY_MAIN];
    for (int i = 0; i < MAG_FREED_BY_OWNER + MAG_FREED_BY_MAIN; i++) again[i] = obj_new(m.pool, 41);
    for (int i = 0; i < MAG_FREED_BY_OWNER + MAG_FREED_BY_MAIN; i++) obj_free(m.pool, again[i]);
    for (int i = MAG_FREED_BY_OWNER + MAG_FREED_BY_MAIN; i < MAG_OBJECTS; i++) obj_free(m.pool, m.objs[i]);
    check_empty(m.pool, "shared pool's magazines");
    hk_pool_destroy(m.pool);
    sem_destroy(&m.made);
    sem_destroy(&m.checked);
}

int main(void) {
    hkt_begin("pool_threads", 600);
    for (size_t m = 0; m < 2; m++) {
        test_pipeline(k_modes[m]);
        test_churn(k_modes[m]);
        test_ctor_threads(k_modes[m]);
    }
    test_owner_exited();
    test_exit_race();
    test_exit_destructor();
    test_token_reuse();
    test_shared_magazines();
    return hkt_done();
}
