/* meta.c — memory for the library's own records (thread heaps, leak tracking tables, the stack
 * depot, the leak scan's scratch): whole 4 MiB granules tagged HK_MAP_META, so the leak scan never
 * takes them for blocks or roots, and counted apart from the heap's reserved/committed bytes. */
#include "core.h"

#include <sys/mman.h>

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
