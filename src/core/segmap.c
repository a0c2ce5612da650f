/* segmap.c — the segment map: one byte per 4 MiB granule of the user address space saying what
 * lives there (a segment, a huge block or its tail, the library's own metadata, or nothing), so
 * "is this pointer ours, and whose" is answered without touching the pointer. Readers use the
 * inline hk_segmap_get (core.h); writers tag whole granules here. */
#include "core.h"

hk_internal uint8_t hk_segmap[(size_t)1 << (HK_ADDRESS_BITS - HK_SEGMENT_SHIFT)];

/* Tag every granule that [start, start+size) touches. */
void hk_segmap_set(uintptr_t start, size_t size, uint8_t tag) {
    if (size == 0) return;
    for (uintptr_t g = start >> HK_SEGMENT_SHIFT; g <= (start + size - 1) >> HK_SEGMENT_SHIFT; g++)
        __atomic_store_n(&hk_segmap[g], tag, __ATOMIC_RELEASE);
}
