/* segmap.c — the segment map: one byte per 4 MiB granule of the user address space saying what
 * lives there (a segment, a huge block or its tail, the library's own metadata, or nothing), so
 * "is this pointer ours, and whose" is answered without touching the pointer. Readers use the
 * inline hk_segmap_get (core.h); writers cover and tag whole granules here.
 * The map covers only the span of addresses the library has mapped (plus room to grow), not the
 * whole 128 TiB: a flat map of all of it is 32 MiB of address space, which a program under
 * `ulimit -v` cannot spare. A lookup outside the span is HK_MAP_NONE, and costs the free fast path
 * no more instructions than the flat map did (one load more, one bounds check folded in). */
#define _GNU_SOURCE
#include "core.h"

#include <sys/mman.h>

/* The map before the first mapping: covers nothing, so no reader ever sees NULL. */
static hk_segmap_t hk_segmap_none;
hk_internal hk_segmap_t *hk_segmap_current = &hk_segmap_none;

/* Writers, and the growth of the map, one at a time. A leaf lock: nothing is taken under it. */
static pthread_mutex_t hk_segmap_lock = PTHREAD_MUTEX_INITIALIZER;

/* The least a new map grows by, in granules: 64 GiB of addresses, 16 KiB of map. */
#define HK_SEGMAP_MIN_GROWTH ((uintptr_t)1 << 14)
#define HK_SEGMAP_GRANULES ((uintptr_t)1 << (HK_ADDRESS_BITS - HK_SEGMENT_SHIFT))

/* Replace the map by one covering [lo, hi) granules too, with room on both sides (it doubles, so
 * the old maps, which are never unmapped since a reader may still hold one, add up to less than
 * the current one). Called with the lock held. */
static bool hk_segmap_grow(uintptr_t lo, uintptr_t hi) {
    hk_segmap_t *old = hk_segmap_current;
    if (old->count != 0) {
        if (old->first < lo) lo = old->first;
        if (old->first + old->count > hi) hi = old->first + old->count;
    }
    uintptr_t room = hi - lo < HK_SEGMAP_MIN_GROWTH ? HK_SEGMAP_MIN_GROWTH : hi - lo;
    lo = lo > room / 2 ? lo - room / 2 : 0;
    hi = hi + room / 2 < HK_SEGMAP_GRANULES ? hi + room / 2 : HK_SEGMAP_GRANULES;
    size_t bytes = hk_align_up(sizeof(hk_segmap_t) + (size_t)(hi - lo), hk_os_page_size());
    size_t mapped;
    hk_segmap_t *map = hk_os_map_aligned(bytes, hk_os_page_size(), &mapped);
    if (map == NULL) return false;
    /* The map is the library's own memory: counted as metadata, not as the heap's. */
    hk_os_account(-(intptr_t)mapped, -(intptr_t)mapped);
    atomic_fetch_add_explicit(&hk_state.meta_reserved, mapped, memory_order_relaxed);
    map->first = lo;
    map->count = hi - lo;
    for (uintptr_t g = 0; g < old->count; g++)
        map->tags[old->first - lo + g] = __atomic_load_n(&old->tags[g], __ATOMIC_RELAXED);
    __atomic_store_n(&hk_segmap_current, map, __ATOMIC_RELEASE);
    return true;
}

/* Make sure the map covers [start, start+size), so that hk_segmap_set can tag it; false (errno
 * ENOMEM) if the map could not grow: the caller gives the mapping back. */
bool hk_segmap_cover(uintptr_t start, size_t size) {
    if (size == 0) return true;
    uintptr_t lo = start >> HK_SEGMENT_SHIFT, hi = ((start + size - 1) >> HK_SEGMENT_SHIFT) + 1;
    pthread_mutex_lock(&hk_segmap_lock);
    const hk_segmap_t *m = hk_segmap_current;
    bool ok = (m->count != 0 && lo >= m->first && hi <= m->first + m->count) || hk_segmap_grow(lo, hi);
    pthread_mutex_unlock(&hk_segmap_lock);
    if (!ok) errno = ENOMEM;
    return ok;
}

/* Tag every granule that [start, start+size) touches (covered by hk_segmap_cover before). */
void hk_segmap_set(uintptr_t start, size_t size, uint8_t tag) {
    if (size == 0) return;
    pthread_mutex_lock(&hk_segmap_lock);
    hk_segmap_t *m = hk_segmap_current;
    for (uintptr_t g = start >> HK_SEGMENT_SHIFT; g <= (start + size - 1) >> HK_SEGMENT_SHIFT; g++)
        if (g - m->first < m->count) __atomic_store_n(&m->tags[g - m->first], tag, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&hk_segmap_lock);
}

/* The map's bytes, for the leak scan to leave out (they hold tags, never pointers). */
void hk_segmap_extent(uintptr_t *lo, uintptr_t *hi) {
    const hk_segmap_t *m = __atomic_load_n(&hk_segmap_current, __ATOMIC_ACQUIRE);
    *lo = (uintptr_t)m;
    *hi = (uintptr_t)&m->tags[m->count];
}

HK_LOCK(segmap, HK_LOCK_SEGMAP, &hk_segmap_lock);
