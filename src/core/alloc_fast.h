/* alloc_fast.h — the fast paths of malloc and free as inline functions, for every entry point
 * that serves them: alloc.c's (malloc, free and their standard names) and cxx_new.c's (operator
 * new and delete). C++'s operators reached malloc and free through the PLT, a call and a return
 * more per new and per delete: about 8 instructions each, more than the rest of a delete's free.
 * The misses go to alloc.c's generic paths, hidden, so they are called directly too. Always
 * inlined: the compiler would otherwise make one shared copy and call it, the call we remove. */
#ifndef HK_ALLOC_FAST_H
#define HK_ALLOC_FAST_H

#include "hooks.h"

/* alloc.c: where the fast paths go when they cannot serve (never inlined into them). */
hk_internal hk_noinline void *hk_malloc_generic(size_t size, hk_heap_t *heap, bool zero);
hk_internal hk_cold void *hk_malloc_sample_due(hk_heap_t *heap, size_t size, bool zero);
hk_internal hk_noinline void hk_free_unknown(void *p);
hk_internal hk_noinline void hk_free_hardened(void *p, hk_segment_t *seg, hk_heap_t *heap);
hk_internal hk_noinline void hk_free_full_page(void *p, hk_heap_t *heap);
hk_internal hk_noinline void hk_free_not_owned(void *p, hk_heap_t *heap);
/* cxx_new.c: the misses of the C++ operators (family: HK_FAMILY_NEW or _NEW_ARRAY, hooks.h), which
 * tell heap checking's front the operator before they take the misses above. */
hk_internal hk_noinline void *hk_malloc_missed_as(size_t size, hk_heap_t *heap, uint8_t family);
hk_internal hk_noinline void hk_free_slow_delete(void *p, hk_segment_t *seg, hk_heap_t *heap);
hk_internal hk_noinline void hk_free_slow_delete_array(void *p, hk_segment_t *seg, hk_heap_t *heap);
hk_internal hk_noinline void hk_free_not_owned_delete(void *p, hk_heap_t *heap);
hk_internal hk_noinline void hk_free_not_owned_delete_array(void *p, hk_heap_t *heap);

/* Heap checking serves the API (hk_hooks_t.front): set only with hk_state.observed, so the fast
 * paths, which observed keeps off, never test it. */
static inline const hk_front_t *hk_front(void) { return hk_state.hooks.front; }

/* malloc: a pop from the thread's page serving the size (heap->direct), charged to the sampling
 * countdown; everything else (a first call, an empty page, a size over HK_DIRECT_MAX, a sample
 * due, an observed heap, whose direct table is empty) takes hk_malloc_generic. `family` is a
 * constant: 0 (malloc) compiles to malloc's own path; a C++ operator's (hooks.h) only changes
 * which function its misses call, so the hit path is the same instructions. */
static inline __attribute__((always_inline)) void *hk_malloc_inline_as(size_t size, uint8_t family) {
    hk_heap_t *heap = hk_heap_tls;
    if (hk_likely(size <= HK_DIRECT_MAX)) {
        hk_page_t *page = heap->direct[HK_DIRECT_INDEX(size)];
        hk_block_t *b = page->free; /* read once: the countdown's store below cannot change it */
        if (hk_likely(b != NULL)) {
            /* bytes to the next sample (a sampler's look, on the generic path, once below 0) */
            if (hk_unlikely((heap->sample_left -= (int64_t)size) < 0)) return hk_malloc_sample_due(heap, size, false);
            if (hk_likely(hk_page_pop_head(page, b, &b))) return b;
            return hk_page_pop_checked(page);
        }
    }
    if (family != 0) return hk_malloc_missed_as(size, heap, family);
    return hk_malloc_generic(size, heap, false);
}

static inline __attribute__((always_inline)) void *hk_malloc_inline(size_t size) {
    return hk_malloc_inline_as(size, 0);
}

/* The fast free's push of b onto its page, this thread's and flagged for nothing. */
static inline __attribute__((always_inline)) void hk_free_push_local(hk_heap_t *heap, hk_page_t *page, hk_block_t *b) {
    /* LIFO: the block just freed is the next one handed out, while it is still in cache. */
    b->next = hk_encode(page->free);
    page->free = b;
    page->is_zero = 0;
    /* The only page of its bin (no neighbours) is kept when empty: no call for it, unless it
     * carved more than one carving's blocks (it restarts, hk_page_restart). */
    if (hk_unlikely(--page->used == 0) && (page->next != NULL || page->prev != NULL || page->capacity > page->carve_count))
        hk_heap_page_retire(heap, page);
}

/* free off the fast path: the hardened free, or the one that checks it all (hk_free_full_page). */
static inline __attribute__((always_inline)) void hk_free_slow(void *p, hk_segment_t *seg, hk_heap_t *heap) {
    if (hk_unlikely(hk_secure())) hk_free_hardened(p, seg, heap);
    else hk_free_full_page(p, heap);
}

/* free of p in segment seg, which heap owns: a push onto the page's free list when the page is flagged for
 * nothing (its fast_free_heap is this heap: one compare, hk_page_fast_free_heap), p is a block
 * start and not free by its link word (hk_block_may_be_free); else the slow paths, which check it
 * all. */
static inline __attribute__((always_inline)) void hk_free_in_segment_as(void *p, hk_segment_t *seg, hk_heap_t *heap,
                                                                       uint8_t family) {
    hk_page_t *page = hk_segment_page_of(seg, p);
    hk_block_t *b = p;
    if (hk_likely(hk_page_fast_free_heap(page) == heap && hk_page_is_block_start(page, p) &&
                  !hk_block_may_be_free(b, seg))) {
        hk_free_push_local(heap, page, b);
        return;
    }
    /* The family in the callee's name, its arguments those of hk_free_hardened: another set (a
     * family argument, or no seg) gives the hit path another register allocation, an
     * instruction longer (callgrind, operator delete). */
    if (family == HK_FAMILY_NEW) hk_free_slow_delete(p, seg, heap);
    else if (family == HK_FAMILY_NEW_ARRAY) hk_free_slow_delete_array(p, seg, heap);
    else hk_free_slow(p, seg, heap);
}

static inline __attribute__((always_inline)) void hk_free_in_segment(void *p, hk_segment_t *seg, hk_heap_t *heap) {
    hk_free_in_segment_as(p, seg, heap, 0);
}

/* free (family as hk_malloc_inline_as's): the segment found in the thread's table of its own
 * (hk_heap_owns_segment_of: no
 * segment-map lookup), then hk_free_in_segment; a segment not in the table first asks the
 * segment map (hk_free_not_owned). */
static inline __attribute__((always_inline)) void hk_free_inline_as(void *p, uint8_t family) {
    hk_heap_t *heap = hk_heap_tls;
    if (hk_unlikely(!hk_heap_owns_segment_of(heap, p))) {
        if (family == HK_FAMILY_NEW) hk_free_not_owned_delete(p, heap);
        else if (family == HK_FAMILY_NEW_ARRAY) hk_free_not_owned_delete_array(p, heap);
        else hk_free_not_owned(p, heap);
        return;
    }
    hk_free_in_segment_as(p, hk_ptr_segment(p), heap, family);
}

static inline __attribute__((always_inline)) void hk_free_inline(void *p) { hk_free_inline_as(p, 0); }

#endif /* HK_ALLOC_FAST_H */
