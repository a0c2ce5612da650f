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
/* C23 free_sized / free_aligned_sized: the size is checked against the block in debug modes only. */
HK_API void hk_free_sized(void *p, size_t size);
HK_API void hk_free_aligned_sized(void *p, size_t alignment, size_t size);

HK_API int hk_posix_memalign(void **out, size_t alignment, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(2) void *hk_aligned_alloc(size_t alignment, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(2) void *hk_memalign(size_t alignment, size_t size);
HK_API HK_MALLOC_LIKE HK_ALLOC_SIZE(1) void *hk_valloc(size_t size);
HK_API HK_MALLOC_LIKE void *hk_pvalloc(size_t size);

/* Bytes usable at p (>= the size asked for); 0 for NULL. */
HK_API size_t hk_usable_size(const void *p);
/* True if p points into a block that heapkit handed out and that is still live or cached. */
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

HK_API const char *hk_version(void);

#ifdef __cplusplus
}
#endif
#endif /* HEAPKIT_H */
