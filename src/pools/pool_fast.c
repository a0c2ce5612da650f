/* pool_fast.c — the thread's record behind the callers' inline pool paths
 * (include/heapkit_pool_inline.h): which LOCAL pool the thread used last and where its cache is.
 * A thread's call fills it in (pool.c, on the slow path that finds the thread's cache); it is
 * emptied when that pool is destroyed by any thread, when the thread exits, and in a forked child
 * for the threads that do not exist there. So the inline code's one compare, the record's pool
 * against the caller's, is also the handle check: a destroyed pool is never in any record.
 * Every thread with a filled record is on one list, so a destroy can reach the others' records;
 * each record has a lock of one word, taken by its thread to fill it and by a destroy to empty
 * it, so a destroy never leaves a record half written. */
#include "pool.h"

/* The empty record: for pool an address that no pool has (so no call, NULL's included, matches
 * and the inline paths read nothing), and, should one match all the same, a cache that is both
 * empty and full, so it finds no object to take and no room to put one: it calls. */
static void *hk_pool_fast_none_slot[1];
static void **hk_pool_fast_none_top = hk_pool_fast_none_slot;
#define HK_POOL_FAST_NO_POOL ((hk_pool_t *)(void *)hk_pool_fast_none_slot)

HK_API __thread hk_pool_tls_v1_t hk_pool_tls_v1 __attribute__((tls_model("initial-exec"))) = {
    HK_POOL_FAST_NO_POOL, &hk_pool_fast_none_top, hk_pool_fast_none_slot, hk_pool_fast_none_slot, 0};

/* A thread's place on the list (its own, in its TLS: on the list only while the thread lives). */
typedef struct hk_pool_fast_link_s {
    hk_pool_tls_v1_t *record;
    _Atomic uint32_t lock; /* hk_spin_lock: the record is being written */
    struct hk_pool_fast_link_s *next, *prev;
    bool listed;
    bool exited; /* the thread's exit ran: its record stays empty from now on */
} hk_pool_fast_link_t;

static __thread hk_pool_fast_link_t hk_pool_fast_me __attribute__((tls_model("initial-exec")));

static struct {
    pthread_mutex_t lock; /* the list; a destroy holds it while it empties records */
    hk_pool_fast_link_t *threads;
} hk_pool_fast = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void hk_pool_fast_empty(hk_pool_tls_v1_t *t) {
    atomic_store_explicit((_Atomic(hk_pool_t *) *)&t->pool, HK_POOL_FAST_NO_POOL, memory_order_relaxed);
    t->top = &hk_pool_fast_none_top;
    t->floor = hk_pool_fast_none_slot;
    t->end = hk_pool_fast_none_slot;
    t->live_key = 0;
}

void hk_pool_fast_arm(hk_pool_t *pool, hk_pool_cache_t *c) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    hk_pool_tls_v1_t *t = &hk_pool_tls_v1;
    if (me->exited || t->pool == pool) return;
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
    t->top = (void ***)&c->top; /* the cache's own word: the library's paths see the same top */
    t->floor = c->objs;
    t->end = c->end;
    t->live_key = pool->live_key;
    atomic_store_explicit((_Atomic(hk_pool_t *) *)&t->pool, pool, memory_order_relaxed);
    hk_spin_unlock(&me->lock);
}

void hk_pool_fast_forget(const hk_pool_t *pool) {
    pthread_mutex_lock(&hk_pool_fast.lock);
    for (hk_pool_fast_link_t *l = hk_pool_fast.threads; l != NULL; l = l->next) {
        hk_spin_lock(&l->lock);
        if (atomic_load_explicit((_Atomic(hk_pool_t *) *)&l->record->pool, memory_order_relaxed) == pool)
            hk_pool_fast_empty(l->record);
        hk_spin_unlock(&l->lock);
    }
    pthread_mutex_unlock(&hk_pool_fast.lock);
}

void hk_pool_fast_thread_exit(void) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    me->exited = true; /* a pool call later in the exit takes the library's paths */
    if (me->listed) {
        pthread_mutex_lock(&hk_pool_fast.lock);
        if (me->prev != NULL) me->prev->next = me->next;
        else hk_pool_fast.threads = me->next;
        if (me->next != NULL) me->next->prev = me->prev;
        me->listed = false;
        pthread_mutex_unlock(&hk_pool_fast.lock);
    }
    hk_pool_fast_empty(&hk_pool_tls_v1);
}

/* Only the forking thread exists in the child: the list is its record alone. */
void hk_pool_fast_fork_child(void) {
    hk_pool_fast_link_t *me = &hk_pool_fast_me;
    atomic_store_explicit(&me->lock, 0, memory_order_relaxed);
    hk_pool_fast.threads = NULL;
    if (me->listed) {
        me->next = me->prev = NULL;
        hk_pool_fast.threads = me;
    }
}

HK_LOCK(pool_fast, HK_LOCK_POOL_IDS, &hk_pool_fast.lock);
