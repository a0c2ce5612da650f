/* pool_fast.c — the thread's record behind the callers' inline pool paths
 * (include/heapkit_pool_inline.h): which pool the thread used last, and its cache of it (a
 * LOCAL pool's cache, or a SHARED pool's magazine: pool.c arms and disarms either alike),
 * whose top lives in the record while the record serves the cache ("armed"): the inline paths
 * then reach it with no pointer between, and the cache's own top is stale until the library
 * takes it back ("disarms"). That happens on the owner's slow paths (pool.c disarms before it
 * refills, flushes or trims, and arms again after), when the thread switches pools, when the
 * pool is destroyed by any thread, when the thread exits, and in a forked child for the threads
 * that do not exist there; statistics read an armed cache's top from the record.
 * The record is emptied whenever its pool is destroyed, so the inline code's one compare, the
 * record's pool against the caller's, is also the handle check: a destroyed pool is never in any
 * record. Every thread with a filled record is on one list, so a destroy can reach the others'
 * records; each record has a lock of one word, taken by its thread to fill it and by a destroy
 * to empty it, so a destroy never leaves a record half written. */
#include "pool.h"

/* The empty record: for pool an address that no pool has (so no call, NULL's included, matches
 * and the inline paths read nothing), and, should one match all the same, a cache that is both
 * empty and full, so it finds no object to take and no room to put one: it calls. */
static void *hk_pool_fast_none_slot[1];
#define HK_POOL_FAST_NO_POOL ((hk_pool_t *)(void *)hk_pool_fast_none_slot)

HK_API __thread hk_pool_tls_v3_t hk_pool_tls_v3 __attribute__((tls_model("initial-exec"))) = {
    HK_POOL_FAST_NO_POOL, hk_pool_fast_none_slot, hk_pool_fast_none_slot, hk_pool_fast_none_slot, 0};

/* Version 1 of the record (the cache's top behind a pointer), for programs built against the
 * header before version 2: still exported, never filled in, so their inline paths always call. */
typedef struct hk_pool_tls_v1_s {
    hk_pool_t *pool;
    void ***top;
    void **floor, **end;
    uintptr_t live_key;
} hk_pool_tls_v1_t;
static void **hk_pool_fast_none_top = hk_pool_fast_none_slot;
extern __thread hk_pool_tls_v1_t hk_pool_tls_v1 __attribute__((tls_model("initial-exec"), visibility("default")));
HK_API __thread hk_pool_tls_v1_t hk_pool_tls_v1 __attribute__((tls_model("initial-exec"))) = {
    HK_POOL_FAST_NO_POOL, &hk_pool_fast_none_top, hk_pool_fast_none_slot, hk_pool_fast_none_slot, 0};

/* Version 2 of the record (version 3's layout, before the library promised that every object in
 * a served cache has its word "free, in a cache"): its inline alloc wrote the whole live mark,
 * which this library would accept, but version 3's paths rely on the promise, so the library
 * names itself by version 3 alone; version 2 stays exported and empty, so older programs call. */
typedef hk_pool_tls_v3_t hk_pool_tls_v2_t;
extern __thread hk_pool_tls_v2_t hk_pool_tls_v2 __attribute__((tls_model("initial-exec"), visibility("default")));
HK_API __thread hk_pool_tls_v2_t hk_pool_tls_v2 __attribute__((tls_model("initial-exec"))) = {
    HK_POOL_FAST_NO_POOL, hk_pool_fast_none_slot, hk_pool_fast_none_slot, hk_pool_fast_none_slot, 0};

/* A thread's place on the list (its own, in its TLS: on the list only while the thread lives). */
typedef struct hk_pool_fast_link_s {
    hk_pool_tls_v3_t *record;
    hk_pool_cache_t *_Atomic cache; /* the cache the record serves, NULL when empty */
    _Atomic uint32_t lock;          /* hk_spin_lock: the record is being written */
    struct hk_pool_fast_link_s *next, *prev;
    bool listed;
    bool exited; /* the thread's exit ran: its record stays empty from now on */
} hk_pool_fast_link_t;

static __thread hk_pool_fast_link_t hk_pool_fast_me __attribute__((tls_model("initial-exec")));

static struct {
    pthread_mutex_t lock; /* the list; a destroy holds it while it empties records */
    hk_pool_fast_link_t *threads;
} hk_pool_fast = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void hk_pool_fast_empty(hk_pool_tls_v3_t *t) {
    atomic_store_explicit((_Atomic(hk_pool_t *) *)&t->pool, HK_POOL_FAST_NO_POOL, memory_order_relaxed);
    atomic_store_explicit((_Atomic(void **) *)&t->top, hk_pool_fast_none_slot, memory_order_relaxed);
    t->floor = hk_pool_fast_none_slot;
    t->end = hk_pool_fast_none_slot;
    t->live_key = 0;
}

static void **hk_pool_fast_top(hk_pool_tls_v3_t *t) {
    return atomic_load_explicit((_Atomic(void **) *)&t->top, memory_order_relaxed);
}

/* The record's top back into the cache it serves, and the record emptied (under the record's
 * lock, or in a forked child where its thread does not exist). */
hk_plain_path static void hk_pool_fast_let_go(hk_pool_fast_link_t *l) {
    hk_pool_cache_t *c = atomic_load_explicit(&l->cache, memory_order_relaxed);
    if (c == NULL) return;
    hk_spin_lock(&c->arm_lock);
    atomic_store_explicit(&c->top, hk_pool_fast_top(l->record), memory_order_relaxed);
    atomic_store_explicit(&c->armed, NULL, memory_order_relaxed);
    hk_spin_unlock(&c->arm_lock);
    atomic_store_explicit(&l->cache, NULL, memory_order_relaxed);
    hk_pool_fast_empty(l->record);
}

/* The record serves c from now on (its top moves into the record); whatever it served before
 * gets its top back first. */
void hk_pool_fast_arm(hk_pool_t *pool, hk_pool_cache_t *c) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    hk_pool_tls_v3_t *t = &hk_pool_tls_v3;
    if (me->exited) return;
    if (atomic_load_explicit(&me->cache, memory_order_relaxed) == c) {
        /* armed already (a nested call of the owner's, from a constructor): the cache's top,
         * which this call worked on, is the current one */
        atomic_store_explicit((_Atomic(void **) *)&t->top, atomic_load_explicit(&c->top, memory_order_relaxed),
                              memory_order_relaxed);
        return;
    }
    if (!me->listed) {
        pthread_mutex_lock(&hk_pool_fast.lock);
        me->record = t;
        me->prev = NULL;
        me->next = hk_pool_fast.threads;
        if (me->next != NULL) me->next->prev = me;
        hk_pool_fast.threads = me;
        me->listed = true;
        pthread_mutex_unlock(&hk_pool_fast.lock);
    }
    hk_spin_lock(&me->lock);
    hk_pool_fast_let_go(me);
    hk_spin_lock(&c->arm_lock);
    atomic_store_explicit((_Atomic(void **) *)&t->top, atomic_load_explicit(&c->top, memory_order_relaxed),
                          memory_order_relaxed);
    t->floor = c->objs;
    t->end = c->end;
    t->live_key = pool->live_key;
    atomic_store_explicit(&c->armed, t, memory_order_relaxed);
    hk_spin_unlock(&c->arm_lock);
    atomic_store_explicit(&me->cache, c, memory_order_relaxed);
    atomic_store_explicit((_Atomic(hk_pool_t *) *)&t->pool, pool, memory_order_relaxed);
    hk_spin_unlock(&me->lock);
}

/* The owner is about to work on c itself: if the record serves it, its top goes back into it. */
void hk_pool_fast_disarm(hk_pool_cache_t *c) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    if (atomic_load_explicit(&me->cache, memory_order_relaxed) != c) return;
    hk_spin_lock(&me->lock);
    if (atomic_load_explicit(&me->cache, memory_order_relaxed) == c) hk_pool_fast_let_go(me);
    hk_spin_unlock(&me->lock);
}

/* Objects in c, from any thread (statistics, under the pool's lock): from the record's top when
 * armed. The owner lets go under arm_lock before it exits, so the record is there to read. */
uint32_t hk_pool_fast_cached(hk_pool_cache_t *c) {
    hk_spin_lock(&c->arm_lock);
    hk_pool_tls_v3_t *t = atomic_load_explicit(&c->armed, memory_order_relaxed);
    void **top = t != NULL ? hk_pool_fast_top(t) : atomic_load_explicit(&c->top, memory_order_relaxed);
    hk_spin_unlock(&c->arm_lock);
    return (uint32_t)(top - c->objs);
}

void hk_pool_fast_forget(const hk_pool_t *pool) {
    pthread_mutex_lock(&hk_pool_fast.lock);
    for (hk_pool_fast_link_t *l = hk_pool_fast.threads; l != NULL; l = l->next) {
        hk_spin_lock(&l->lock);
        if (atomic_load_explicit((_Atomic(hk_pool_t *) *)&l->record->pool, memory_order_relaxed) == pool)
            hk_pool_fast_let_go(l);
        hk_spin_unlock(&l->lock);
    }
    pthread_mutex_unlock(&hk_pool_fast.lock);
}

hk_plain_path void hk_pool_fast_thread_exit(void) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    hk_spin_lock(&me->lock);
    hk_pool_fast_let_go(me);
    me->exited = true; /* a pool call later in the exit takes the library's paths */
    hk_spin_unlock(&me->lock);
    if (me->listed) {
        pthread_mutex_lock(&hk_pool_fast.lock);
        if (me->prev != NULL) me->prev->next = me->next;
        else hk_pool_fast.threads = me->next;
        if (me->next != NULL) me->next->prev = me->prev;
        me->listed = false;
        pthread_mutex_unlock(&hk_pool_fast.lock);
    }
}

/* Only the forking thread exists in the child (the list's lock was held across the fork, so
 * the list is whole): the others' records give their caches' tops back, to be retired by
 * pool.c, and the list is the forking thread's record alone. A lock held by a thread that is
 * not in the child is released. */
hk_plain_path void hk_pool_fast_fork_child(void) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    for (hk_pool_fast_link_t *l = hk_pool_fast.threads; l != NULL; l = l->next) {
        atomic_store_explicit(&l->lock, 0, memory_order_relaxed);
        hk_pool_cache_t *c = atomic_load_explicit(&l->cache, memory_order_relaxed);
        if (c != NULL) atomic_store_explicit(&c->arm_lock, 0, memory_order_relaxed);
        if (l != me) hk_pool_fast_let_go(l);
    }
    hk_pool_fast.threads = NULL;
    if (me->listed) {
        me->next = me->prev = NULL;
        hk_pool_fast.threads = me;
    }
}

HK_LOCK(pool_fast, HK_LOCK_POOL_IDS, &hk_pool_fast.lock);
