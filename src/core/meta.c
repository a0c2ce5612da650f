/* meta.c — memory for the library's own records (thread heaps, leak tracking tables, the stack
 * depot, the leak scan's scratch): whole 4 MiB granules tagged HK_MAP_META, so the leak scan never
 * takes them for blocks or roots, and counted apart from the heap's reserved/committed bytes. */
#include "core.h"

#include <sys/mman.h>
#include <sys/resource.h>

void *hk_meta_map(size_t size) {
    size = hk_align_up(size, HK_SEGMENT_SIZE);
    size_t mapped;
    uint8_t *p = hk_os_map_aligned_flags(size, HK_SEGMENT_SIZE, &mapped, MAP_NORESERVE); /* sparse tables */
    if (p == NULL) return NULL;
    if (!hk_segmap_cover((uintptr_t)p, size)) {
        hk_os_unmap(p, size);
        return NULL;
    }
    hk_os_account(-(intptr_t)size, -(intptr_t)size);
    atomic_fetch_add_explicit(&hk_state.meta_reserved, size, memory_order_relaxed);
    hk_segmap_set((uintptr_t)p, size, HK_MAP_META);
    return p;
}

void hk_meta_unmap(void *p, size_t size) {
    size = hk_align_up(size, HK_SEGMENT_SIZE);
    hk_segmap_set((uintptr_t)p, size, HK_MAP_NONE);
    hk_os_unmap(p, size);
    hk_os_account((intptr_t)size, (intptr_t)size); /* hk_os_unmap took it from the heap's counts */
    atomic_fetch_sub_explicit(&hk_state.meta_reserved, size, memory_order_relaxed);
}

/* The regions sized for the worst case (the stack depot, the leak scan's scratch) are address
 * space only, but under RLIMIT_AS (ulimit -v) address space is what the program runs out of: take
 * at most a sixteenth of the limit, and less if even that is refused, down to `least`. */
#define HK_META_LIMIT_SHARE 16

void *hk_meta_map_most(size_t want, size_t least, size_t *got) {
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && want > as.rlim_cur / HK_META_LIMIT_SHARE)
        want = (size_t)(as.rlim_cur / HK_META_LIMIT_SHARE);
    want = hk_align_up(want > least ? want : least, HK_SEGMENT_SIZE);
    for (;;) {
        void *p = hk_meta_map(want);
        if (p != NULL || want <= least) {
            *got = p != NULL ? want : 0;
            return p;
        }
        want = hk_align_up(want / 2 > least ? want / 2 : least, HK_SEGMENT_SIZE);
    }
}
