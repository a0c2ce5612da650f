/* pool.h — the types of hk_pool shared by pool.c (the API, fast paths, thread caches),
 * pool_chunk.c (chunks and the sets that own them) and pool_debug.c (bad-input reports and the
 * tracked mode of HEAPKIT_LEAKS=1). Internal.
 * A chunk is aligned to its size, so the chunk of an object is its address with the low bits
 * cleared; each object is preceded by a link word that says whether it is live or free. */
#ifndef HK_POOL_H
#define HK_POOL_H

#include "check.h" /* heap checking: each object a checked block */
#include "registry.h"

#define HK_POOL_NO_INLINE 1 /* the library defines the functions the inline paths call */
#include "heapkit_pool_inline.h"

#define HK_POOL_MAGIC ((uintptr_t)0x6b70b01c0ffee5a0ull) /* mixed into tags: a pool address alone does not match */
#define HK_POOL_CACHE_BYTES ((size_t)64 * 1024) /* a thread's cache holds up to this much of objects... */
#define HK_POOL_CACHE_MIN 16            /* ...but at least this many */
#define HK_POOL_CACHE_MAX 1024          /* ...and at most this many */
#define HK_POOL_BATCH_FIRST 16          /* objects of a thread's first refill; doubled at each refill */
#define HK_POOL_MAGAZINE 128            /* a SHARED pool: objects a thread's magazine holds at most */

/* Reads of a would-be chunk header for a pointer of unknown origin: in an ASan build that word may
 * sit in another pool's poisoned free object, which is no bug of ours. */
#define hk_no_asan __attribute__((no_sanitize("address")))

enum { HK_LIST_PARTIAL = 0, HK_LIST_FULL = 1, HK_LIST_EMPTY = 2, HK_LIST_COUNT = 3 };

typedef enum {
    HK_POOL_MODE_LOCAL = 0,   /* per-thread caches (HK_POOL_LOCAL) */
    HK_POOL_MODE_LOCKED = 1,  /* one mutex (HK_POOL_SHARED, or LOCAL when no thread slot was left) */
    HK_POOL_MODE_TRACKED = 2, /* HEAPKIT_LEAKS=1: each object a block of its own */
} hk_pool_mode_t;

typedef struct hk_pool_chunk_s hk_pool_chunk_t;
typedef struct hk_pool_cache_s hk_pool_cache_t;

/* Chunks managed together: one thread's (LOCAL), or the pool's under its mutex (LOCKED chunks,
 * or the orphans that exited threads left in a LOCAL pool). Lists by how many objects are free. */
typedef struct hk_pool_set_s {
    uintptr_t token;        /* the owning thread's hk_pool_token() (its heap); 0 for the pool's own set */
    hk_pool_chunk_t *lists[HK_LIST_COUNT];
    uint32_t empty_count;
    _Atomic size_t taken;   /* objects out of these chunks (in use, or in the owner's cache) */
    hk_pool_cache_t *cache; /* the cache this set is part of; NULL for the pool's own */
} hk_pool_set_t;

/* The header at the start of every chunk (chunks are 64 KiB aligned, so each part below is a cache
 * line of its own). The first line is read by a cache's flush, by every thread, and changes only when
 * the chunk changes hands; the second is written by other threads' frees; the third only by the
 * owner's slow paths. So remote frees and the owner's refills do not steal each other's lines. */
struct hk_pool_chunk_s {
    _Atomic(hk_pool_set_t *) owner; /* a thread's set, or the pool's (LOCKED, or left by an exited thread) */
    uintptr_t tag;                  /* pool->tag; 0 once released, or left live by destroy */
    _Atomic uint32_t carved;        /* objects made so far (made lazily, in address order) */
    uint32_t capacity;
    uint32_t used;                  /* objects out of the chunk's free lists (owner's count) */
    uint8_t list;                   /* HK_LIST_* it is on */
    uint8_t line0_pad[64 - 29];
    /* Objects freed by other threads: the core's remote-free stack (remote.h), whose links end
     * at the chunk like the free lists' do; the owner takes it whole, without walking it. */
    hk_remote_t remote;
    uint8_t line1_pad[64 - 8];
    uintptr_t free;                 /* free list head, encoded; the chunk's own address = end */
    uintptr_t more;                 /* a second free list (a collected remote list), used after `free` */
    hk_pool_chunk_t *next, *prev;
};
_Static_assert(offsetof(hk_pool_chunk_t, remote) == 64 && offsetof(hk_pool_chunk_t, free) == 128,
               "the chunk header's three parts start on cache lines");

/* One thread's cache of one pool (a LOCAL pool's, or a SHARED pool's magazine), or a SHARED pool's
 * one locked cache: a stack of free objects, of any thread's chunks (a thread frees into its own
 * cache whatever it frees). */
struct hk_pool_cache_s {
    hk_pool_set_t set;
    hk_pool_cache_t *next, *prev; /* in pool->caches, or pool->spare once its thread exited */
    uint32_t batch;               /* objects the next refill takes: grows from a few to limit / 2 */
    uint32_t limit;
    /* The owner's record for the inline paths while it serves this cache (pool_fast.c): `top`
     * is then the record's, not ours. Changed and read under arm_lock (statistics read the
     * record's top from other threads; the owner lets go of it under the lock before it exits). */
    hk_pool_tls_v3_t *_Atomic armed;
    _Atomic uint32_t arm_lock; /* hk_spin_lock; takes nothing else */
    /* The hot pair sits 2.5 lines in: caches are often 4 KiB aligned, like chunks, and a load
     * of a chunk header that shares its address bits mod 4 KiB with the store to `top` just
     * before would wait for that store (4K aliasing). */
    _Alignas(32) _Atomic(void **) top; /* objs[0 .. top) are cached; written by the owner only */
    void **end;                        /* objs + limit (a magazine's limit is at most 128) */
    _Alignas(64) _Atomic uint32_t remote_pending; /* another thread freed into our chunks */
    _Alignas(64) void *objs[];
};

struct hk_pool_s {
    /* -- read by every fast path */
    uintptr_t key;        /* free links are xor-ed with it (bit 62 set, low 3 bits clear) */
    uintptr_t live_key;   /* key ^ 2^63: a live object's link word is its address ^ live_key */
    hk_handle_t handle;   /* the magic word every call checks (registry.h) */
    uint32_t id;          /* slot in the threads' cache tables; UINT32_MAX: no thread caches */
    uint32_t limit;       /* objects a cache holds at most */
    uint64_t gen;         /* tells this pool from an earlier one that had the same id */
    uintptr_t tag;        /* in every chunk header: pool ^ hk_key ^ HK_POOL_MAGIC */
    uintptr_t chunk_mask; /* ~(chunk_size - 1) */
    size_t first;         /* offset of the first object in a chunk */
    size_t size;
    /* -- slow paths */
    size_t stride;        /* bytes from one object to the next */
    uint64_t inverse;     /* 2^64 / stride, rounded up: object starts are checked by a multiply */
    size_t align, chunk_size;
    size_t span;       /* bytes from the first object to the end of the last: capacity * stride */
    uint32_t capacity; /* objects per chunk */
    uint8_t mode;
    bool local; /* created HK_POOL_LOCAL */
    bool fast;  /* threads' records for the inline paths may name it (pool_fast.c) */
    int16_t node; /* HK_ON_NODE's node for its chunks, HK_NUMA_ANY: the allocating thread's */
    uint16_t label;
    void (*ctor)(void *obj, void *arg);
    void (*dtor)(void *obj, void *arg);
    void *arg;
    pthread_mutex_t lock; /* the cache lists and the orphans of a LOCAL pool; statistics, trim */
    _Atomic uint32_t spin; /* LOCKED: the cache and the chunks (hk_spin_lock; taken after `lock`) */
    hk_pool_set_t shared;
    hk_pool_cache_t *locked; /* LOCKED: one cache of free objects under the lock, in front of `shared` */
    hk_pool_cache_t *caches, *spare;
    _Atomic bool has_orphans; /* LOCAL: `shared` holds chunks, read without the lock */
    _Atomic size_t chunks, bytes;
    _Atomic size_t tracked_live; /* TRACKED mode */
    hk_reg_node_t reg;
};

_Static_assert(offsetof(struct hk_pool_s, handle) == HK_HANDLE_OFFSET, "the handle header is where the check reads it");


/* Tells threads apart on the free path without a table lookup: the core's name for the thread,
 * its heap (core.h), unique among live threads; a thread's caches stop owning chunks in the
 * core's thread exit, before its heap record can be reused. A thread with no heap yet reads
 * &hk_heap_empty, which owns nothing: a cache is made only once its thread has a heap. */
static inline uintptr_t hk_pool_token(void) { return (uintptr_t)hk_heap_tls; }

/* The word just before the object (in the previous object's padding, or the chunk header's for
 * the first): for any address in a chunk, the word before it is readable, so the free fast path
 * can look at it before it knows the address is an object at all. */
static inline uintptr_t *hk_pool_link_of(const hk_pool_t *pool, void *obj) {
    (void)pool;
    return (uintptr_t *)obj - 1;
}

static inline uintptr_t hk_pool_live_mark(const hk_pool_t *pool, const void *obj) {
    return (uintptr_t)obj ^ pool->live_key;
}

/* The link word of an object free in a cache: it links to itself, keyed (the inline paths'
 * record promises it of every cached object, heapkit_pool_inline.h). */
static inline uintptr_t hk_pool_cached_mark(const hk_pool_t *pool, const void *obj) {
    return (uintptr_t)obj ^ pool->key;
}

/* Is the link word that of a free object of chunk c? Free objects link to another object of
 * their chunk, or to the chunk itself at the end of a list (an object in a thread's cache links
 * to itself). A live object's word decodes to its address with bit 63 set: never in a chunk. */
static inline bool hk_pool_looks_free(const hk_pool_t *pool, const hk_pool_chunk_t *c, uintptr_t link) {
    return ((link ^ pool->key) & pool->chunk_mask) == (uintptr_t)c;
}

/* In an ASan build a free object is poisoned (its link word, before it, stays readable). */
static inline void hk_pool_poison_free(const hk_pool_t *pool, void *obj) { hk_poison(obj, pool->size); }

/* Valgrind's memory-pool requests: each pool is a memcheck pool, each object handed out one of
 * its blocks, so memcheck reports a use after hk_pool_free with the stack of that free, and a
 * lost object as a leak. An object with a constructor is defined when handed out (it keeps the
 * state the constructor gave it), else undefined, as malloc's blocks are. No-ops elsewhere. */
#ifdef HK_VALGRIND
static inline void hk_pool_vg_alloc(const hk_pool_t *pool, void *obj) {
    if (hk_likely(!hk_under_memcheck)) return;
    VALGRIND_MEMPOOL_ALLOC(pool, obj, pool->size);
    if (pool->ctor != NULL) VALGRIND_MAKE_MEM_DEFINED(obj, pool->size);
}
static inline void hk_pool_vg_free(const hk_pool_t *pool, void *obj) {
    if (hk_unlikely(hk_under_memcheck)) VALGRIND_MEMPOOL_FREE(pool, obj);
}
static inline void hk_pool_vg_create(const hk_pool_t *pool) {
    if (hk_unlikely(hk_under_memcheck)) VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
}
static inline void hk_pool_vg_destroy(const hk_pool_t *pool) {
    if (hk_unlikely(hk_under_memcheck)) VALGRIND_DESTROY_MEMPOOL(pool);
}
#else
#define hk_pool_vg_alloc(pool, obj) ((void)(pool), (void)(obj))
#define hk_pool_vg_free(pool, obj) ((void)(pool), (void)(obj))
#define hk_pool_vg_create(pool) ((void)(pool))
#define hk_pool_vg_destroy(pool) ((void)(pool))
#endif

static inline uintptr_t hk_chunk_end(const hk_pool_t *pool, const hk_pool_chunk_t *c) { return (uintptr_t)c ^ pool->key; }

static inline void *hk_chunk_object(const hk_pool_t *pool, hk_pool_chunk_t *c, uint32_t index) {
    return (uint8_t *)c + pool->first + (size_t)index * pool->stride;
}

/* pool_chunk.c: chunks and sets. The caller owns the set (its thread's, or the pool lock). */
hk_internal void hk_chunk_set_owner(hk_pool_chunk_t *c, hk_pool_set_t *set);
hk_internal void hk_set_push(hk_pool_set_t *set, hk_pool_chunk_t *c, uint8_t list);
hk_internal void hk_set_remove(hk_pool_set_t *set, hk_pool_chunk_t *c);
hk_internal void hk_set_taken_add(hk_pool_set_t *set, intptr_t n);
hk_internal void hk_chunk_release(hk_pool_t *pool, hk_pool_chunk_t *c);
hk_internal void hk_set_settle(hk_pool_t *pool, hk_pool_set_t *set, hk_pool_chunk_t *c, uint32_t reserve);
hk_internal hk_pool_chunk_t *hk_chunk_new(hk_pool_t *pool, hk_pool_set_t *set);
hk_internal uint32_t hk_chunk_take(hk_pool_t *pool, hk_pool_chunk_t *c, void **out, uint32_t want, bool carve);
hk_internal uint32_t hk_chunk_collect(hk_pool_t *pool, hk_pool_chunk_t *c);
hk_internal void hk_set_collect_all(hk_pool_t *pool, hk_pool_set_t *set, uint32_t reserve);
hk_internal void hk_set_release_empty(hk_pool_t *pool, hk_pool_set_t *set, uint32_t reserve);
hk_internal void hk_pool_orphans_changed(hk_pool_t *pool);
hk_internal void hk_set_put(hk_pool_t *pool, hk_pool_set_t *set, void *obj, uint32_t reserve);
hk_internal void hk_chunk_adopt(hk_pool_t *pool, hk_pool_cache_t *cache, hk_pool_chunk_t *c);
hk_internal hk_pool_chunk_t *hk_set_adopt(hk_pool_t *pool, hk_pool_cache_t *cache);

/* pool_fast.c: the thread's record for the callers' inline paths (heapkit_pool_inline.h).
 * While a cache is armed its top is the record's: a library path of the owning thread disarms
 * the cache (its top back into the cache) before it works on it, and arms it again after. */
hk_internal void hk_pool_fast_arm(hk_pool_t *pool, hk_pool_cache_t *c);
hk_internal void hk_pool_fast_disarm(hk_pool_cache_t *c);
hk_internal uint32_t hk_pool_fast_cached(hk_pool_cache_t *c);
hk_internal void hk_pool_fast_forget(const hk_pool_t *pool);
hk_internal void hk_pool_fast_thread_exit(void);
hk_internal void hk_pool_fast_fork_child(void);

/* pool_debug.c */
typedef enum { HK_OBJ_LIVE, HK_OBJ_FREE, HK_OBJ_SMASHED } hk_obj_state_t;
hk_internal bool hk_pool_check_free(hk_pool_t *pool, void *p, hk_pool_chunk_t **chunk_out, hk_obj_state_t *state);
hk_internal void hk_pool_report_double_free(const hk_pool_t *pool, const void *p);
hk_internal void hk_pool_report_smashed(const hk_pool_t *pool, const void *p);
hk_internal void *hk_pool_tracked_alloc(hk_pool_t *pool);
hk_internal void hk_pool_tracked_free(hk_pool_t *pool, void *p);

#endif /* HK_POOL_H */
