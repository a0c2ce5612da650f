/* override.c — the standard allocation symbols, as aliases of the hk_ functions.
 * Included at the end of alloc.c (an alias must live in the unit that defines its target) in
 * the builds that replace malloc: libheapkit.so and libheapkit.a. */
#include <malloc.h>
#include <stdio.h>

/* The glibc-internal names are declared here without malloc/alloc_size attributes; those only
 * help callers optimise, so the mismatch with their targets is harmless. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif

#define HK_ALIAS(target) __attribute__((alias(#target), visibility("default"), used))

void *malloc(size_t size) HK_ALIAS(hk_malloc);
void *calloc(size_t count, size_t size) HK_ALIAS(hk_calloc);
void *realloc(void *p, size_t size) HK_ALIAS(hk_realloc);
void free(void *p) HK_ALIAS(hk_free);
void *reallocarray(void *p, size_t count, size_t size) HK_ALIAS(hk_reallocarray);
int posix_memalign(void **out, size_t alignment, size_t size) HK_ALIAS(hk_posix_memalign);
void *aligned_alloc(size_t alignment, size_t size) HK_ALIAS(hk_aligned_alloc);
void *memalign(size_t alignment, size_t size) HK_ALIAS(hk_memalign);
void *valloc(size_t size) HK_ALIAS(hk_valloc);
void *pvalloc(size_t size) HK_ALIAS(hk_pvalloc);
void free_sized(void *p, size_t size) HK_ALIAS(hk_free_sized);
void free_aligned_sized(void *p, size_t alignment, size_t size) HK_ALIAS(hk_free_aligned_sized);

/* glibc's internal names, which some programs and tools call directly. */
void *__libc_malloc(size_t size) HK_ALIAS(hk_malloc);
void *__libc_calloc(size_t count, size_t size) HK_ALIAS(hk_calloc);
void *__libc_realloc(void *p, size_t size) HK_ALIAS(hk_realloc);
void __libc_free(void *p) HK_ALIAS(hk_free);
void *__libc_memalign(size_t alignment, size_t size) HK_ALIAS(hk_memalign);
void *__libc_valloc(size_t size) HK_ALIAS(hk_valloc);
void *__libc_pvalloc(size_t size) HK_ALIAS(hk_pvalloc);
void cfree(void *p) HK_ALIAS(hk_free);

__attribute__((visibility("default"))) size_t malloc_usable_size(void *p) { return hk_usable_size(p); }

/* ------------------------------------------------------------ glibc extras */


__attribute__((visibility("default"))) struct mallinfo2 mallinfo2(void) {
    hk_stats_t s;
    hk_stats_get(&s);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = s.reserved - s.huge_live;          /* non-mmapped space */
    mi.hblks = 0;
    mi.hblkhd = s.huge_live;                      /* space in directly mapped blocks */
    mi.uordblks = s.live;                         /* bytes in use */
    mi.fordblks = s.committed > s.live ? s.committed - s.live : 0; /* free but held */
    mi.keepcost = 0;
    return mi;
}

/* The old int-sized version: values above INT_MAX wrap, as in glibc. */
__attribute__((visibility("default"))) struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = (int)m2.arena;
    mi.hblkhd = (int)m2.hblkhd;
    mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks;
    return mi;
}

__attribute__((visibility("default"))) int malloc_trim(size_t pad) {
    (void)pad;
    return hk_trim();
}

__attribute__((visibility("default"))) void malloc_stats(void) { hk_stats_print(); }

/* glibc writes XML; keep its outer shape so tools that scrape it still find their numbers. */
__attribute__((visibility("default"))) int malloc_info(int options, FILE *fp) {
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    hk_stats_t s;
    hk_stats_get(&s);
    fprintf(fp,
            "<malloc version=\"heapkit-%s\">\n"
            "<total type=\"reserved\" size=\"%zu\"/>\n"
            "<total type=\"committed\" size=\"%zu\"/>\n"
            "<total type=\"resident\" size=\"%zu\"/>\n"
            "<total type=\"live\" size=\"%zu\"/>\n"
            "<total type=\"mmap\" count=\"0\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n"
            "</malloc>\n",
            hk_version(), s.reserved, s.committed, s.resident, s.live, s.huge_live, s.committed);
    return 0;
}

/* Tuning knobs of glibc's allocator mean nothing here; accept them as glibc does. */
__attribute__((visibility("default"))) int mallopt(int param, int value) {
    (void)param;
    (void)value;
    return 1;
}
