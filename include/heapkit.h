/* heapkit.h — the public API of heapkit, a memory-management toolkit.
 * Every symbol is prefixed hk_. Linking libheapkit.so (or preloading it) also
 * replaces the standard malloc family; these names work in every build. */
#ifndef HEAPKIT_H
#define HEAPKIT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HK_API __attribute__((visibility("default")))
#define HK_MALLOC_LIKE __attribute__((malloc, warn_unused_result))
#define HK_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define HK_API
#define HK_MALLOC_LIKE
#define HK_ALLOC_SIZE(...)
#endif

#define HK_VERSION_MAJOR 0
#define HK_VERSION_MINOR 1
#define HK_VERSION_PATCH 0

/* ---- allocation: same contracts as the C/POSIX/glibc functions of the same name ---- */
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(1) void *hk_malloc(size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(1, 2) void *hk_calloc(size_t count, size_t size);
HK_API HK_ALLOC_SIZE(2) void *hk_realloc(void *p, size_t size);
HK_API HK_ALLOC_SIZE(2, 3) void *hk_reallocarray(void *p, size_t count, size_t size);
HK_API void hk_free(void *p);
/* C23 free_sized / free_aligned_sized: free p as hk_free does; the size and alignment are not
 * checked against the block (not yet, in any mode). */
HK_API void hk_free_sized(void *p, size_t size);
HK_API void hk_free_aligned_sized(void *p, size_t alignment, size_t size);

HK_API int hk_posix_memalign(void **out, size_t alignment, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(2) void *hk_aligned_alloc(size_t alignment, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(2) void *hk_memalign(size_t alignment, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(1) void *hk_valloc(size_t size);
HK_API HK_MALLOC_LIKE void *hk_pvalloc(size_t size);

/* Bytes usable at p (>= the size asked for); 0 for NULL. */
HK_API size_t hk_usable_size(const void *p);
/* True if p points into heapkit's memory for blocks: a live huge block, or any block of a page in
 * use, live, freed or not yet handed out (so it does not tell whether a block is live). */
HK_API bool hk_owns(const void *p);

/* ---- memory return ---- */
/* Give every free page of every heap, the huge-block cache and abandoned thread memory back to
 * the OS now, instead of after HEAPKIT_PURGE_DELAY. Returns 1 if any memory was released. */
HK_API int hk_trim(void);

/* ---- statistics ---- */
typedef struct hk_stats_s {
    size_t reserved;       /* address space mapped from the OS */
    size_t committed;      /* mapped and not given back (may become resident when touched) */
    size_t committed_peak; /* the most committed at any time so far */
    size_t resident;       /* actually in RAM (mincore), the figure RSS counts */
    size_t live;           /* bytes in blocks handed out and not freed (block sizes) */
    size_t huge_live;      /* of live, bytes in huge (directly mapped) blocks */
    size_t free_in_pages;  /* free blocks inside pages in use: reused first, kept by design */
    size_t free_pending;   /* free pages not yet given back (they wait HEAPKIT_PURGE_DELAY) */
    size_t huge_cached;    /* freed huge blocks kept for reuse */
    size_t segments;       /* segments currently mapped (excluding huge) */
    size_t abandoned;      /* segments left by exited threads, not yet adopted */
    size_t threads;        /* thread heaps alive */
    size_t metadata;       /* address space for the library's own records (heap records, leak
                              tracking tables and stacks), apart from reserved */
    size_t heap_errors;    /* heap errors found by heap checking (HEAPKIT_CHECK, HEAPKIT_SAMPLE_GUARD) */
    size_t thp_segments;   /* segments advised to use transparent huge pages (HEAPKIT_THP) */
} hk_stats_t;

/* Fill *out with a snapshot. Exact when no other thread is allocating, approximate otherwise. */
HK_API void hk_stats_get(hk_stats_t *out);
/* Print a human-readable report (totals and one line per size class) to stderr. */
HK_API void hk_stats_print(void);
/* Print the same report to file descriptor fd. */
HK_API void hk_stats_print_fd(int fd);
/* Write the report as JSON into buf (NUL-terminated if cap > 0). Returns the length the full
 * text needs (excluding the NUL), like snprintf; never allocates. */
HK_API size_t hk_stats_json(char *buf, size_t cap);

/* ---- leak detection (HEAPKIT_LEAKS=1, or `heapkit run --leaks`) ---- */
typedef struct hk_leak_count_s {
    size_t blocks, bytes;
} hk_leak_count_t;

/* Blocks per kind, as Valgrind's memcheck classifies them. */
typedef struct hk_leak_summary_s {
    hk_leak_count_t definite;  /* no pointer to the block anywhere */
    hk_leak_count_t indirect;  /* pointed to only from lost blocks */
    hk_leak_count_t possible;  /* pointed to only in its middle */
    hk_leak_count_t reachable; /* still pointed to from a root */
} hk_leak_summary_t;

/* Stop the other threads, find the blocks no root reaches, report those not reported by an
 * earlier check, resume. Fills *out (may be NULL) with the counts of the newly reported blocks.
 * Returns 0, or -1 with errno = ENOTSUP when leak tracking is off. */
HK_API int hk_leak_check(hk_leak_summary_t *out);

/* Memcheck's interior-pointer heuristics: a block held only by a pointer of one of these shapes
 * into its middle is still reachable, not possibly lost. All are on by default, as in memcheck. */
#define HK_LEAK_HEURISTIC_STDSTRING 1u           /* libstdc++'s old std::string: the pointer to its chars */
#define HK_LEAK_HEURISTIC_LENGTH64 2u            /* a 64-bit length prefix: the pointer past it */
#define HK_LEAK_HEURISTIC_NEWARRAY 4u            /* new[] of objects with destructors: past the count */
#define HK_LEAK_HEURISTIC_MULTIPLE_INHERITANCE 8u /* a pointer to a second base (a vtable pointer there) */
#define HK_LEAK_HEURISTICS_ALL 15u
/* Set the heuristics later checks use (a mask of the above, 0 = none); returns the old mask, or
 * (unsigned)-1 with errno = EINVAL for an unknown bit. */
HK_API unsigned hk_leak_set_heuristics(unsigned mask);

/* Heap profile (HEAPKIT_PROFILE=exact|sampled): write the profile as it is now to
 * HEAPKIT_PROFILE_DIR/profile.PID.N.hkp, for `heapkit report`. Returns 0, or -1 with errno =
 * ENOTSUP when profiling is off (or the errno of the file that could not be written). */
HK_API int hk_profile_dump(void);

HK_API const char *hk_version(void);

/* ---- NUMA placement ----
 * With more than one node the library places memory by itself (HEAPKIT_NUMA=local: each thread's
 * on the node it runs on; interleave; off); these calls place it explicitly. Nodes are the
 * kernel's numbers (0 to 63 here). On a single-node machine they all work and say node 0. */
/* Nodes online (1 on a machine without NUMA). */
HK_API int hk_numa_nodes(void);
/* The node of the CPU the calling thread runs on now. */
HK_API int hk_numa_node(void);
/* A block whose memory is on node (the kernel's preferred policy: if the node is full, another
 * one). NULL with errno = EINVAL for a node that is not online, ENOMEM. Free it with hk_free. */
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(1) void *hk_malloc_node(size_t size, int node);
/* The node holding the page p is in; -1 if it is not in RAM yet (or p is NULL). Works on any
 * address of the process; with HEAPKIT_NUMA_FAKE, the node heapkit placed p's memory on. */
HK_API int hk_node_of(const void *p);
/* Move the pages of [p, p+size) that are in RAM to node (move_pages(2)). Returns how many of them
 * are on node afterwards, or -1 with errno (EINVAL: bad node or range; ENOTSUP: simulated nodes). */
HK_API long hk_migrate(void *p, size_t size, int node);
/* Per-node statistics: out[i] for the i-th online node, at most cap of them; returns the number
 * of nodes. Pages are counted where the kernel has them (move_pages). */
typedef struct hk_node_stats_s {
    int node;
    size_t segments;  /* small/medium segments and huge blocks placed on the node */
    size_t committed; /* bytes of those, mapped and not given back */
    size_t live;      /* bytes in blocks handed out from them */
    size_t resident;  /* bytes of the library's memory in RAM on this node, wherever it was asked */
    size_t misplaced; /* bytes asked for on this node that the kernel put on another */
} hk_node_stats_t;
HK_API size_t hk_stats_nodes(hk_node_stats_t *out, size_t cap);

/* ---- object pools (fixed-size objects, like kmem_cache or Boost.Pool) ----
 * Every hk_pool_* and hk_arena_* call checks its handle: NULL (destroy(NULL) is a no-op), a
 * destroyed pool or arena, or anything else is reported in one line and refused (NULL, 0 or -1
 * with errno = EINVAL; a void call does nothing). */
typedef struct hk_pool_s hk_pool_t;

/* Exactly one of these in hk_pool_create's flags. */
#define HK_POOL_SHARED 0x1u /* one pool behind one lock, a small magazine per thread in front
                               (no lock until it is empty or full): any thread allocates and frees */
#define HK_POOL_LOCAL 0x2u  /* a cache per thread, no lock on the fast path; an object freed by
                               another thread goes back to the thread that owns its chunk, and the
                               chunks of a thread that exits are handed to the others */
/* Added to a pool's or an arena's flags: its memory (chunks, large blocks) is on NUMA node n
 * (0 to 63); EINVAL if the node is not online. Without it, memory is the allocating thread's. */
#define HK_ON_NODE(n) (0x10000u | (((unsigned)(n) & 0x3fu) << 17))
#define HK_ON_NODE_MASK 0x7f0000u

/* A pool of objects of `size` bytes aligned to `align` (0: 16, or 8 for objects under 16 bytes;
 * else a power of two up to 4096, anything else is EINVAL); size up to 512 KiB. `name` (copied, up to 47 bytes) is how the
 * statistics and the leak report call it. ctor runs once when an object's memory is first
 * made, dtor once when that memory is given back (trim, shrink, destroy), both with `arg`; in
 * between an object keeps its constructed state from free to the next alloc. They must not use
 * the same pool. With HEAPKIT_LEAKS=1 every object is a block of its own, labelled with the
 * name, constructed at each alloc and destructed at each free. NULL with errno = EINVAL or ENOMEM. */
HK_API hk_pool_t *hk_pool_create(const char *name, size_t size, size_t align, unsigned flags,
                                 void (*ctor)(void *obj, void *arg), void (*dtor)(void *obj, void *arg), void *arg);
/* Gives every chunk back. Objects still live are reported (count, one line on stderr) and their
 * chunks stay allocated, so the program cannot corrupt the heap through them. No other thread
 * may use the pool during or after the call. */
HK_API void hk_pool_destroy(hk_pool_t *pool);
HK_API HK_MALLOC_LIKE void *hk_pool_alloc(hk_pool_t *pool);
/* obj NULL: nothing. An object of another pool, one already free or a pointer no pool handed out
 * is reported (one line, like a bad free()) and the call is ignored. */
HK_API void hk_pool_free(hk_pool_t *pool, void *obj);
/* Give back every chunk whose objects are all free (this thread's cache or magazine is emptied
 * first; other threads' are theirs). Returns the bytes given back. */
HK_API size_t hk_pool_trim(hk_pool_t *pool);

typedef struct hk_pool_stats_s {
    const char *name;   /* valid while the pool lives */
    size_t object_size; /* as created */
    size_t live;        /* objects handed out and not freed (a free from another thread counts
                           when the owner collects it) */
    size_t capacity;    /* objects the chunks held now can hold */
    size_t chunks;      /* chunks held */
    size_t bytes;       /* bytes of those chunks */
} hk_pool_stats_t;
HK_API void hk_pool_stats(hk_pool_t *pool, hk_pool_stats_t *out);

/* ---- arenas (regions freed at once, like APR pools, ngx_pool_t or talloc) ---- */
#include <stdarg.h> /* va_list, for hk_arena_vprintf */
typedef struct hk_arena_s hk_arena_t;

#define HK_ARENA_LOCKED 0x1u /* any thread may use the arena (a mutex); else only its owner */
/* hk_arena_alloc and calloc align to 8 bytes instead of 16 (as APR pools do): no padding
 * between allocations whose sizes are multiples of 8, so less memory for many small ones; for
 * data that needs no 16-byte alignment (no long double, __int128 or 16-byte vector types in it;
 * hk_arena_aligned_alloc still gives any alignment asked for). */
#define HK_ARENA_ALIGN_8 0x2u

/* An arena; with a parent, it is destroyed when the parent is destroyed, reset or rewound past
 * its creation. Memory comes in chunks that double from a small first one, allocated with the
 * arena and kept by reset for the next use. Without HK_ARENA_LOCKED the creating thread owns it
 * (see hk_arena_set_owner); use from another thread is reported when HEAPKIT_LEAKS=1. */
HK_API hk_arena_t *hk_arena_create(const char *name, hk_arena_t *parent, unsigned flags);
/* The same, tuned: first_chunk bytes allocated with the arena, its header included (0: 4 KiB),
 * and keep: bytes of later chunks that reset keeps too (0: none, only the first chunk stays). */
HK_API hk_arena_t *hk_arena_create_ex(const char *name, hk_arena_t *parent, unsigned flags, size_t first_chunk,
                                      size_t keep);
/* Destroys the children, runs the cleanups (everything in reverse order of creation), frees. */
HK_API void hk_arena_destroy(hk_arena_t *arena);
/* As destroy, but the arena stays, empty, with its chunks kept up to `keep` bytes. */
HK_API void hk_arena_reset(hk_arena_t *arena);

/* Memory aligned to 16 bytes (8 with HK_ARENA_ALIGN_8; to `alignment` for aligned_alloc, a power
 * of two), valid until
 * reset, rewind or destroy. NULL with errno = ENOMEM (or EINVAL for a bad alignment). */
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(2) void *hk_arena_alloc(hk_arena_t *arena, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(2, 3) void *hk_arena_calloc(hk_arena_t *arena, size_t count, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(3) void *hk_arena_aligned_alloc(hk_arena_t *arena, size_t alignment,
                                                                    size_t size);
HK_API char *hk_arena_strdup(hk_arena_t *arena, const char *s);
HK_API char *hk_arena_strndup(hk_arena_t *arena, const char *s, size_t n);
/* Formats into the arena exactly as snprintf does, without calling malloc: every C99 conversion,
 * flag, width, precision (`*` too) and size. %n is refused (shown as written, nothing stored);
 * floating point with a precision over 400, or %Lf of 1e300 or more, is shown as written, because
 * glibc would malloc for it. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
HK_API char *hk_arena_printf(hk_arena_t *arena, const char *fmt, ...);
HK_API char *hk_arena_vprintf(hk_arena_t *arena, const char *fmt, va_list ap);

/* fn(arg) runs when the arena is reset or destroyed, or rewound past this call; cleanups and
 * child arenas go in reverse order of creation. Returns 0, or -1 with errno = ENOMEM. */
HK_API int hk_arena_on_cleanup(hk_arena_t *arena, void (*fn)(void *arg), void *arg);

/* A savepoint: hk_arena_rewind frees everything allocated since (memory, large blocks, child
 * arenas, running cleanups), keeping what came before. Rewinding to a mark taken before a reset,
 * or to a place the arena no longer reaches (after a rewind to an earlier mark), is reported and
 * ignored. */
typedef struct hk_arena_mark_s {
    const void *chunk_;  /* private */
    size_t offset_;      /* private */
    unsigned long long serial_, generation_; /* private */
} hk_arena_mark_t;
HK_API hk_arena_mark_t hk_arena_mark(hk_arena_t *arena);
HK_API void hk_arena_rewind(hk_arena_t *arena, hk_arena_mark_t mark);

/* Hand an unlocked arena to the calling thread (after the old owner is done with it, e.g. a
 * request passed from an acceptor to a worker through a queue). */
HK_API void hk_arena_set_owner(hk_arena_t *arena);

typedef struct hk_arena_stats_s {
    const char *name;   /* valid while the arena lives */
    size_t used;        /* bytes handed out since the last reset (padding included) */
    size_t chunks;      /* chunks held, the first one included */
    size_t chunk_bytes; /* bytes of those chunks */
    size_t large;       /* allocations with a block of their own */
    size_t large_bytes; /* their bytes */
    size_t children;    /* child arenas alive */
} hk_arena_stats_t;
HK_API void hk_arena_stats(hk_arena_t *arena, hk_arena_stats_t *out);


#ifdef __cplusplus
}
#endif
#endif /* HEAPKIT_H */
