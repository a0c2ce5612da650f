/* registry.h — the list of live pools and arenas (registry.c), what each member tells it for the
 * statistics, and the poisoning helpers both use. Internal to the library.
 * Pools and arenas register by name so hk_stats_* can list them and fork can take their locks. */
#ifndef HK_REGISTRY_H
#define HK_REGISTRY_H

#include "track.h"

#define HK_NAME_LEN HK_LABEL_LEN /* a name is its members' label in leak reports: cut alike */

typedef enum { HK_REG_POOL = 1, HK_REG_ARENA = 2 } hk_reg_kind_t;

typedef struct hk_reg_figures_s hk_reg_figures_t;

/* Embedded in every pool and arena. The links are xor-ed with hk_key: the registry exists for
 * statistics, and must not make an arena that the program lost look reachable to the leak scan. */
typedef struct hk_reg_node_s {
    uintptr_t next, prev;
    pthread_mutex_t *lock; /* taken around fork (a shared pool's or a locked arena's), or NULL */
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

/* registry.c */
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
 * so a use after free, reset or rewind is reported by ASan itself. Elsewhere these are no-ops;
 * debug mode (HEAPKIT_LEAKS=1) fills released memory with HK_FREED_BYTE instead. */
#if defined(__SANITIZE_ADDRESS__)
#define HK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HK_ASAN 1
#endif
#endif

#ifdef HK_ASAN
#include <sanitizer/asan_interface.h>
#define hk_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define hk_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define hk_poison(p, n) ((void)(p), (void)(n))
#define hk_unpoison(p, n) ((void)(p), (void)(n))
#endif

#define HK_FREED_BYTE 0xdd

#endif /* HK_REGISTRY_H */
