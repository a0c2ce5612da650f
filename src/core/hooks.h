/* hooks.h — where the core lets features above it watch allocations (the leak tracker today;
 * heap checking and the profiler next): the core calls these at fixed points of its generic
 * paths, the feature fills hk_state.hooks during process init. The core never reads or writes a
 * feature's records itself. With no hook set the fast paths run and none of this is reached. */
#ifndef HK_HOOKS_H
#define HK_HOOKS_H

#include "core.h"

/* Some hook is set: the heap serves every allocation and free through the generic paths (its
 * direct table stays empty and every page carries HK_PAGE_OBSERVED). */
static inline bool hk_observed(void) { return hk_state.observed; }

static inline void hk_hook_alloc(void *p, size_t size) {
    if (hk_unlikely(hk_state.observed) && hk_state.hooks.alloc) hk_state.hooks.alloc(p, size);
}

/* false: the observer knows the block is not live (a double free). */
static inline bool hk_hook_free(hk_segment_t *seg, hk_page_t *page, void *block) {
    if (hk_likely(!hk_state.observed) || !hk_state.hooks.free) return true;
    return hk_state.hooks.free(seg, page, block);
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
