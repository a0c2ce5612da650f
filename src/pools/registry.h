/* registry.h — the list of live pools and arenas (registry.c), what each member tells it for the
 * statistics, and the poisoning helpers both use. Internal to the library.
 * Pools and arenas register by name so hk_stats_* can list them and fork can take their locks. */
#ifndef HK_REGISTRY_H
#define HK_REGISTRY_H

#include "track.h"

/* The handle check reads a word of memory that may be another pool's poisoned free object. */
#define hk_no_asan_handle __attribute__((no_sanitize("address")))

#define HK_NAME_LEN HK_LABEL_LEN /* a name is its members' label in leak reports: cut alike */

typedef enum { HK_REG_POOL = 1, HK_REG_ARENA = 2 } hk_reg_kind_t;
#define HK_REG_KINDS 3 /* arrays indexed by kind (0 unused) */

typedef struct hk_reg_figures_s hk_reg_figures_t;

/* Embedded in every pool and arena. The links are xor-ed with hk_key: the registry exists for
 * statistics, and must not make an arena that the program lost look reachable to the leak scan. */
typedef struct hk_reg_node_s {
    uintptr_t next, prev;
    pthread_mutex_t *lock; /* taken around fork (a pool's or a locked arena's), or NULL */
    _Atomic uint32_t *spin; /* taken around fork after `lock` (a shared pool's hk_spin lock), or NULL */
    /* adds the member's figures to f (called with its shard lock held) */
    void (*figures)(struct hk_reg_node_s *node, hk_reg_figures_t *f);
    uint8_t kind;
    uint8_t shard;
    char name[HK_NAME_LEN];
} hk_reg_node_t;

/* One line of the pools/arenas part of the statistics, summed over members of one name. */
struct hk_reg_figures_s {
    size_t count;                /* pools or arenas of this name */
    size_t live, capacity;       /* pools: objects in use, objects the chunks hold */
    size_t used;                 /* arenas: bytes handed out */
    size_t chunks, bytes;        /* chunks held and their bytes (arenas: with large blocks) */
    size_t large, large_bytes;   /* arenas: blocks of their own for large allocations */
    size_t object_size;          /* pools: bytes per object (of the first member) */
    bool local;                  /* pools: HK_POOL_LOCAL (of the first member) */
};

/* ---------------------------------------------------------------- handles
 * Every pool and arena starts its second 16 bytes with this header (HK_HANDLE_OFFSET, the same in
 * both): a magic word, the handle's address xor-ed with hk_key and a constant per kind, set at
 * create and turned into its "destroyed" value at destroy, before the memory is freed; and a
 * pointer to its own registry node, for the name. So every call checks its handle with one
 * compare: a pointer that is not heapkit memory is never read, NULL included; a destroyed
 * pool's or arena's word no longer matches (until a new one is created at the same address: the
 * generation of the check, as in talloc); a pool passed where an arena is expected, or any other
 * heapkit memory, does not match either, and the report names what it was. */
typedef struct hk_handle_s {
    uintptr_t magic;
    const hk_reg_node_t *node;
} hk_handle_t;
#define HK_HANDLE_OFFSET 16
#define HK_HANDLE_POOL ((uintptr_t)0x5a3c9e1f70b2d468ull)
#define HK_HANDLE_ARENA ((uintptr_t)0x36d1a4f8c05e9b27ull)
#define HK_HANDLE_DEAD ((uintptr_t)0xdead000000000000ull) /* xor-ed in at destroy */

static inline uintptr_t hk_handle_magic(const void *h, hk_reg_kind_t kind) {
    return (uintptr_t)h ^ hk_key ^ (kind == HK_REG_POOL ? HK_HANDLE_POOL : HK_HANDLE_ARENA);
}

/* A program calls the same pool or arena again and again: each thread remembers the last handle
 * of each kind it found live, with the count of members destroyed so far when it found it (odd,
 * stepping by 2, so a zeroed record never matches, NULL included). Any destroy anywhere changes
 * the count, so the record never vouches for a destroyed handle, and a call on the remembered
 * handle costs two compares instead of a segment-map lookup and a read of the handle. The count
 * is a whole word of its own (2^63 destroys before it wraps): folded into the handle's spare
 * high bits it wrapped after 65,536 destroys, and a handle remembered before exactly that many
 * matched a new pool made at the same address (and its stale cache). */
typedef struct hk_handle_seen_s {
    const void *handle;
    uintptr_t deaths; /* hk_handle_deaths when handle was found live */
} hk_handle_seen_t;
extern __thread hk_handle_seen_t hk_handle_last[HK_REG_KINDS] __attribute__((tls_model("initial-exec")));
extern _Atomic uintptr_t hk_handle_deaths;

/* Read before a handle is checked: a destroy after the read makes the remembered pair stale. */
static inline uintptr_t hk_handle_deaths_now(void) {
    return atomic_load_explicit(&hk_handle_deaths, memory_order_acquire);
}

/* Did this thread find h live when the destroy count was `deaths` (read by the caller)? */
static inline bool hk_handle_remembered(const void *h, hk_reg_kind_t kind, uintptr_t deaths) {
    return deaths == hk_handle_last[kind].deaths && h == hk_handle_last[kind].handle;
}

/* Is h a live pool (or arena)? Reads h only if it is heapkit memory (a live block, under heap checking). */
hk_no_asan_handle static inline bool hk_handle_live(const void *h, hk_reg_kind_t kind) {
    uintptr_t a = (uintptr_t)h, deaths = hk_handle_deaths_now();
    if (hk_likely(hk_handle_remembered(h, kind, deaths))) return true;
    if (hk_unlikely((uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) > HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT) &&
        /* heap checking's guard blocks lie outside the segments: the pool itself may be one */
        (hk_likely(hk_state.hooks.front == NULL) || !hk_owns(h)))
        return false;
    if (hk_unlikely(((const hk_handle_t *)(a + HK_HANDLE_OFFSET))->magic != hk_handle_magic(h, kind))) return false;
    hk_handle_last[kind] = (hk_handle_seen_t){h, deaths};
    return true;
}

/* Refuse the call unless h is a live member of the kind: one line saying why, errno = EINVAL,
 * and `return __VA_ARGS__` (NULL, -1, or nothing). Pools and arenas check every call with it. */
#define HK_HANDLE_CHECK(h, kind, call, ...)                                                                         \
    do {                                                                                                            \
        if (hk_unlikely(!hk_handle_live((h), (kind)))) {                                                            \
            hk_handle_refuse((call), (h), (kind));                                                                  \
            return __VA_ARGS__;                                                                                     \
        }                                                                                                           \
    } while (0)

/* A lock of one word for critical sections of a few instructions (a shared pool's): one atomic
 * exchange to take it and one store to let it go, where a mutex costs a few dozen instructions
 * each way. A thread that finds it taken spins on reads a little, then yields its CPU (the
 * holder may be waiting for one). Fork takes it through the registry (hk_reg_node_t.spin). */
static inline void hk_spin_lock(_Atomic uint32_t *lock) {
    while (hk_unlikely(atomic_exchange_explicit(lock, 1, memory_order_acquire) != 0)) {
        for (int i = 0; i < 100 && atomic_load_explicit(lock, memory_order_relaxed) != 0; i++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        if (atomic_load_explicit(lock, memory_order_relaxed) != 0) sched_yield();
    }
}

static inline void hk_spin_unlock(_Atomic uint32_t *lock) { atomic_store_explicit(lock, 0, memory_order_release); }

/* registry.c */
/* A member is made (node: its registry node) or destroyed: its handle says so. */
hk_internal void hk_handle_set(hk_handle_t *handle, const void *h, hk_reg_kind_t kind, const hk_reg_node_t *node);
hk_internal void hk_handle_kill(hk_handle_t *handle, const void *h, hk_reg_kind_t kind);
/* h failed hk_handle_live for `call`: one line saying what it is (NULL, not heapkit memory, a
 * destroyed pool or arena and its name, a member of the other kind, something else), then
 * errno = EINVAL. The caller refuses the call. */
hk_internal void hk_handle_refuse(const char *call, const void *h, hk_reg_kind_t want);

hk_internal void hk_registry_add(hk_reg_node_t *node, hk_reg_kind_t kind, const char *name, pthread_mutex_t *lock,
                                  void (*figures)(hk_reg_node_t *node, hk_reg_figures_t *f));
hk_internal void hk_registry_remove(hk_reg_node_t *node);
/* Calls fn for every registered node of the kind, one shard lock held at a time (fn must not
 * take a shard lock). */
hk_internal void hk_registry_each(hk_reg_kind_t kind, void (*fn)(hk_reg_node_t *node, void *arg), void *arg);
/* If node is a registered member of the kind, copy its name into buf and return true. */
hk_internal bool hk_registry_name_of(const hk_reg_node_t *node, hk_reg_kind_t kind, char *buf, size_t cap);

/* ------------------------------------------------------------- poisoning
 * In an AddressSanitizer build, memory a pool or arena holds but has not handed out is poisoned,
 * so a use after free, reset or rewind is reported by ASan itself; elsewhere the same is told to
 * Valgrind's memcheck (when its header is installed), which ignores it outside Valgrind;
 * debug mode (HEAPKIT_LEAKS=1) fills released memory with HK_FREED_BYTE instead. */
#if defined(__SANITIZE_ADDRESS__)
#define HK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HK_ASAN 1
#endif
#endif

/* (cppcheck cannot evaluate __has_include: it checks the code without Valgrind) */
#if !defined(HK_ASAN) && defined(__has_include) && !defined(__CPPCHECK__)
#if __has_include(<valgrind/memcheck.h>)
#define HK_VALGRIND 1
#endif
#endif

#ifdef HK_ASAN
#include <sanitizer/asan_interface.h>
#define hk_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define hk_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(HK_VALGRIND)
/* Under Valgrind's memcheck the same places mark memory inaccessible and back; outside Valgrind a
 * client request is a few register instructions that do nothing. Memory is marked defined when it
 * is handed out: a pool object keeps its constructed state, and what the program writes into an
 * arena is its own business. pool.h adds the memory-pool requests that name pool objects. */
#include <valgrind/memcheck.h>
/* Only under memcheck: elsewhere (natively, or under callgrind) the requests are skipped by one
 * predictable branch instead of run on every pool and arena call. Set once at start (registry.c). */
extern hk_internal bool hk_under_memcheck;
#define hk_poison(p, n) (hk_unlikely(hk_under_memcheck) ? (void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)) : (void)0)
#define hk_unpoison(p, n) (hk_unlikely(hk_under_memcheck) ? (void)VALGRIND_MAKE_MEM_DEFINED((p), (n)) : (void)0)
#else
#define hk_poison(p, n) ((void)(p), (void)(n))
#define hk_unpoison(p, n) ((void)(p), (void)(n))
#endif

#define HK_FREED_BYTE 0xdd

#endif /* HK_REGISTRY_H */
