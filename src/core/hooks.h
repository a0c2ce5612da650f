/* hooks.h — where the core lets features above it watch allocations (the leak tracker today;
 * heap checking and the profiler next): the core calls these at fixed points of its generic
 * paths, the feature fills hk_state.hooks during process init. The core never reads or writes a
 * feature's records itself. With no hook set the fast paths run and none of this is reached. */
#ifndef HK_HOOKS_H
#define HK_HOOKS_H

#include "core.h"

/* The family of the call under way, for heap checking's mismatched free report (Valgrind's
 * "Mismatched free() / delete / delete []"): a block of one family must be freed by the same
 * family. The C functions are HK_FAMILY_MALLOC (0, the TLS's rest value); the C++ operators
 * (cxx_new.c) set it only on their misses and only when heap checking's front serves the API
 * (hk_malloc_missed_as, hk_free_missed_as), so no fast path pays for it, and set it back to 0
 * after the call. The front takes it (hk_take_family) on entry, before anything it calls may
 * allocate. */
enum { HK_FAMILY_MALLOC = 0, HK_FAMILY_NEW = 1, HK_FAMILY_NEW_ARRAY = 2, HK_FAMILIES };
extern hk_internal __thread uint8_t hk_api_family __attribute__((tls_model("initial-exec")));

static inline uint8_t hk_take_family(void) {
    uint8_t f = hk_api_family;
    if (hk_unlikely(f != 0)) hk_api_family = 0;
    return f;
}

/* Some hook is set: the heap serves every allocation and free through the generic paths (its
 * direct table stays empty and every page carries HK_PAGE_OBSERVED). */
static inline bool hk_observed(void) { return hk_state.observed; }

static inline void hk_hook_alloc(void *p, size_t size) {
    if (hk_unlikely(hk_state.observed) && hk_state.hooks.alloc) hk_state.hooks.alloc(p, size);
}

/* hk_hook_alloc of a block start of `page` (a small or medium page). */
static inline void hk_hook_alloc_block(hk_page_t *page, void *block, size_t size) {
    if (hk_state.hooks.alloc_block != NULL) hk_state.hooks.alloc_block(page, block, size);
    else hk_hook_alloc(block, size);
}

/* false: the observer knows the block is not live (a double free). Called on the generic free
 * path; a sampler (which leaves the fast paths on) gets the frees of the pages it flagged
 * HK_PAGE_OBSERVED, which take this path. */
static inline bool hk_hook_free(hk_segment_t *seg, hk_page_t *page, void *block) {
    if (hk_likely(hk_state.hooks.free == NULL)) return true;
    return hk_state.hooks.free(seg, page, block);
}

/* The generic malloc path charges the sampling countdown with the bytes the fast path did not
 * (the fast path charges its own to heap->sample_left and comes here, uncharged, when they would
 * take it below 0). True: this block takes it below 0, so the sampler (hooks.sample) serves it;
 * the countdown is left as it was before the block, for the sampler to read. */
static inline bool hk_sample_due(hk_heap_t *heap, size_t size) {
    if (hk_likely(hk_state.hooks.sample == NULL) || heap == &hk_heap_empty) return false;
    int64_t left = heap->sample_left - (int64_t)(size > INT64_MAX ? INT64_MAX : size);
    if (left < 0) return true;
    heap->sample_left = left;
    return false;
}

static inline bool hk_hook_segment_mapped(hk_segment_t *seg) {
    if (hk_likely(!hk_state.observed) || !hk_state.hooks.segment_mapped) return true;
    return hk_state.hooks.segment_mapped(seg);
}

static inline void hk_hook_segment_unmapped(hk_segment_t *seg) {
    if (hk_state.observed && hk_state.hooks.segment_unmapped) hk_state.hooks.segment_unmapped(seg);
}

static inline void hk_hook_huge_placed(hk_segment_t *seg) {
    if (hk_state.observed && hk_state.hooks.huge_placed) hk_state.hooks.huge_placed(seg);
}

static inline void hk_hook_heap_done(hk_heap_t *heap) {
    if (hk_state.observed && hk_state.hooks.heap_done) hk_state.hooks.heap_done(heap);
}

/* Called with a corruption report under way (corruption.c), so it must not allocate. */
static inline void hk_hook_describe_block(const void *block, const char *role, hk_buf_t *out) {
    if (hk_state.hooks.describe_block) hk_state.hooks.describe_block(block, role, out);
}

#endif /* HK_HOOKS_H */
