/* profile_timeline.c — the heap profile over time: the timeline's buckets, filled on every tick
 * of the profiler's thread (profile.c) with live, committed and resident bytes and the
 * allocations so far. When all HK_PROFILE_BUCKETS are used, neighbours merge (largest values,
 * later counts) and buckets get twice as wide: the timeline's size is bounded whatever the run's
 * length. And the heap map: every segment's pages, their size class and how full they are, taken
 * with each new peak snapshot (profile.c), to show fragmentation at the peak. */
#define _GNU_SOURCE
#include "profile.h"

#include <fcntl.h>
#include <unistd.h>

/* Resident bytes of the whole process, from /proc/self/statm (its second field, in pages): one
 * read, not a walk of every segment with mincore. 0 if it cannot be read. */
uint64_t hk_profile_resident(void) {
    if (hk_profile.statm_fd < 0) hk_profile.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (hk_profile.statm_fd < 0) return 0;
    char text[128];
    ssize_t n = pread(hk_profile.statm_fd, text, sizeof text - 1, 0);
    if (n <= 0) return 0;
    text[n] = '\0';
    const char *p = text;
    while (*p != '\0' && *p != ' ') p++; /* past the size field */
    uint64_t pages = 0;
    for (p++; *p >= '0' && *p <= '9'; p++) pages = pages * 10 + (uint64_t)(*p - '0');
    return pages * (uint64_t)hk_os_page_size();
}

static void hk_bucket_merge(hk_profile_bucket_t *into, const hk_profile_bucket_t *later) {
    if (later->live > into->live) into->live = later->live;
    if (later->committed > into->committed) into->committed = later->committed;
    if (later->resident > into->resident) into->resident = later->resident;
    into->ms = later->ms;
    into->calls = later->calls;
    into->bytes = later->bytes;
}

void hk_profile_timeline_tick(uint64_t now_ms) {
    hk_profile_bucket_t b = {
        .ms = now_ms,
        .live = hk_profile_live(),
        .committed = atomic_load_explicit(&hk_state.committed, memory_order_relaxed),
        .resident = hk_profile_resident(),
        .calls = hk_profile_total_calls(),
        .bytes = hk_profile_total_bytes(),
    };
    if (hk_profile.buckets == NULL) return;
    size_t n = hk_profile.bucket_count;
    uint64_t width = hk_profile.bucket_width_ms;
    if (n > 0 && hk_profile.buckets[n - 1].ms / width == now_ms / width) { /* the last bucket's time */
        hk_bucket_merge(&hk_profile.buckets[n - 1], &b);
        return;
    }
    if (n == HK_PROFILE_BUCKETS) { /* full: pairs merge, buckets twice as wide */
        for (size_t i = 0; i < n / 2; i++) {
            hk_profile_bucket_t m = hk_profile.buckets[2 * i];
            hk_bucket_merge(&m, &hk_profile.buckets[2 * i + 1]);
            hk_profile.buckets[i] = m;
        }
        n /= 2;
        hk_profile.bucket_width_ms = width *= 2;
    }
    if (n > 0 && hk_profile.buckets[n - 1].ms / width == now_ms / width) hk_bucket_merge(&hk_profile.buckets[n - 1], &b);
    else hk_profile.buckets[n++] = b;
    hk_profile.bucket_count = n;
}

/* ------------------------------------------------------------------ heap map */

bool hk_profile_map_take(bool wait) {
    if (hk_profile.map_segments == NULL) {
        hk_profile.map_segments = hk_meta_map(HK_PROFILE_MAP_SEGMENTS * sizeof(hk_profile_map_segment_t));
        hk_profile.map_pages = hk_meta_map(HK_PROFILE_MAP_PAGES * sizeof(hk_profile_map_page_t));
        if (hk_profile.map_segments == NULL || hk_profile.map_pages == NULL) return false;
    }
    size_t segs = 0, pages = 0;
    /* Other threads' page records are read without their owners' cooperation: a snapshot whose
     * counts may be a few blocks off, as the statistics report's. */
    if (!wait && pthread_mutex_trylock(&hk_state.segments_lock) != 0) return false;
    if (wait) pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL && segs < HK_PROFILE_MAP_SEGMENTS; seg = seg->all_next) {
        bool huge = seg->kind == HK_SEGMENT_HUGE;
        uint32_t count = huge ? 0 : seg->page_count;
        if (pages + count > HK_PROFILE_MAP_PAGES) break;
        hk_profile.map_segments[segs++] = (hk_profile_map_segment_t){
            .address = (uintptr_t)seg,
            .kind = (uint32_t)seg->kind,
            .page_count = count,
            .page_bytes = huge ? seg->size : (size_t)1 << seg->page_shift,
            .huge_bytes = huge ? seg->block_size : 0,
        };
        for (uint32_t i = 0; i < count; i++) {
            const hk_page_t *page = &seg->pages[i];
            hk_profile.map_pages[pages++] = (hk_profile_map_page_t){
                .in_use = page->in_use,
                .bin = page->bin,
                .used = page->in_use ? page->used : 0,
                .reserved = page->in_use ? page->reserved : 0,
            };
        }
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    hk_profile.map_segment_count = segs;
    hk_profile.map_page_count = pages;
    hk_profile.map_live = hk_profile_live();
    hk_profile.map_ms = atomic_load_explicit(&hk_profile.now_ms, memory_order_relaxed);
    return true;
}
