/* huge_cache.c — freed huge mappings kept mapped for reuse: a few extents of address space,
 * merged when they touch and split when a smaller block needs one, so big buffers that come and
 * go cost no system calls and no page faults. Bounded by HEAPKIT_HUGE_CACHE bytes. */
#include "core.h"

/* An extent more than this many times the size asked for is split, not handed out whole: the
 * rest stays cached for the next big block. */
#define HK_HUGE_CACHE_SPLIT 2

typedef struct hk_extent_s {
    uint8_t *base; /* NULL = empty slot; always 4 MiB aligned */
    size_t size;
    uint64_t at; /* ms clock when it was cached */
    int node;    /* the NUMA node its pages were placed on: reused only for that node */
} hk_extent_t;

static hk_extent_t hk_cache[HK_HUGE_CACHE_EXTENTS]; /* guarded by hk_state.huge_lock */
static _Atomic size_t hk_cached_bytes;
static _Atomic uint64_t hk_last_alloc; /* ms clock of the latest huge allocation */

size_t hk_huge_cached(void) { return atomic_load_explicit(&hk_cached_bytes, memory_order_relaxed); }

static void hk_cache_drop(hk_extent_t *e, hk_extent_t *out, size_t *n) {
    out[(*n)++] = *e;
    atomic_fetch_sub_explicit(&hk_cached_bytes, e->size, memory_order_relaxed);
    e->base = NULL;
}

/* Space for a block of `needed` bytes, or NULL. *size receives the extent's size: at least
 * `needed`, or less when the biggest smaller extent is returned for the caller to grow. */
uint8_t *hk_huge_cache_take(size_t needed, size_t *size, int node) {
    atomic_store_explicit(&hk_last_alloc, hk_clock_ms(), memory_order_relaxed);
    if (hk_huge_cached() == 0) return NULL;
    pthread_mutex_lock(&hk_state.huge_lock);
    hk_extent_t *fit = NULL, *smaller = NULL;
    for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) {
        hk_extent_t *e = &hk_cache[i];
        if (e->base == NULL || e->node != node) continue;
        if (e->size >= needed) {
            if (fit == NULL || e->size < fit->size) fit = e;
        } else if (smaller == NULL || e->size > smaller->size) {
            smaller = e;
        }
    }
    uint8_t *base = NULL;
    size_t front = hk_align_up(needed, HK_SEGMENT_SIZE);
    if (fit != NULL && fit->size / HK_HUGE_CACHE_SPLIT > needed && front < fit->size) {
        /* Much too big: cut the front off, on a segment boundary, and keep the rest cached. */
        base = fit->base;
        *size = front;
        fit->base += front;
        fit->size -= front;
        atomic_fetch_sub_explicit(&hk_cached_bytes, front, memory_order_relaxed);
    } else {
        hk_extent_t *e = fit != NULL ? fit : smaller;
        if (e != NULL) {
            base = e->base;
            *size = e->size;
            atomic_fetch_sub_explicit(&hk_cached_bytes, e->size, memory_order_relaxed);
            e->base = NULL;
        }
    }
    pthread_mutex_unlock(&hk_state.huge_lock);
    return base;
}

/* Keep [base, base+size) for reuse, merged with a cached neighbour if it touches one; the oldest
 * extents are unmapped if the budget is exceeded. */
void hk_huge_cache_put(uint8_t *base, size_t size, int node) {
    size_t limit = hk_state.options.huge_cache;
    if (size > limit || hk_state.options.purge_delay_ms == 0) {
        hk_os_unmap(base, size);
        return;
    }
    hk_extent_t drop[HK_HUGE_CACHE_EXTENTS + 1];
    size_t dropped = 0;
    uint64_t now = hk_clock_ms();
    pthread_mutex_lock(&hk_state.huge_lock);
    atomic_fetch_add_explicit(&hk_cached_bytes, size, memory_order_relaxed);
    hk_extent_t *slot = NULL;
    for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) { /* merge with the extents just before and after */
        hk_extent_t *e = &hk_cache[i];
        if (e->base != NULL && e->node == node && (e->base + e->size == base || base + size == e->base)) {
            if (e->base < base) base = e->base;
            size += e->size;
            e->base = NULL;
        }
    }
    for (;;) {
        hk_extent_t *oldest = NULL;
        slot = NULL;
        for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) {
            hk_extent_t *e = &hk_cache[i];
            if (e->base == NULL) slot = slot ? slot : e;
            else if (oldest == NULL || e->at < oldest->at) oldest = e;
        }
        if (slot != NULL && hk_huge_cached() <= limit) break;
        if (oldest == NULL) break;
        hk_cache_drop(oldest, drop, &dropped);
    }
    if (slot != NULL && hk_huge_cached() <= limit) {
        *slot = (hk_extent_t){base, size, now, node};
    } else {
        hk_extent_t self = {base, size, now, node};
        hk_cache_drop(&self, drop, &dropped);
    }
    pthread_mutex_unlock(&hk_state.huge_lock);
    for (size_t i = 0; i < dropped; i++) hk_os_unmap(drop[i].base, drop[i].size);
    hk_purger_notify();
}

/* Unmap the cache (all of it if force). It empties once huge allocations have stopped for the
 * purge delay: while a program keeps allocating big blocks its cache stays, because unmapping it
 * would only turn into page faults a moment later. */
void hk_huge_purge(bool force) {
    if (hk_huge_cached() == 0) return;
    int64_t delay = hk_state.options.purge_delay_ms;
    if (delay < 0 && !force) return;
    uint64_t now = hk_clock_ms();
    if (!force && atomic_load_explicit(&hk_last_alloc, memory_order_relaxed) + (uint64_t)delay > now) return;
    hk_extent_t drop[HK_HUGE_CACHE_EXTENTS];
    size_t dropped = 0;
    if (pthread_mutex_trylock(&hk_state.huge_lock) != 0) return; /* someone else is on it */
    for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) {
        hk_extent_t *e = &hk_cache[i];
        if (e->base != NULL && (force || e->at + (uint64_t)delay <= now)) hk_cache_drop(e, drop, &dropped);
    }
    pthread_mutex_unlock(&hk_state.huge_lock);
    for (size_t i = 0; i < dropped; i++) hk_os_unmap(drop[i].base, drop[i].size);
}

/* The cached extents, for the leak scan (their stale contents are no roots). The caller holds
 * hk_state.huge_lock. Returns how many were written to bases/sizes, at most cap. */
size_t hk_huge_cache_extents(uintptr_t *bases, size_t *sizes, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS && n < cap; i++)
        if (hk_cache[i].base != NULL) {
            bases[n] = (uintptr_t)hk_cache[i].base;
            sizes[n++] = hk_cache[i].size;
        }
    return n;
}

HK_LOCK(huge_cache, HK_LOCK_HUGE, &hk_state.huge_lock);
