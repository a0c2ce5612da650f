/* huge_cache.c — freed huge mappings kept mapped for reuse: a few extents of address space,
 * merged when they touch and split when a smaller block needs one, so big buffers that come and
 * go cost no system calls and no page faults.
 * What stays resident follows the decay curve (decay.c, HEAPKIT_DECAY): while huge blocks keep
 * coming and going, what was freed recently is kept and what stayed unused is purged a little at
 * a time, from the oldest extents and from their ends. A purged range stays mapped and is known to
 * read zero: each extent records how much of it, from its start, may hold old contents (`dirty`),
 * so calloc zeroes only that part when it reuses the extent. Extents purged whole are unmapped
 * once they stayed unused a whole decay window, and everything is unmapped when the program stops
 * allocating huge blocks for a couple of purge delays (it went idle). HEAPKIT_HUGE_CACHE caps the total. */
#include "core.h"

/* An extent more than this many times the size asked for is split, not handed out whole: the
 * rest stays cached for the next big block. */
#define HK_HUGE_CACHE_SPLIT 2

typedef struct hk_extent_s {
    uint8_t *base; /* NULL = empty slot; always 4 MiB aligned */
    size_t size;
    size_t dirty; /* bytes from base that may hold old contents; the rest was purged and reads zero */
    uint64_t at;  /* ms clock when it was cached, or when a block was last merged into it */
    int node;     /* the NUMA node its pages were placed on: reused only for that node */
} hk_extent_t;

/* guarded by hk_state.huge_lock */
static hk_extent_t hk_cache[HK_HUGE_CACHE_EXTENTS];
static size_t hk_cache_dirty; /* the sum of the extents' dirty bytes: what the decay paces */
static hk_decay_t hk_cache_decay;
static bool hk_cache_decay_ready;

static _Atomic size_t hk_cached_bytes; /* mapped bytes in the cache, dirty or not */
static _Atomic uint64_t hk_last_alloc; /* ms clock of the latest huge allocation */

size_t hk_huge_cached(void) { return atomic_load_explicit(&hk_cached_bytes, memory_order_relaxed); }

/* Take an extent out of the cache into `out` for unmapping (after the lock is dropped). */
static void hk_cache_drop(hk_extent_t *e, hk_extent_t *out, size_t *n) {
    out[(*n)++] = *e;
    atomic_fetch_sub_explicit(&hk_cached_bytes, e->size, memory_order_relaxed);
    hk_cache_dirty -= e->dirty;
    e->base = NULL;
}

/* Unmap dropped extents. Their purged parts were already subtracted from committed (os.c), and
 * unmapping subtracts the whole extent: count those parts as committed again first. */
static void hk_cache_unmap(const hk_extent_t *drop, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hk_os_recommit(drop[i].size - drop[i].dirty);
        hk_os_unmap(drop[i].base, drop[i].size);
    }
}

/* The decay's say on the dirty bytes now; the caller holds the lock. */
static size_t hk_cache_excess_locked(uint64_t now) {
    if (!hk_cache_decay_ready) {
        hk_decay_init(&hk_cache_decay, hk_state.options.decay_ms, now);
        hk_cache_decay_ready = true;
    }
    return hk_decay_excess(&hk_cache_decay, now, hk_cache_dirty);
}

/* Purge what the decay says is over, from the ends of the oldest extents (the lock is held: a
 * range being purged must not be handed out meanwhile). */
static void hk_cache_decay_locked(uint64_t now) {
    size_t excess = hk_cache_excess_locked(now), ps = hk_os_page_size();
    while (excess > 0) {
        hk_extent_t *oldest = NULL;
        for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) {
            hk_extent_t *e = &hk_cache[i];
            if (e->base != NULL && e->dirty > 0 && (oldest == NULL || e->at < oldest->at)) oldest = e;
        }
        if (oldest == NULL) break;
        size_t cut = hk_align_up(excess, ps);
        if (cut > oldest->dirty) cut = oldest->dirty;
        hk_os_purge(oldest->base + oldest->dirty - cut, cut);
        oldest->dirty -= cut;
        hk_cache_dirty -= cut;
        excess -= cut < excess ? cut : excess;
    }
    hk_decay_purged(&hk_cache_decay, hk_cache_dirty);
}

/* Space for a block of `needed` bytes, or NULL. *size receives the extent's size: at least
 * `needed`, or less when the biggest smaller extent is returned for the caller to grow; *dirty
 * how many of its bytes, from its start, may hold old contents (the rest reads zero). */
uint8_t *hk_huge_cache_take(size_t needed, size_t *size, size_t *dirty, int node) {
    uint64_t now = hk_clock_ms();
    atomic_store_explicit(&hk_last_alloc, now, memory_order_relaxed);
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
        *dirty = fit->dirty < front ? fit->dirty : front;
        fit->base += front;
        fit->size -= front;
        fit->dirty -= *dirty;
    } else {
        hk_extent_t *e = fit != NULL ? fit : smaller;
        if (e != NULL) {
            base = e->base;
            *size = e->size;
            *dirty = e->dirty;
            e->base = NULL;
        }
    }
    if (base != NULL) {
        atomic_fetch_sub_explicit(&hk_cached_bytes, *size, memory_order_relaxed);
        hk_cache_dirty -= *dirty;
        (void)hk_cache_excess_locked(now); /* tell the decay: these bytes were reused, not freed */
    }
    pthread_mutex_unlock(&hk_state.huge_lock);
    if (base != NULL) hk_os_recommit(*size - *dirty); /* its purged part becomes a block's again */
    return base;
}

/* Keep [base, base+size) for reuse, merged with a cached neighbour if it touches one; the oldest
 * extents are unmapped if the cap is exceeded; then the decay purges what it finds over. */
bool hk_huge_cache_keeps(size_t size) {
    return size <= hk_state.options.huge_cache && hk_state.options.purge_delay_ms != 0 && hk_state.options.decay_ms != 0;
}

void hk_huge_cache_put(uint8_t *base, size_t size, int node) {
    if (!hk_huge_cache_keeps(size)) {
        hk_os_unmap(base, size);
        return;
    }
    hk_extent_t drop[HK_HUGE_CACHE_EXTENTS + 1];
    size_t dropped = 0, dirty = size; /* a freed block's whole mapping may have been written */
    uint64_t now = hk_clock_ms();
    pthread_mutex_lock(&hk_state.huge_lock);
    atomic_fetch_add_explicit(&hk_cached_bytes, size, memory_order_relaxed);
    hk_cache_dirty += size;
    for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) { /* merge with the extents just before and after */
        hk_extent_t *e = &hk_cache[i];
        if (e->base == NULL || e->node != node) continue;
        /* The one after keeps its dirty-then-zero shape behind this all-dirty one; the one before
         * only if it is all dirty (a zero range in the middle could not be told apart). */
        if (base + size == e->base) {
            dirty = size + e->dirty;
            size += e->size;
            e->base = NULL;
        } else if (e->base + e->size == base && e->dirty == e->size) {
            base = e->base;
            dirty += e->size;
            size += e->size;
            e->base = NULL;
        }
    }
    hk_extent_t *slot = NULL;
    for (;;) {
        hk_extent_t *oldest = NULL;
        slot = NULL;
        for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) {
            hk_extent_t *e = &hk_cache[i];
            if (e->base == NULL) slot = slot ? slot : e;
            else if (oldest == NULL || e->at < oldest->at) oldest = e;
        }
        if (slot != NULL && hk_huge_cached() <= hk_state.options.huge_cache) break;
        if (oldest == NULL) break;
        hk_cache_drop(oldest, drop, &dropped);
    }
    hk_extent_t self = {base, size, dirty, now, node};
    if (slot != NULL && hk_huge_cached() <= hk_state.options.huge_cache) {
        *slot = self;
        hk_cache_decay_locked(now);
    } else {
        hk_cache_drop(&self, drop, &dropped);
    }
    pthread_mutex_unlock(&hk_state.huge_lock);
    hk_cache_unmap(drop, dropped);
    hk_purger_notify();
}

/* The purger's pass (and hk_trim's, with force). Once huge allocations have stopped for
 * HK_IDLE_DELAYS purge delays the program went idle: everything is unmapped. While it keeps
 * allocating big blocks the decay purges step by step, and extents purged whole go once they
 * stayed unused a whole window. */
void hk_huge_purge(bool force) {
    if (hk_huge_cached() == 0) return;
    int64_t delay = hk_state.options.purge_delay_ms, window = hk_state.options.decay_ms;
    if (delay < 0 && !force) return;
    uint64_t now = hk_clock_ms();
    bool idle = force || atomic_load_explicit(&hk_last_alloc, memory_order_relaxed) + HK_IDLE_DELAYS * (uint64_t)delay <= now;
    hk_extent_t drop[HK_HUGE_CACHE_EXTENTS];
    size_t dropped = 0;
    if (force) pthread_mutex_lock(&hk_state.huge_lock);
    else if (pthread_mutex_trylock(&hk_state.huge_lock) != 0) return; /* someone else is on it */
    if (!idle) hk_cache_decay_locked(now);
    for (size_t i = 0; i < HK_HUGE_CACHE_EXTENTS; i++) {
        hk_extent_t *e = &hk_cache[i];
        bool unused = e->base != NULL && e->dirty == 0 && window >= 0 && e->at + (uint64_t)window <= now;
        if (e->base != NULL && (idle || unused)) hk_cache_drop(e, drop, &dropped);
    }
    pthread_mutex_unlock(&hk_state.huge_lock);
    hk_cache_unmap(drop, dropped);
}

/* When the latest huge block was allocated (ms clock): the purger's sign of a busy program. */
uint64_t hk_huge_last_alloc(void) { return atomic_load_explicit(&hk_last_alloc, memory_order_relaxed); }

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
