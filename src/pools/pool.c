/* pool.c — hk_pool: fixed-size object pools, with one lock (HK_POOL_SHARED) or a cache per thread
 * (HK_POOL_LOCAL), in the manner of the kernel's slab caches.
 * Objects live in chunks from hk_aligned_alloc, each aligned to its size (64 KiB or more) with a
 * header in front: an object's chunk is its address with the low bits cleared, and the header
 * says whose chunk it is. Objects are made lazily, a batch at a time (the constructor runs then,
 * once per object). Before each object is a link word: a live object's holds its address xor-ed
 * with a secret, a free one's the next free object xor-ed with another. So one compare tells a
 * live object this pool handed out from an interior pointer, a double free or garbage, and the
 * free fast path needs no division and no list walk; the slow path sorts out the rest.
 * LOCAL: each thread has, per pool, a stack of free objects; the fast paths find it through one
 * thread-local pair (the last pool used and its cache), so alloc pops and free pushes with no
 * lock, no atomic read-modify-write, no table and no chunk header read. Any thread frees any
 * object into its own cache; when a cache overflows, objects of the thread's own chunks go back
 * onto their free lists and the others home, onto their chunk's atomic remote list (the core's
 * remote-free stack, core/remote.h; one compare-and-swap), which the owner takes when it next
 * refills. Threads are named as the core names them, by their heap
 * (pool.h), and a thread that exits is seen by the core's thread exit, which calls ours through
 * the subsystem table: it hands its chunks to the pool as orphans; the next thread that needs a
 * chunk or flushes objects into one adopts it, with its remote list. Nothing is lost, nothing is
 * freed twice.
 * SHARED (LOCKED): one such cache under one lock of one word (registry.h's hk_spin_lock), in
 * front of the pool's own chunks, and in front of it a magazine per thread (a cache of at most
 * 128 objects, served like a LOCAL pool's) that takes the lock only to refill or hand back half.
 * A magazine needs a pool id, as a LOCAL pool's thread caches do; without one (all 65,536 in use)
 * a SHARED pool is the locked cache alone.
 * Chunks whose objects are all free are given back beyond a reserve of one per thread
 * (pool_chunk.c); bad input is reported by pool_debug.c. */
#include "pool.h"

#define HK_POOL_CHUNK_MIN ((size_t)64 * 1024)
#define HK_POOL_CHUNK_MAX ((size_t)4 * 1024 * 1024) /* <= a segment: the header is in p's granule */
#define HK_POOL_MIN_OBJECTS 8
#define HK_POOL_SIZE_MAX ((size_t)512 * 1024)
#define HK_POOL_ALIGN_MAX ((size_t)4096)
#define HK_POOL_IDS 65536
#define HK_POOL_RESERVE 1 /* empty chunks a set keeps for the next burst */

/* A thread's table of caches, indexed by pool id; the generation tells a live pool's slot from
 * a stale one (a destroyed pool whose id was reused), whose cache is never touched. */
typedef struct hk_pool_slot_s {
    hk_pool_cache_t *cache;
    uint64_t gen;
} hk_pool_slot_t;

static __thread hk_pool_slot_t *hk_pool_slots __attribute__((tls_model("initial-exec")));
/* The fast paths' whole lookup: the last LOCAL pool this thread used, with the count of pools
 * and arenas destroyed so far when it found it live (as registry.h's remembered handle), and its
 * cache here. A match both vouches that the pool is live and names the cache, in two compares;
 * any destroy anywhere makes it stale. */
typedef struct hk_pool_last_s {
    const hk_pool_t *pool;
    uintptr_t deaths; /* odd when set: a zeroed record never matches */
    hk_pool_cache_t *cache;
} hk_pool_last_t;
static __thread hk_pool_last_t hk_pool_last __attribute__((tls_model("initial-exec")));
/* The same for the last SHARED pool the thread used, with its magazine (a LOCAL pool and a
 * SHARED one used in turn keep both remembered). */
static __thread hk_pool_last_t hk_pool_mag_last __attribute__((tls_model("initial-exec")));
static __thread uint32_t hk_pool_slot_count __attribute__((tls_model("initial-exec")));

static struct {
    pthread_mutex_t lock; /* ids and generations */
    uint64_t gen;
    uint64_t ids[HK_POOL_IDS / 64];
} hk_pools = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint32_t hk_pool_id_take(uint64_t *gen) {
    uint32_t id = UINT32_MAX;
    pthread_mutex_lock(&hk_pools.lock);
    *gen = ++hk_pools.gen;
    for (uint32_t w = 0; w < HK_POOL_IDS / 64 && id == UINT32_MAX; w++) {
        if (hk_pools.ids[w] == UINT64_MAX) continue;
        uint32_t bit = (uint32_t)__builtin_ctzll(~hk_pools.ids[w]);
        hk_pools.ids[w] |= (uint64_t)1 << bit;
        id = w * 64 + bit;
    }
    pthread_mutex_unlock(&hk_pools.lock);
    return id;
}

static void hk_pool_id_put(uint32_t id) {
    if (id == UINT32_MAX) return;
    pthread_mutex_lock(&hk_pools.lock);
    hk_pools.ids[id / 64] &= ~((uint64_t)1 << (id % 64));
    pthread_mutex_unlock(&hk_pools.lock);
}

/* ------------------------------------------------------------------ thread caches */

static hk_pool_cache_t *hk_pool_my_cache(const hk_pool_t *pool) {
    uint32_t id = pool->id;
    if (id < hk_pool_slot_count && hk_pool_slots[id].gen == pool->gen) return hk_pool_slots[id].cache;
    return NULL;
}

/* Room for slot `id` in this thread's table. */
static bool hk_pool_slots_reserve(uint32_t id) {
    if (id < hk_pool_slot_count) return true;
    uint32_t count = 16;
    while (count <= id) count *= 2;
    hk_pool_slot_t *table = hk_calloc(count, sizeof *table);
    if (table == NULL) return false;
    if (hk_pool_slots != NULL) {
        memcpy(table, hk_pool_slots, hk_pool_slot_count * sizeof *table);
        hk_free(hk_pool_slots);
    }
    hk_pool_slots = table;
    hk_pool_slot_count = count;
    return true;
}

static uint32_t hk_cache_count(hk_pool_cache_t *c) {
    return (uint32_t)(atomic_load_explicit(&c->top, memory_order_relaxed) - c->objs);
}

/* Objects a thread's cache holds at most: a LOCAL pool's is its whole cache; a SHARED pool's is
 * a magazine in front of the pool's cache, small, since each thread keeps one. */
static uint32_t hk_pool_cache_limit(const hk_pool_t *pool) {
    if (pool->mode == HK_POOL_MODE_LOCKED && pool->limit > HK_POOL_MAGAZINE) return HK_POOL_MAGAZINE;
    return pool->limit;
}

static hk_pool_cache_t *hk_pool_cache_create(hk_pool_t *pool) {
    /* The cache is named by its thread's heap, and handed over by that heap's exit: a thread that
     * has used only pools gets its heap here. */
    if (hk_heap_tls == &hk_heap_empty && hk_heap_thread_init() == NULL) return NULL;
    if (!hk_pool_slots_reserve(pool->id)) return NULL;
    pthread_mutex_lock(&pool->lock);
    hk_pool_cache_t *c = pool->spare;
    if (c != NULL) pool->spare = c->next;
    pthread_mutex_unlock(&pool->lock);
    if (c == NULL) {
        uint32_t limit = hk_pool_cache_limit(pool);
        size_t bytes = sizeof *c + limit * sizeof c->objs[0];
        c = hk_aligned_alloc(64, bytes);
        if (c == NULL) return NULL;
        memset(c, 0, bytes);
        atomic_store_explicit(&c->top, c->objs, memory_order_relaxed);
        c->end = c->objs + limit;
        c->limit = limit;
        c->set.cache = c;
    }
    /* A retired cache comes back empty (its chunks went to the orphans). It is not cleared: other
     * threads may still poke its remote_pending, which is harmless but must not race. */
    atomic_store_explicit(&c->remote_pending, 0, memory_order_relaxed);
    c->set.token = hk_pool_token();
    c->batch = HK_POOL_BATCH_FIRST < pool->limit / 2 ? HK_POOL_BATCH_FIRST : pool->limit / 2;
    pthread_mutex_lock(&pool->lock);
    c->prev = NULL;
    c->next = pool->caches;
    if (c->next != NULL) c->next->prev = c;
    pool->caches = c;
    pthread_mutex_unlock(&pool->lock);
    hk_pool_slots[pool->id] = (hk_pool_slot_t){c, pool->gen};
    return c;
}

/* A LOCKED pool's cache, made with the pool. */
static hk_pool_cache_t *hk_pool_locked_cache_new(const hk_pool_t *pool) {
    size_t bytes = sizeof(hk_pool_cache_t) + pool->limit * sizeof(void *);
    hk_pool_cache_t *c = hk_aligned_alloc(64, bytes);
    if (c == NULL) return NULL;
    memset(c, 0, bytes);
    atomic_store_explicit(&c->top, c->objs, memory_order_relaxed);
    c->end = c->objs + pool->limit;
    c->limit = pool->limit;
    c->batch = HK_POOL_BATCH_FIRST < pool->limit / 2 ? HK_POOL_BATCH_FIRST : pool->limit / 2;
    return c;
}

/* Objects whose chunk another set owns go home: onto their chunk's remote list (one
 * compare-and-swap for objs[0 .. n), all of chunk c), and its owner, if a thread, is told to
 * collect. */
static void hk_pool_send_home(hk_pool_t *pool, hk_pool_chunk_t *c, void *const *objs, uint32_t n) {
    for (uint32_t i = 0; i + 1 < n; i++) *hk_pool_link_of(pool, objs[i]) = (uintptr_t)objs[i + 1] ^ pool->key;
    hk_remote_push_chain(&c->remote, objs[0], hk_pool_link_of(pool, objs[n - 1]), n, (uintptr_t)c,
                         pool->key); /* the list ends at c */
    /* Caches are never freed while the pool lives, so a stale owner is harmless. */
    const hk_pool_set_t *owner = atomic_load_explicit(&c->owner, memory_order_acquire);
    if (owner->cache != NULL && !atomic_load_explicit(&owner->cache->remote_pending, memory_order_relaxed))
        atomic_store_explicit(&owner->cache->remote_pending, 1, memory_order_relaxed);
}

/* An orphan chunk (an exited thread's) becomes the cache's: true if it is now. */
static bool hk_pool_adopt_chunk(hk_pool_t *pool, hk_pool_cache_t *cache, hk_pool_chunk_t *c) {
    bool adopted = false;
    pthread_mutex_lock(&pool->lock);
    if (atomic_load_explicit(&c->owner, memory_order_relaxed) == &pool->shared) {
        hk_chunk_adopt(pool, cache, c);
        hk_pool_orphans_changed(pool);
        adopted = true;
    }
    pthread_mutex_unlock(&pool->lock);
    return adopted;
}

/* The n oldest objects of a cache back to their chunks: those of the cache's set onto their
 * free lists (a thread adopts an exited thread's chunk first), the others (freed here by a
 * thread that did not make them) home to their owners. A LOCKED pool's cache and its threads'
 * magazines (under the lock) have `shared` for their set, which owns all its chunks. */
static hk_pool_set_t *hk_cache_set(hk_pool_t *pool, hk_pool_cache_t *c) {
    return pool->mode == HK_POOL_MODE_LOCKED ? &pool->shared : &c->set; /* its cache, or a magazine */
}

static void hk_cache_flush(hk_pool_t *pool, hk_pool_cache_t *c, uint32_t n, uint32_t reserve) {
    hk_pool_set_t *set = hk_cache_set(pool, c);
    uint32_t count = hk_cache_count(c), own = 0;
    if (n > count) n = count;
    for (uint32_t i = 0; i < n; i++) {
        void *obj = c->objs[i];
        hk_pool_chunk_t *chunk = (hk_pool_chunk_t *)((uintptr_t)obj & pool->chunk_mask);
        const hk_pool_set_t *owner = atomic_load_explicit(&chunk->owner, memory_order_acquire);
        if (owner == set || (owner == &pool->shared && hk_pool_adopt_chunk(pool, c, chunk))) {
            hk_set_put(pool, set, obj, reserve);
            own++;
        } else { /* with the objects of the same chunk that follow (a consumer frees in runs) */
            uint32_t run = 1;
            while (i + run < n && ((uintptr_t)c->objs[i + run] & pool->chunk_mask) == (uintptr_t)chunk) run++;
            hk_pool_send_home(pool, chunk, c->objs + i, run);
            i += run - 1;
        }
    }
    memmove(c->objs, c->objs + n, (count - n) * sizeof c->objs[0]);
    atomic_store_explicit(&c->top, c->objs + count - n, memory_order_relaxed);
    hk_set_taken_add(set, -(intptr_t)own);
}

/* Fill an empty cache: remote frees first, then free objects of the thread's chunks, then
 * orphans, then a new chunk. Refills start small (a thread that needs a few objects makes a
 * few) and double. */
static bool hk_cache_refill(hk_pool_t *pool, hk_pool_cache_t *c) {
    hk_pool_set_t *set = hk_cache_set(pool, c);
    bool thread = set == &c->set;
    if (thread && atomic_load_explicit(&c->remote_pending, memory_order_relaxed)) {
        atomic_store_explicit(&c->remote_pending, 0, memory_order_relaxed);
        hk_set_collect_all(pool, set, HK_POOL_RESERVE);
    }
    uint32_t want = c->batch, n = 0;
    if (c->batch < c->limit / 2) c->batch = c->batch * 2 < c->limit / 2 ? c->batch * 2 : c->limit / 2;
    /* free objects of partly used chunks before new ones are made: fewer objects, fuller chunks */
    hk_pool_chunk_t *next;
    for (hk_pool_chunk_t *chunk = set->lists[HK_LIST_PARTIAL]; chunk != NULL && n < want; chunk = next) {
        next = chunk->next;
        n += hk_chunk_take(pool, chunk, c->objs + n, want - n, false);
        hk_set_settle(pool, set, chunk, HK_POOL_RESERVE);
    }
    while (n < want) {
        hk_pool_chunk_t *chunk = set->lists[HK_LIST_PARTIAL];
        if (chunk == NULL) chunk = set->lists[HK_LIST_EMPTY];
        if (chunk == NULL && thread && atomic_load_explicit(&pool->has_orphans, memory_order_relaxed))
            chunk = hk_set_adopt(pool, c);
        if (chunk == NULL) chunk = hk_chunk_new(pool, set);
        if (chunk == NULL) break;
        n += hk_chunk_take(pool, chunk, c->objs + n, want - n, true);
        hk_set_settle(pool, set, chunk, HK_POOL_RESERVE);
    }
    atomic_store_explicit(&c->top, c->objs + n, memory_order_relaxed);
    hk_set_taken_add(set, (intptr_t)n);
    return n > 0;
}

/* A cache whose thread is gone, out of the pool's list and onto its spares (pool->lock held). Kept,
 * not freed: a thread that read this cache as a chunk's owner may still poke it. */
static void hk_pool_cache_to_spares(hk_pool_t *pool, hk_pool_cache_t *c) {
    if (c->prev != NULL) c->prev->next = c->next;
    else pool->caches = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    c->prev = NULL;
    c->next = pool->spare;
    pool->spare = c;
}

/* The thread is gone (or, after fork, does not exist): its cached objects go back to its chunks,
 * and the chunks to the pool. */
static void hk_cache_retire(hk_pool_t *pool, hk_pool_cache_t *c) {
    hk_cache_flush(pool, c, UINT32_MAX, HK_POOL_RESERVE);
    hk_set_collect_all(pool, &c->set, 0);
    hk_set_release_empty(pool, &c->set, 0);
    pthread_mutex_lock(&pool->lock);
    for (int l = 0; l < HK_LIST_COUNT; l++) {
        while (c->set.lists[l] != NULL) {
            hk_pool_chunk_t *chunk = c->set.lists[l];
            hk_set_remove(&c->set, chunk);
            hk_chunk_set_owner(chunk, &pool->shared);
            hk_set_push(&pool->shared, chunk, (uint8_t)l);
        }
    }
    hk_set_taken_add(&pool->shared, (intptr_t)atomic_load_explicit(&c->set.taken, memory_order_relaxed));
    atomic_store_explicit(&c->set.taken, 0, memory_order_relaxed);
    c->set.token = 0;
    hk_pool_orphans_changed(pool);
    hk_pool_cache_to_spares(pool, c);
    pthread_mutex_unlock(&pool->lock);
}

/* ------------------------------------------------------------------ a SHARED pool's magazines */

/* A SHARED pool keeps, per thread that uses it, a magazine of up to HK_POOL_MAGAZINE free objects
 * (no more than a LOCAL pool's cache would hold, pool->limit) in front of its one cache under the lock: a thread allocates from and frees into its magazine
 * with no lock, and takes the lock once per half magazine to refill it from the pool's cache or
 * to hand half of it back. Every chunk stays the pool's (`shared`): any thread frees any object
 * into its own magazine, and an object in a magazine is free in the pool's eyes (statistics),
 * handed out only by that thread. The inline paths' record (pool_fast.c) serves a magazine as
 * it serves a LOCAL pool's cache, so most calls cost what a LOCAL pool's do. The checks are a
 * LOCAL pool's too: a free reads the word, compares and writes it with plain accesses, so of two
 * threads that free one object at the very same moment both may succeed (a double free caught
 * only when the frees do not overlap), as in a LOCAL pool. */

/* Half the magazine from the pool's cache (refilled from the chunks when empty): false if
 * there was nothing to take (out of memory). */
static hk_noinline bool hk_pool_mag_refill(hk_pool_t *pool, hk_pool_cache_t *m) {
    hk_pool_cache_t *c = pool->locked;
    uint32_t want = m->limit / 2 > 0 ? m->limit / 2 : 1, n;
    hk_spin_lock(&pool->spin);
    if (hk_cache_count(c) == 0) hk_cache_refill(pool, c);
    n = hk_cache_count(c);
    if (n > want) n = want;
    void **top = atomic_load_explicit(&c->top, memory_order_relaxed) - n;
    memcpy(m->objs, top, n * sizeof *top);
    atomic_store_explicit(&c->top, top, memory_order_relaxed);
    /* the magazine's top under the lock too: fork's prepare takes it, so a child never sees the
     * objects out of the cache and not yet in the magazine (lost) */
    atomic_store_explicit(&m->top, m->objs + n, memory_order_relaxed);
    hk_spin_unlock(&pool->spin);
    return n > 0;
}

/* A full magazine's older half into the pool's cache (whose older half goes back to the chunks
 * first when it has no room): the newer objects, likelier in the thread's cache, stay. */
static hk_noinline void hk_pool_mag_flush(hk_pool_t *pool, hk_pool_cache_t *m) {
    hk_pool_cache_t *c = pool->locked;
    uint32_t count = hk_cache_count(m), n = m->limit / 2 > 0 ? m->limit / 2 : 1;
    if (n > count) n = count;
    hk_spin_lock(&pool->spin);
    if ((uint32_t)(c->end - atomic_load_explicit(&c->top, memory_order_relaxed)) < n)
        hk_cache_flush(pool, c, c->limit / 2 > n ? c->limit / 2 : n, HK_POOL_RESERVE);
    void **top = atomic_load_explicit(&c->top, memory_order_relaxed);
    memcpy(top, m->objs, n * sizeof *top);
    atomic_store_explicit(&c->top, top + n, memory_order_relaxed);
    /* the magazine shrunk under the lock too: a child forked between the two would otherwise
     * retire this thread's magazine with its old top, and hand out twice what is also in the cache */
    memmove(m->objs, m->objs + n, (count - n) * sizeof m->objs[0]);
    atomic_store_explicit(&m->top, m->objs + count - n, memory_order_relaxed);
    hk_spin_unlock(&pool->spin);
}

/* The thread is gone (or, after fork, does not exist): its magazine's objects back to their
 * chunks, and the magazine to the pool's spares. */
static void hk_pool_mag_retire(hk_pool_t *pool, hk_pool_cache_t *m) {
    hk_spin_lock(&pool->spin);
    hk_cache_flush(pool, m, UINT32_MAX, HK_POOL_RESERVE);
    hk_spin_unlock(&pool->spin);
    pthread_mutex_lock(&pool->lock);
    m->set.token = 0;
    hk_pool_cache_to_spares(pool, m);
    pthread_mutex_unlock(&pool->lock);
}

/* This thread's cache of the pool (a LOCAL pool's, or a SHARED pool's magazine), made on first
 * use and remembered in *last for the fast paths; the slow path owns its top until
 * hk_pool_local_done. NULL: out of memory. */
static inline hk_pool_cache_t *hk_pool_cache_remembered(hk_pool_t *pool, uintptr_t deaths, hk_pool_last_t *last) {
    hk_pool_cache_t *c = hk_pool_my_cache(pool);
    if (c == NULL) c = hk_pool_cache_create(pool);
    if (c != NULL) {
        *last = (hk_pool_last_t){pool, deaths, c};
        hk_pool_fast_disarm(c);
    }
    return c;
}

/* This thread's magazine of a SHARED pool that has them (made on first use), remembered for the
 * fast paths (`deaths` was read before the pool was found live); NULL: none (no thread slot was
 * left for the pool, or out of memory). Its top is its own (the inline paths' record lets go of
 * it) until hk_pool_local_done. */
static hk_pool_cache_t *hk_pool_mag_of(hk_pool_t *pool, uintptr_t deaths) {
    if (pool->id == UINT32_MAX) return NULL;
    return hk_pool_cache_remembered(pool, deaths, &hk_pool_mag_last);
}

/* A live object into the magazine (not armed): false if the word does not say "live object of
 * this pool here": the caller reports it. */
hk_no_asan static inline bool hk_pool_mag_put(hk_pool_t *pool, hk_pool_cache_t *m, void *obj) {
    uintptr_t *link = hk_pool_link_of(pool, obj);
    if (hk_unlikely(*link != hk_pool_live_mark(pool, obj))) return false;
    if (hk_unlikely(atomic_load_explicit(&m->top, memory_order_relaxed) == m->end)) hk_pool_mag_flush(pool, m);
    *link = hk_pool_cached_mark(pool, obj);
    hk_pool_vg_free(pool, obj);
    hk_pool_poison_free(pool, obj);
    void **top = atomic_load_explicit(&m->top, memory_order_relaxed);
    *top = obj;
    atomic_store_explicit(&m->top, top + 1, memory_order_relaxed);
    return true;
}

static hk_pool_t *hk_pool_of_node(hk_reg_node_t *node) {
    return (hk_pool_t *)((uint8_t *)node - offsetof(hk_pool_t, reg));
}

static void hk_pool_retire_node(hk_reg_node_t *node, void *arg) {
    const hk_pool_slot_t *table = arg;
    hk_pool_t *pool = hk_pool_of_node(node);
    uint32_t id = pool->id;
    if (id >= hk_pool_slot_count || table[id].gen != pool->gen) return;
    if (pool->mode == HK_POOL_MODE_LOCKED) hk_pool_mag_retire(pool, table[id].cache);
    else hk_cache_retire(pool, table[id].cache);
}

/* The thread exits (the core's thread exit calls this, through the subsystem table, while the
 * thread's heap is still its own). The registry says which pools still exist: the caches of
 * destroyed pools are gone and must not be touched. */
hk_plain_path static void hk_pool_thread_exit(void) {
    hk_pool_slot_t *table = hk_pool_slots;
    hk_pool_fast_thread_exit(); /* before the caches go: the record names one */
    /* The retired cache may go to another thread: a pool call later in this thread's exit (a
     * thread-key destructor that runs after ours) takes the slow path and makes a new one. */
    hk_pool_last = (hk_pool_last_t){NULL, 0, NULL};
    hk_pool_mag_last = (hk_pool_last_t){NULL, 0, NULL};
    if (table == NULL) return;
    hk_registry_each(HK_REG_POOL, hk_pool_retire_node, table);
    hk_pool_slots = NULL;
    hk_pool_slot_count = 0;
    hk_free(table);
}

/* In a forked child only the forking thread exists: the other threads' caches are retired, so
 * their chunks become orphans (and a new thread that happens to get an old token owns nothing). */
static void hk_pool_after_fork_child_one(hk_reg_node_t *node, void *arg) {
    (void)arg;
    hk_pool_t *pool = hk_pool_of_node(node);
    hk_pool_cache_t *next;
    if (pool->mode == HK_POOL_MODE_LOCKED) { /* the magazines of threads not in the child */
        for (hk_pool_cache_t *c = pool->caches; c != NULL; c = next) {
            next = c->next;
            atomic_store_explicit(&c->arm_lock, 0, memory_order_relaxed); /* its taker may not be here */
            if (c->set.token != hk_pool_token()) hk_pool_mag_retire(pool, c);
        }
        return;
    }
    if (pool->mode != HK_POOL_MODE_LOCAL) return;
    for (hk_pool_cache_t *c = pool->caches; c != NULL; c = next) {
        next = c->next;
        atomic_store_explicit(&c->arm_lock, 0, memory_order_relaxed); /* its taker may not be here */
        if (c->set.token != hk_pool_token()) hk_cache_retire(pool, c);
    }
}

static void hk_pool_figures(hk_reg_node_t *node, hk_reg_figures_t *f);

/* ------------------------------------------------------------------ create, destroy */

HK_API hk_pool_t *hk_pool_create(const char *name, size_t size, size_t align, unsigned flags,
                                 void (*ctor)(void *obj, void *arg), void (*dtor)(void *obj, void *arg), void *arg) {
    unsigned mode_bits = flags & (HK_POOL_SHARED | HK_POOL_LOCAL);
    int node = hk_flags_node(flags);
    flags &= ~HK_ON_NODE_MASK;
    if (align == 0) align = size < 16 ? 8 : 16;
    /* the power of two is checked before small alignments are raised to 8: 3 is refused, not 8 */
    if (size == 0 || size > HK_POOL_SIZE_MAX || (align & (align - 1)) != 0 || align > HK_POOL_ALIGN_MAX ||
        (mode_bits != HK_POOL_SHARED && mode_bits != HK_POOL_LOCAL) || (flags & ~mode_bits) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (align < 8) align = 8;
    hk_process_init();
    if (node != HK_NUMA_ANY && !hk_numa_node_valid(node)) {
        errno = EINVAL;
        return NULL;
    }
    hk_pool_t *pool = hk_calloc(1, sizeof *pool);
    if (pool == NULL) return NULL;
    pool->size = size;
    pool->align = align;
    pool->ctor = ctor;
    pool->dtor = dtor;
    pool->arg = arg;
    pool->local = mode_bits == HK_POOL_LOCAL;
    pool->node = (int16_t)node;
    /* The link word comes before the object (so a constructed object keeps all its state while
     * free): the first one is the header's last word, the others the previous slot's. */
    pool->stride = hk_align_up(hk_align_up(size, sizeof(uintptr_t)) + sizeof(uintptr_t), align);
    pool->inverse = UINT64_MAX / pool->stride + 1;
    pool->first = hk_align_up(sizeof(hk_pool_chunk_t) + sizeof(uintptr_t), align);
    size_t chunk = HK_POOL_CHUNK_MIN;
    while ((chunk - pool->first) / pool->stride < HK_POOL_MIN_OBJECTS && chunk < HK_POOL_CHUNK_MAX) chunk *= 2;
    pool->chunk_size = chunk;
    pool->chunk_mask = ~(uintptr_t)(chunk - 1);
    pool->capacity = (uint32_t)((chunk - pool->first) / pool->stride);
    pool->span = (size_t)pool->capacity * pool->stride;
    size_t limit = HK_POOL_CACHE_BYTES / pool->stride;
    pool->limit = (uint32_t)(limit < HK_POOL_CACHE_MIN   ? HK_POOL_CACHE_MIN
                             : limit > HK_POOL_CACHE_MAX ? HK_POOL_CACHE_MAX
                                                         : limit);
    /* Its slow paths only: a SHARED pool's allocations and frees take `spin`. */
    pthread_mutex_init(&pool->lock, NULL);
    pool->id = UINT32_MAX;
    uint32_t id = hk_pool_id_take(&pool->gen);
    pool->tag = (uintptr_t)pool ^ hk_key ^ HK_POOL_MAGIC;
    /* Per pool and per generation: a later pool at the same address reads old words differently. */
    uint64_t k = (hk_key ^ (uintptr_t)pool ^ (pool->gen << 32)) * 0x9e3779b97f4a7c15ull;
    pool->key = ((uintptr_t)(k ^ (k >> 29)) | ((uintptr_t)1 << 62)) & ~(uintptr_t)7;
    pool->live_key = pool->key ^ ((uintptr_t)1 << 63);
    if (hk_tracking() || hk_checking()) { /* each object a heapkit block: tracked, or checked */
        pool->mode = HK_POOL_MODE_TRACKED;
        hk_pool_id_put(id);
    } else if (pool->local && id != UINT32_MAX) {
        pool->mode = HK_POOL_MODE_LOCAL;
        pool->id = id;
        /* The inline paths neither poison nor tell memcheck: there, every call comes here. */
#if defined(HK_VALGRIND)
        pool->fast = !hk_under_memcheck;
#elif !defined(HK_ASAN)
        pool->fast = true;
#endif
    } else {
        /* shared (with a magazine per thread, in the thread's slot `id`, served by the inline
         * paths as a LOCAL pool's cache is), or local with every thread slot taken (no magazines
         * either) */
        pool->mode = HK_POOL_MODE_LOCKED;
        if (pool->local || id == UINT32_MAX) {
            hk_pool_id_put(id);
        } else {
            pool->id = id;
#if defined(HK_VALGRIND)
            pool->fast = !hk_under_memcheck;
#elif !defined(HK_ASAN)
            pool->fast = true;
#endif
        }
        pool->locked = hk_pool_locked_cache_new(pool);
        if (pool->locked == NULL) {
            hk_pool_id_put(pool->id);
            pthread_mutex_destroy(&pool->lock);
            hk_free(pool);
            return NULL;
        }
    }
    pool->reg.spin = &pool->spin;
    hk_registry_add(&pool->reg, HK_REG_POOL, name, &pool->lock, hk_pool_figures);
    hk_handle_set(&pool->handle, pool, HK_REG_POOL, &pool->reg);
    hk_pool_vg_create(pool);
    if (hk_tracking() || hk_checking()) {
        pool->label = hk_track_label_intern(pool->reg.name);
        hk_track_set_label(pool, pool->label); /* a pool never destroyed is reported by name */
    }
    return pool;
}

/* Every chunk of the set onto one list, whoever owned it (destroy). */
static hk_pool_chunk_t *hk_set_drain(hk_pool_set_t *set, hk_pool_chunk_t *all) {
    for (int l = 0; l < HK_LIST_COUNT; l++) {
        while (set->lists[l] != NULL) {
            hk_pool_chunk_t *c = set->lists[l];
            hk_set_remove(set, c);
            c->next = all;
            all = c;
        }
    }
    return all;
}

static void hk_pool_free_caches(hk_pool_cache_t *c) {
    while (c != NULL) {
        hk_pool_cache_t *next = c->next;
        hk_free(c);
        c = next;
    }
}

HK_API void hk_pool_destroy(hk_pool_t *pool) {
    if (pool == NULL) return; /* like free(NULL) */
    HK_HANDLE_CHECK(pool, HK_REG_POOL, "hk_pool_destroy");
    hk_handle_kill(&pool->handle, pool, HK_REG_POOL); /* first: a later call with this handle is refused */
    if (pool->fast) hk_pool_fast_forget(pool); /* and no thread's inline path serves it */
    hk_registry_remove(&pool->reg);
    hk_pool_id_put(pool->id);
    size_t live = 0, kept = 0;
    if (pool->mode == HK_POOL_MODE_TRACKED) {
        live = atomic_load_explicit(&pool->tracked_live, memory_order_relaxed);
        if (live > 0)
            hk_error("hk_pool_destroy(pool '%s'): %zu object%s still live; left allocated (the leak check lists "
                     "those the program lost, with their allocation stacks)",
                     pool->reg.name, live, live == 1 ? "" : "s");
    } else {
        /* The caller promises no other thread uses the pool now: every cache can be emptied here. */
        for (hk_pool_cache_t *c = pool->caches; c != NULL; c = c->next) hk_cache_flush(pool, c, UINT32_MAX, 0);
        if (pool->locked != NULL) hk_cache_flush(pool, pool->locked, UINT32_MAX, 0);
        hk_pool_chunk_t *all = hk_set_drain(&pool->shared, NULL);
        for (hk_pool_cache_t *c = pool->caches; c != NULL; c = c->next) all = hk_set_drain(&c->set, all);
        while (all != NULL) {
            hk_pool_chunk_t *c = all;
            all = c->next;
            hk_chunk_collect(pool, c);
            if (c->used == 0) {
                hk_chunk_release(pool, c);
            } else {
                live += c->used;
                kept++;
                /* frees into it, to this pool or a later one at this address, are refused */
                c->tag = 0;
            }
        }
        if (live > 0)
            hk_error("hk_pool_destroy(pool '%s'): %zu object%s still live; %zu chunk%s left allocated so they stay "
                     "valid (HEAPKIT_LEAKS=1 reports where they were allocated)",
                     pool->reg.name, live, live == 1 ? "" : "s", kept, kept == 1 ? "" : "s");
    }
    hk_pool_free_caches(pool->caches);
    hk_pool_free_caches(pool->spare);
    hk_free(pool->locked);
    hk_pool_vg_destroy(pool);
    pthread_mutex_destroy(&pool->lock);
    hk_free(pool);
}

/* ------------------------------------------------------------------ alloc */

/* Under Valgrind's memcheck or in an ASan build the object is made addressable again; elsewhere
 * this is the store of the link word and one predictable branch. */
static inline void *hk_pool_handout(hk_pool_t *pool, void *obj) {
    hk_unpoison(obj, pool->size);
    hk_pool_vg_alloc(pool, obj);
    *hk_pool_link_of(pool, obj) = hk_pool_live_mark(pool, obj);
    return obj;
}

static inline void *hk_cache_pop(hk_pool_cache_t *c) {
    void **top = atomic_load_explicit(&c->top, memory_order_relaxed) - 1;
    atomic_store_explicit(&c->top, top, memory_order_relaxed);
    return *top;
}

/* A LOCKED pool: one cache under one lock of one word, like a free list behind a mutex. */
static void *hk_pool_alloc_locked(hk_pool_t *pool) {
    void *obj = NULL;
    hk_pool_cache_t *c = pool->locked;
    hk_spin_lock(&pool->spin);
    if (hk_likely(atomic_load_explicit(&c->top, memory_order_relaxed) != c->objs) || hk_cache_refill(pool, c))
        obj = hk_pool_handout(pool, hk_cache_pop(c)); /* under the lock: the object is not ours yet */
    hk_spin_unlock(&pool->spin);
    return obj;
}

/* This thread's cache of a LOCAL pool, made on first use and remembered for the fast paths
 * (`deaths` was read before the pool was found live). NULL: out of memory. Its top is its own
 * (the inline paths' record lets go of it) until hk_pool_local_done. */
static hk_pool_cache_t *hk_pool_local_cache(hk_pool_t *pool, uintptr_t deaths) {
    return hk_pool_cache_remembered(pool, deaths, &hk_pool_last);
}

/* The slow path is done with the cache: the inline paths' record serves it again. */
static void hk_pool_local_done(hk_pool_t *pool, hk_pool_cache_t *c) {
    if (c != NULL && pool->fast) hk_pool_fast_arm(pool, c);
}

/* The thread's remembered LOCAL pool, live when the destroy count was `deaths`. */
static inline bool hk_pool_is_last(const hk_pool_t *pool, uintptr_t deaths) {
    return deaths == hk_pool_last.deaths && pool == hk_pool_last.pool;
}

static hk_noinline void *hk_pool_alloc_slow(hk_pool_t *pool) {
    uintptr_t deaths = hk_handle_deaths_now();
    HK_HANDLE_CHECK(pool, HK_REG_POOL, "hk_pool_alloc", NULL);
    void *obj = NULL;
    if (pool->mode == HK_POOL_MODE_LOCKED) {
        hk_pool_cache_t *m = hk_pool_mag_of(pool, deaths);
        if (m == NULL) {
            obj = hk_pool_alloc_locked(pool);
        } else {
            if (atomic_load_explicit(&m->top, memory_order_relaxed) != m->objs || hk_pool_mag_refill(pool, m))
                obj = hk_pool_handout(pool, hk_cache_pop(m));
            hk_pool_local_done(pool, m);
        }
    } else if (pool->mode == HK_POOL_MODE_TRACKED) {
        obj = hk_pool_tracked_alloc(pool);
    } else {
        hk_pool_cache_t *c = hk_pool_local_cache(pool, deaths);
        if (c != NULL && (atomic_load_explicit(&c->top, memory_order_relaxed) != c->objs ||
                          hk_cache_refill(pool, c)))
            obj = hk_pool_handout(pool, hk_cache_pop(c));
        hk_pool_local_done(pool, c);
    }
    if (obj == NULL) errno = ENOMEM;
    return obj;
}

/* A LOCKED pool the thread has found live before (registry.h's remembered handle: any destroy
 * anywhere makes it forget), so its calls skip the handle check, as a LOCAL pool's fast paths do. */
static inline bool hk_pool_known_locked(const hk_pool_t *pool, uintptr_t deaths) {
    return hk_handle_remembered(pool, HK_REG_POOL, deaths) && pool->mode == HK_POOL_MODE_LOCKED;
}

/* The thread's remembered SHARED pool's magazine, or a known LOCKED pool's cache under its lock
 * (one without magazines), with an object in it (out of line, so the LOCAL fast path keeps its
 * small frame). */
static hk_noinline void *hk_pool_alloc_other(hk_pool_t *pool, uintptr_t deaths) {
    if (hk_likely(deaths == hk_pool_mag_last.deaths && pool == hk_pool_mag_last.pool)) { /* its magazine */
        hk_pool_cache_t *m = hk_pool_mag_last.cache;
        void **top = atomic_load_explicit(&m->top, memory_order_relaxed);
        if (hk_likely(top != m->objs) || hk_pool_mag_refill(pool, m)) return hk_pool_handout(pool, hk_cache_pop(m));
        errno = ENOMEM;
        return NULL;
    }
    if (hk_pool_known_locked(pool, deaths)) {
        hk_pool_cache_t *c = pool->locked;
        hk_spin_lock(&pool->spin);
        void **top = atomic_load_explicit(&c->top, memory_order_relaxed);
        if (hk_likely(top != c->objs)) {
            atomic_store_explicit(&c->top, top - 1, memory_order_relaxed);
            void *obj = hk_pool_handout(pool, top[-1]); /* under the lock: the object is not ours yet */
            hk_spin_unlock(&pool->spin);
            return obj;
        }
        hk_spin_unlock(&pool->spin);
    }
    return hk_pool_alloc_slow(pool);
}

/* The fast paths: the pool the inline paths' record serves (its top is there), or else the
 * thread's remembered pool (live, LOCAL, and its cache found in the same compare), and an object
 * in the cache. Everything else, the handle check included, is slower. */
HK_API void *hk_pool_alloc(hk_pool_t *pool) {
    hk_pool_tls_v3_t *t = &hk_pool_tls_v3;
    if (hk_likely(atomic_load_explicit((_Atomic(hk_pool_t *) *)&t->pool, memory_order_relaxed) == pool)) {
        void **top = atomic_load_explicit((_Atomic(void **) *)&t->top, memory_order_relaxed);
        if (hk_likely(top != t->floor)) {
            atomic_store_explicit((_Atomic(void **) *)&t->top, top - 1, memory_order_relaxed);
            return hk_pool_handout(pool, top[-1]);
        }
        return hk_pool_alloc_slow(pool);
    }
    uintptr_t deaths = hk_handle_deaths_now();
    if (hk_likely(hk_pool_is_last(pool, deaths))) {
        hk_pool_cache_t *c = hk_pool_last.cache;
        void **top = atomic_load_explicit(&c->top, memory_order_relaxed);
        if (hk_likely(top != c->objs)) {
            atomic_store_explicit(&c->top, top - 1, memory_order_relaxed);
            return hk_pool_handout(pool, top[-1]);
        }
    }
    return hk_pool_alloc_other(pool, deaths);
}

/* ------------------------------------------------------------------ free */

/* A checked live object of the pool into a cache (the thread's, or a LOCKED pool's under its
 * lock), with room made first. Objects of any thread's chunks go into any thread's cache: a
 * free from another thread costs what a local one does, and the flush sends them home. */
static inline void hk_cache_push(hk_pool_t *pool, hk_pool_cache_t *c, void *p) {
    if (hk_unlikely(atomic_load_explicit(&c->top, memory_order_relaxed) == c->end))
        hk_cache_flush(pool, c, c->limit / 2, HK_POOL_RESERVE);
    void **top = atomic_load_explicit(&c->top, memory_order_relaxed);
    *hk_pool_link_of(pool, p) = hk_pool_cached_mark(pool, p);
    hk_pool_vg_free(pool, p);
    hk_pool_poison_free(pool, p);
    *top = p;
    atomic_store_explicit(&c->top, top + 1, memory_order_relaxed);
}

/* The free fast path's test: heapkit memory (the segment map: the word before the pointer is
 * then readable), and that word saying "live object of this pool at exactly this address" (it
 * is keyed by pool: a double, foreign, interior or wrong-pool free never matches). */
hk_no_asan static inline bool hk_pool_is_live_object(const hk_pool_t *pool, void *p) {
    uintptr_t a = (uintptr_t)p;
    return (uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) <= HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT &&
           *hk_pool_link_of(pool, p) == hk_pool_live_mark(pool, p);
}

static hk_noinline void hk_pool_free_other(hk_pool_t *pool, void *p, uintptr_t deaths);

/* Any pool (after the handle check): a LOCKED pool's live object into the thread's magazine
 * (made here on first use), or, in a pool without magazines, straight into its cache under the
 * lock, in a small frame; the rest (other modes, bad input) elsewhere. */
static hk_noinline void hk_pool_free_slow(hk_pool_t *pool, void *p) {
    uintptr_t deaths = hk_handle_deaths_now();
    HK_HANDLE_CHECK(pool, HK_REG_POOL, "hk_pool_free");
    if (pool->mode == HK_POOL_MODE_LOCKED && p != NULL && hk_pool_is_live_object(pool, p)) {
        hk_pool_cache_t *m = hk_pool_mag_of(pool, deaths);
        if (m != NULL) {
            bool put = hk_pool_mag_put(pool, m, p);
            hk_pool_local_done(pool, m);
            if (hk_likely(put)) return;
        } else {
            hk_spin_lock(&pool->spin);
            /* read again under the lock: two threads may free one object at once */
            bool live = *hk_pool_link_of(pool, p) == hk_pool_live_mark(pool, p);
            if (hk_likely(live)) hk_cache_push(pool, pool->locked, p);
            hk_spin_unlock(&pool->spin);
            if (hk_likely(live)) return;
        }
    }
    hk_pool_free_other(pool, p, deaths);
}

static hk_noinline void hk_pool_free_other(hk_pool_t *pool, void *p, uintptr_t deaths) {
    if (p == NULL) return;
    if (pool->mode == HK_POOL_MODE_TRACKED) {
        hk_pool_tracked_free(pool, p);
        return;
    }
    /* The link word decides: it is keyed by pool, so "free" means a free object of this pool.
     * (Only a write before the object that happened to leave a valid free link could fool it.) */
    hk_pool_chunk_t *c;
    hk_obj_state_t state;
    if (!hk_pool_check_free(pool, p, &c, &state)) return;
    if (state == HK_OBJ_FREE) {
        hk_pool_report_double_free(pool, p);
        return;
    }
    if (pool->mode == HK_POOL_MODE_LOCKED) {
        hk_spin_lock(&pool->spin);
        /* read again under the lock: two threads that free one object at once */
        bool twice = hk_pool_looks_free(pool, c, *hk_pool_link_of(pool, p));
        if (!twice) hk_cache_push(pool, pool->locked, p);
        hk_spin_unlock(&pool->spin);
        if (twice) hk_pool_report_double_free(pool, p);
        else if (state != HK_OBJ_LIVE) hk_pool_report_smashed(pool, p);
        return;
    }
    if (state != HK_OBJ_LIVE) hk_pool_report_smashed(pool, p);
    hk_pool_cache_t *cache = hk_pool_local_cache(pool, deaths);
    if (cache != NULL) {
        hk_cache_push(pool, cache, p);
        hk_pool_local_done(pool, cache);
    } else { /* no cache (out of memory): straight home */
        hk_pool_vg_free(pool, p);
        hk_pool_poison_free(pool, p); /* before the push: once pushed the object may be handed out */
        hk_pool_send_home(pool, c, &p, 1);
    }
}

/* The thread's remembered SHARED pool: a live object into its magazine; or a known LOCKED pool's
 * (one without magazines) live object into its cache under its lock (the word is read under it:
 * two threads may free one object at once); anything else the slow way. */
hk_no_asan static hk_noinline void hk_pool_free_locked(hk_pool_t *pool, void *obj, uintptr_t deaths) {
    uintptr_t a = (uintptr_t)obj;
    if (hk_likely(deaths == hk_pool_mag_last.deaths && pool == hk_pool_mag_last.pool) &&
        hk_likely((uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) <= HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT)) {
        if (hk_likely(hk_pool_mag_put(pool, hk_pool_mag_last.cache, obj))) return;
        hk_pool_free_slow(pool, obj);
        return;
    }
    if (hk_pool_known_locked(pool, deaths) &&
        hk_likely((uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) <= HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT)) {
        hk_pool_cache_t *c = pool->locked;
        uintptr_t *link = hk_pool_link_of(pool, obj);
        uintptr_t live = hk_pool_live_mark(pool, obj);
        /* The word read before the lock too (the read under it decides: two threads may free one
         * object at once). The lock's atomic exchange waits for every earlier load, and the next
         * lock for every load in this section, so a word on a line the caller has not touched (one
         * object in four at an 80-byte stride) would be a cache miss waited for in turn, after the
         * caller's own miss on the object; read here, the two misses overlap. */
        if (hk_unlikely(*link != live)) {
            hk_pool_free_slow(pool, obj);
            return;
        }
        hk_spin_lock(&pool->spin);
        void **top = atomic_load_explicit(&c->top, memory_order_relaxed);
        bool fast = (*link == live) & (top != c->end);
        if (hk_likely(fast)) {
            *link = hk_pool_cached_mark(pool, obj);
            hk_pool_vg_free(pool, obj);
            hk_pool_poison_free(pool, obj);
            *top = obj;
            atomic_store_explicit(&c->top, top + 1, memory_order_relaxed);
        }
        hk_spin_unlock(&pool->spin);
        if (hk_likely(fast)) return;
    }
    hk_pool_free_slow(pool, obj);
}

/* The fast paths: the pool the inline paths' record serves (its top is there), or else the
 * thread's remembered pool; heapkit memory (the segment map: the word before
 * the pointer is then readable), that word saying "live object of this pool at exactly this
 * address" (it is keyed by pool: a double, foreign, interior or wrong-pool free never matches),
 * and room in the cache. Anything else goes the slower ways, which say what was wrong. */
hk_no_asan HK_API void hk_pool_free(hk_pool_t *pool, void *obj) {
    hk_pool_tls_v3_t *t = &hk_pool_tls_v3;
    uintptr_t a = (uintptr_t)obj;
    if (hk_likely(atomic_load_explicit((_Atomic(hk_pool_t *) *)&t->pool, memory_order_relaxed) == pool)) {
        if (hk_likely((uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) <= HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT)) {
            uintptr_t *link = hk_pool_link_of(pool, obj);
            void **top = atomic_load_explicit((_Atomic(void **) *)&t->top, memory_order_relaxed);
            /* a pool the record serves is neither poisoned nor told to memcheck (pool->fast) */
            if (hk_likely((*link == hk_pool_live_mark(pool, obj)) & (top != t->end))) {
                *link = hk_pool_cached_mark(pool, obj);
                *top = obj;
                atomic_store_explicit((_Atomic(void **) *)&t->top, top + 1, memory_order_relaxed);
                return;
            }
        }
        hk_pool_free_slow(pool, obj); /* not the remembered cache's path below: its own top is stale */
        return;
    }
    uintptr_t deaths = hk_handle_deaths_now();
    if (hk_likely(hk_pool_is_last(pool, deaths)) &&
        hk_likely((uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) <= HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT)) {
        hk_pool_cache_t *c = hk_pool_last.cache;
        uintptr_t *link = hk_pool_link_of(pool, obj);
        void **top = atomic_load_explicit(&c->top, memory_order_relaxed);
        /* & rather than &&: one branch; neither test reads memory the other guards */
        if (hk_likely((*link == hk_pool_live_mark(pool, obj)) & (top != c->end))) {
            *link = hk_pool_cached_mark(pool, obj);
            hk_pool_vg_free(pool, obj);
            hk_pool_poison_free(pool, obj);
            *top = obj;
            atomic_store_explicit(&c->top, top + 1, memory_order_relaxed);
            return;
        }
    }
    hk_pool_free_locked(pool, obj, deaths);
}

/* ------------------------------------------------------------------ trim, statistics */

HK_API size_t hk_pool_trim(hk_pool_t *pool) {
    HK_HANDLE_CHECK(pool, HK_REG_POOL, "hk_pool_trim", 0);
    if (pool->mode == HK_POOL_MODE_TRACKED) return 0;
    size_t before = atomic_load_explicit(&pool->bytes, memory_order_relaxed);
    if (pool->mode == HK_POOL_MODE_LOCAL) {
        hk_pool_cache_t *c = hk_pool_my_cache(pool);
        if (c != NULL) {
            hk_pool_fast_disarm(c);
            hk_cache_flush(pool, c, UINT32_MAX, 0);
            hk_set_collect_all(pool, &c->set, 0);
            hk_set_release_empty(pool, &c->set, 0);
            hk_pool_local_done(pool, c);
        }
    }
    hk_pool_cache_t *m = pool->mode == HK_POOL_MODE_LOCKED ? hk_pool_my_cache(pool) : NULL; /* a magazine */
    if (m != NULL) hk_pool_fast_disarm(m);
    pthread_mutex_lock(&pool->lock);
    hk_spin_lock(&pool->spin);
    if (pool->mode == HK_POOL_MODE_LOCKED) {
        if (m != NULL) hk_cache_flush(pool, m, UINT32_MAX, 0);
        hk_cache_flush(pool, pool->locked, UINT32_MAX, 0);
    }
    if (pool->mode == HK_POOL_MODE_LOCAL) hk_set_collect_all(pool, &pool->shared, 0); /* orphans */
    hk_set_release_empty(pool, &pool->shared, 0);
    if (pool->mode == HK_POOL_MODE_LOCAL) hk_pool_orphans_changed(pool);
    hk_spin_unlock(&pool->spin);
    pthread_mutex_unlock(&pool->lock);
    size_t after = atomic_load_explicit(&pool->bytes, memory_order_relaxed);
    return before > after ? before - after : 0;
}

static void hk_pool_figures_locked(hk_pool_t *pool, hk_reg_figures_t *f) {
    f->object_size = pool->size;
    f->local = pool->local;
    if (pool->mode == HK_POOL_MODE_TRACKED) {
        f->live = atomic_load_explicit(&pool->tracked_live, memory_order_relaxed);
        f->capacity = f->live;
        f->bytes = f->live * pool->stride;
        return;
    }
    /* Objects out of the chunks' free lists, less those waiting in caches. A cache may hold
     * objects of another thread's chunks, so only the sum means anything. */
    intptr_t live = (intptr_t)atomic_load_explicit(&pool->shared.taken, memory_order_relaxed);
    if (pool->locked != NULL) live -= (intptr_t)hk_cache_count(pool->locked);
    for (hk_pool_cache_t *c = pool->caches; c != NULL; c = c->next) /* read while the owners work */
        live += (intptr_t)atomic_load_explicit(&c->set.taken, memory_order_relaxed) - (intptr_t)hk_pool_fast_cached(c);
    f->live = live > 0 ? (size_t)live : 0;
    f->chunks = atomic_load_explicit(&pool->chunks, memory_order_relaxed);
    f->bytes = atomic_load_explicit(&pool->bytes, memory_order_relaxed);
    f->capacity = f->chunks * pool->capacity;
}

static void hk_pool_figures(hk_reg_node_t *node, hk_reg_figures_t *f) {
    hk_pool_t *pool = hk_pool_of_node(node);
    pthread_mutex_lock(&pool->lock);
    hk_spin_lock(&pool->spin);
    hk_pool_figures_locked(pool, f);
    hk_spin_unlock(&pool->spin);
    pthread_mutex_unlock(&pool->lock);
}

HK_API void hk_pool_stats(hk_pool_t *pool, hk_pool_stats_t *out) {
    if (out == NULL) return; /* nowhere to put them */
    *out = (hk_pool_stats_t){0};
    HK_HANDLE_CHECK(pool, HK_REG_POOL, "hk_pool_stats");
    hk_reg_figures_t f = {0};
    pthread_mutex_lock(&pool->lock);
    hk_spin_lock(&pool->spin);
    hk_pool_figures_locked(pool, &f);
    hk_spin_unlock(&pool->spin);
    pthread_mutex_unlock(&pool->lock);
    *out = (hk_pool_stats_t){.name = pool->reg.name, .object_size = pool->size, .live = f.live,
                             .capacity = f.capacity, .chunks = f.chunks, .bytes = f.bytes};
}

hk_plain_path static void hk_pool_after_fork_child(void) {
    hk_pool_fast_fork_child();
    hk_registry_each(HK_REG_POOL, hk_pool_after_fork_child_one, NULL);
}

HK_SUBSYSTEM(pools, HK_SUBSYSTEM_POOLS, .thread_exit = hk_pool_thread_exit, .fork_child = hk_pool_after_fork_child);
HK_LOCK(pool_ids, HK_LOCK_POOL_IDS, &hk_pools.lock);
