/* alloc.c — the allocation API: malloc, calloc, realloc, free, aligned allocation, usable size,
 * trim; the standard names are in override.inc, included at the end.
 * The fast paths pop from / push to the current thread's page with no lock, no atomic and no
 * syscall; everything unusual (first use, empty page, other thread's block, huge) goes generic. */
#include "alloc_fast.h"
#include "hooks.h"
#include "quarantine.h"

#include <stdlib.h>

/* The generic paths the fast paths fall back to; never inlined into them, which stay a few
 * instructions long. */
static hk_noinline void hk_free_generic(void *p);
static hk_noinline void hk_free_observed(hk_heap_t *heap, hk_segment_t *seg, hk_page_t *page, void *p);
static hk_noinline void *hk_calloc_checked(hk_page_t *page, size_t total);
static void *hk_malloc_core(hk_heap_t *heap, size_t size, bool zero);
static void *hk_malloc_observed(hk_heap_t *heap, size_t size, bool zero);
static hk_noinline void *hk_malloc_sampling(size_t size, hk_heap_t *heap, bool zero);
static void hk_free_core(void *p);
static void hk_free_unknown_core(void *p);
static size_t hk_usable_from(const void *p, const char *who);

/* p is a sampled guard slot's block (HEAPKIT_SAMPLE_GUARD), which lies outside every segment. */
static inline bool hk_sampled(const void *p) {
    return hk_unlikely(hk_state.hooks.sample_owns != NULL) && hk_state.hooks.sample_owns(p);
}

/* The kernel refused a mapping (commit limit, RLIMIT_AS, RLIMIT_DATA): the huge cache's mappings
 * count against those limits too, so give them back and say whether a retry may succeed. */
static hk_cold bool hk_out_of_memory_retry(void) {
    if (hk_huge_cached() == 0) return false;
    hk_huge_purge(true);
    return true;
}

/* ---------------------------------------------------------------- malloc */

/* The fast path charged the block to the sampling countdown and took it below 0: the charge is
 * undone and the generic path, which the sampler watches, serves the block. */
void *hk_malloc_sample_due(hk_heap_t *heap, size_t size, bool zero) {
    heap->sample_left += (int64_t)size;
    return hk_malloc_generic(size, heap, zero);
}

HK_API void *hk_malloc(size_t size) { return hk_malloc_inline(size); }

HK_API void *hk_calloc(size_t count, size_t size) {
    size_t total;
    if (hk_unlikely(__builtin_mul_overflow(count, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    hk_heap_t *heap = hk_heap_tls;
    if (hk_likely(total <= HK_DIRECT_MAX)) {
        hk_page_t *page = heap->direct[HK_DIRECT_INDEX(total)];
        if (hk_likely(page->free != NULL)) {
            if (hk_unlikely((heap->sample_left -= (int64_t)total) < 0)) return hk_malloc_sample_due(heap, total, true);
            bool is_zero = page->is_zero;
            hk_block_t *p;
            if (hk_unlikely(!hk_page_pop_quick(page, &p))) return hk_calloc_checked(page, total);
            if (!is_zero) memset(p, 0, total);
            return p;
        }
    }
    return hk_malloc_generic(total, heap, true);
}

/* calloc's pop when the quick link check failed: the exact check, then the zeroing. */
static hk_noinline void *hk_calloc_checked(hk_page_t *page, size_t total) {
    bool is_zero = page->is_zero;
    void *p = hk_page_pop_checked(page);
    if (!is_zero) memset(p, 0, total);
    return p;
}

void *hk_malloc_generic(size_t size, hk_heap_t *heap, bool zero) {
    if (hk_unlikely(hk_front() != NULL)) return hk_front()->alloc(size, 0, zero);
    if (hk_unlikely(hk_state.hooks.sample != NULL)) return hk_malloc_sampling(size, heap, zero);
    if (hk_observed()) return hk_malloc_observed(heap, size, zero);
    return hk_malloc_core(heap, size, zero);
}

/* The pop of malloc's fast path for a heap whose direct table stays empty while a feature observes
 * it (leak tracking, heap checking): from the size class's first page, which is the page the
 * direct table would name. NULL (the slow path's work) when the size is over HK_DIRECT_MAX, the
 * page has no free block or is fitted to smaller blocks (fit.c, under ulimit -v), its link word is
 * damaged, or in the hardened mode, whose pop is the checked one. */
static inline __attribute__((always_inline)) hk_block_t *hk_bin_pop(hk_heap_t *heap, size_t size, hk_page_t **page_out) {
    if (size > HK_DIRECT_MAX || hk_secure()) return NULL;
    hk_page_t *page = heap->bins[hk_bin_of(size)].first; /* the empty heap's bins are empty */
    hk_block_t *b;
    if (page == NULL || page->free == NULL || page->block_size < size || !hk_page_pop_quick(page, &b)) return NULL;
    *page_out = page;
    return b;
}

/* An observed heap's malloc (leak tracking: its direct table stays empty, so every call comes
 * here): the fast path's pop from the size class's first page, which is the page the direct table
 * would name, then the hook; what the fast path leaves to the slow path (a first call, an empty
 * page, the periodic purge look, the hardened mode's checked pop) goes to hk_malloc_core as before.
 * Half the instructions of hk_malloc_core's way for the common case (bench/small under --leaks). */
static void *hk_malloc_observed(hk_heap_t *heap, size_t size, bool zero) {
    hk_page_t *page;
    hk_block_t *b = hk_bin_pop(heap, size, &page);
    if (hk_unlikely(b == NULL)) return hk_malloc_core(heap, size, zero);
    if (zero && !page->is_zero) memset(b, 0, size);
    hk_hook_alloc_block(page, b, size);
    return b;
}

/* With a sampler: the thread's heap first, so that its first block is looked at too (a new heap's
 * countdown is 0), then the countdown. */
static void *hk_malloc_sampling(size_t size, hk_heap_t *heap, bool zero) {
    if (heap == &hk_heap_empty && (heap = hk_heap_thread_init()) == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (hk_sample_due(heap, size)) return hk_state.hooks.sample(heap, size, zero, true);
    return hk_malloc_core(heap, size, zero);
}

/* The allocator itself, for heap checking's blocks (no front; sampled, but never from a slot). */
void *hk_core_alloc(size_t size, bool zero) {
    hk_heap_t *heap = hk_heap_tls;
    if (hk_unlikely(hk_sample_due(heap, size))) return hk_state.hooks.sample(heap, size, zero, false);
    return hk_malloc_core(heap, size, zero);
}

/* hk_core_alloc for heap checking's every block, and the bytes usable in it: the pop of malloc's
 * fast path from the size class's first page when it has a free block (the direct table stays
 * empty while checking observes the heap), else hk_core_alloc's generic path. */
void *hk_core_alloc_sized(size_t size, size_t *usable) {
    hk_heap_t *heap = hk_heap_tls;
    void *p;
    if (hk_unlikely(hk_sample_due(heap, size))) {
        p = hk_state.hooks.sample(heap, size, false, false);
    } else {
        hk_page_t *page;
        hk_block_t *b = hk_bin_pop(heap, size, &page);
        if (hk_likely(b != NULL)) {
            hk_hook_alloc(b, size);
            *usable = page->block_size;
            return b;
        }
        p = hk_malloc_core(heap, size, false);
    }
    if (p != NULL) *usable = hk_usable_from(p, NULL);
    return p;
}

/* The allocator without front or sampling: the sampler's own allocation. */
void *hk_core_alloc_plain(size_t size, bool zero) { return hk_malloc_core(hk_heap_tls, size, zero); }

static void *hk_malloc_core(hk_heap_t *heap, size_t size, bool zero) {
    if (hk_unlikely(heap == &hk_heap_empty)) {
        heap = hk_heap_thread_init();
        if (heap == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    /* After the heap is the thread's: starting the purger allocates (the new thread's TLS), and a
     * thread without its heap yet would take one in that call and another on return, the first
     * left with nobody to hand it on (a thread heap's pages stranded in every threaded program). */
    hk_purger_start_if_wanted();
    hk_heap_maybe_collect(heap);
    void *p = NULL;
    if (hk_unlikely(size >= HK_FIT_OWN_MIN)) {
        if (size > HK_MEDIUM_MAX) {
            p = hk_huge_alloc(size, 0, zero);
            if (p == NULL && hk_out_of_memory_retry()) p = hk_huge_alloc(size, 0, zero);
            if (p == NULL) return NULL;
        } else if (hk_fit_own_mapping(size)) {
            /* Under ulimit -v, a mapping of its own where that costs less than the size class
             * (fit.c); if the kernel refuses it, the pages may still have room. */
            p = hk_huge_alloc(size, 0, zero);
        }
    }
    if (p == NULL) {
        size_t bin = hk_bin_of(size);
        hk_page_t *page = heap->bins[bin].first;
        /* The bin's first page may be one fitted to smaller blocks (fit.c, under ulimit -v). */
        if (page == NULL || page->free == NULL || hk_unlikely(page->block_size < size))
            page = hk_heap_find_page(heap, bin, size);
        if (hk_unlikely(page == NULL) && hk_out_of_memory_retry()) page = hk_heap_find_page(heap, bin, size);
        if (hk_unlikely(page == NULL)) {
            errno = ENOMEM;
            return NULL;
        }
        hk_page_check(page, true);
        bool is_zero = page->is_zero;
        /* Hardened: every link followed is checked exactly (a block start of the page). */
        if (hk_unlikely(hk_secure())) p = hk_page_pop_checked(page);
        else p = hk_page_pop(page);
        if (zero && !is_zero) memset(p, 0, size);
    }
    hk_hook_alloc(p, size);
    return p;
}

/* ------------------------------------------------------------------ free */

/* The start of the block p points into (p may be an aligned pointer inside it). */
static hk_block_t *hk_block_start(hk_page_t *page, const void *p) {
    return (hk_block_t *)(page->start + hk_page_block_index(page, p) * page->block_size);
}

HK_API void hk_free(void *p) { hk_free_inline(p); }

/* A double or invalid free (or realloc) is reported with hk_misuse (base.h): survived by default,
 * never in the hardened mode or with HEAPKIT_ON_ERROR=abort, where the message then promises
 * nothing (hk_misuse_tail). */
#define HK_FREE_IGNORED "; ignored"
#define HK_REALLOC_REFUSED "; refused: NULL returned, errno EINVAL"

static hk_cold void hk_report_double_free(const void *p) {
    hk_misuse("free(%p): double free (the block is already free)%s", p, hk_misuse_tail(HK_FREE_IGNORED));
}

static hk_cold void hk_report_double_free_quarantined(const void *p, size_t block_size) {
    hk_misuse("free(%p): double free (the %zu-byte block is already free, waiting in the quarantine)%s", p, block_size,
              hk_misuse_tail(HK_FREE_IGNORED));
}

static hk_cold void hk_report_never_handed_out(const void *p, size_t block_size) {
    hk_misuse("free(%p): invalid free (a %zu-byte block that was never handed out)%s", p, block_size,
              hk_misuse_tail(HK_FREE_IGNORED));
}

static hk_cold void hk_report_interior(const char *who, const void *p, size_t block_size) {
    hk_misuse("%s(%p): pointer into the middle of a %zu-byte block%s", who, p, block_size,
              hk_misuse_tail(strcmp(who, "realloc") == 0 ? HK_REALLOC_REFUSED : HK_FREE_IGNORED));
}

static hk_cold void hk_report_foreign(const char *who, const void *p) {
    hk_misuse("%s(%p): pointer not allocated by heapkit (or already freed)%s", who, p,
              hk_misuse_tail(strcmp(who, "realloc") == 0 ? HK_REALLOC_REFUSED : HK_FREE_IGNORED));
}

static void hk_free_remote(hk_segment_t *seg, hk_page_t *page, hk_block_t *b) {
    /* Read the owner before the push: once our block is in thread_free the owner may free the
     * whole segment. Heap records are never unmapped, so a stale owner is harmless. */
    hk_heap_t *owner = hk_segment_owner(seg);
    uintptr_t tf = hk_remote_push(&page->thread_free, b, &b->next, 0, hk_key); /* links as hk_encode does */
    if ((tf & HK_REMOTE_NOTIFY) && owner != NULL) atomic_fetch_add_explicit(&owner->full_freed, 1, memory_order_release);
}

/* A block of one of this thread's pages back on its local free list, off the slow paths (the fast
 * path inlines its own): a page parked as full goes back to its queue, an empty one is retired. */
static inline void hk_free_local(hk_heap_t *heap, hk_page_t *page, hk_block_t *b) {
    b->next = hk_encode(page->free);
    page->free = b;
    page->is_zero = 0;
    page->used--;
    if (hk_page_flags(page) & HK_PAGE_IN_FULL) hk_heap_page_unfull(heap, page);
    if (page->used == 0) hk_heap_page_retire(heap, page);
}

/* Give a checked block back to its page: the end of every free (local or remote), and of its
 * wait in the quarantine. */
static inline void hk_free_block(hk_heap_t *heap, hk_segment_t *seg, hk_page_t *page, hk_block_t *b) {
    if (hk_segment_owner(seg) != heap) {
        hk_free_remote(seg, page, b);
        return;
    }
    hk_free_local(heap, page, b);
}

/* A block leaves the quarantine: checked untouched, then freed for real. */
static inline void hk_free_quarantined(hk_heap_t *heap, hk_block_t *b) {
    hk_segment_t *seg = hk_ptr_segment(b);
    hk_page_t *page = hk_segment_page_of(seg, b);
    hk_quarantine_check(seg, page, b);
    hk_free_block(heap, seg, page, b);
}

/* Hardened free: the page record checked, a block that was never handed out refused, a double
 * free found for certain (quarantined blocks carry a mark, listed ones are searched); then the
 * block is zeroed and waits in the quarantine, and the block it displaces is freed for real. */
static void hk_free_secure(hk_heap_t *heap, hk_segment_t *seg, hk_page_t *page, hk_block_t *b) {
    if (heap == hk_segment_owner(seg) && hk_page_block_index(page, b) >= page->capacity) {
        hk_report_never_handed_out(b, page->block_size);
        return;
    }
    if (hk_block_looks_free(b, seg)) {
        if (hk_quarantined(b, seg)) {
            hk_report_double_free_quarantined(b, page->block_size);
            return;
        }
        if (hk_segment_owner(seg) != heap || hk_page_contains_free(page, b)) {
            hk_report_double_free(b);
            return;
        }
    }
    if (heap == &hk_heap_empty) { /* a thread without a heap (or leaving): no quarantine to wait in */
        memset(b, 0, page->block_size);
        hk_free_block(heap, seg, page, b);
        return;
    }
    hk_block_t *out = hk_quarantine_swap(heap, b, page);
    if (out != NULL) hk_free_quarantined(heap, out);
}

/* The hardened free's common case, without the generic path's detour: a block of a page flagged
 * for nothing but the mode (and perhaps full: no aligned pointers, no hook, not released), its
 * record checked, a block start (one the page carved, if this thread owns it), not free by its
 * link word. It is zeroed and swapped into the quarantine; the block it displaces is checked and,
 * if it is a plain block of this thread's, given back here (else by hk_free_block: another
 * thread's, a full page's). Everything else (a suspected double free, a foreign, interior or
 * never-handed-out pointer) goes to hk_free_generic, which checks it exactly and reports it. Every protection of the generic hardened free holds; only
 * the checks this case cannot fail are not made twice. */
void hk_free_hardened(void *p, hk_segment_t *seg, hk_heap_t *heap) {
    uintptr_t at = ((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift;
    hk_page_t *page = &seg->pages[at];
    hk_block_t *b = p;
    /* A full page's blocks wait as any other (the block leaving is given back by hk_free_block,
     * which takes the page out of the full queue); a thread without a heap has no quarantine. */
    if (hk_unlikely((hk_page_flags(page) & (uint8_t)~HK_PAGE_IN_FULL) != HK_PAGE_OBSERVED || hk_observed() ||
                    heap == &hk_heap_empty)) {
        hk_free_generic(p);
        return;
    }
    bool own = hk_segment_owner(seg) == heap;
    hk_page_check_at(seg, page, (uintptr_t)seg + (at << seg->page_shift), own);
    /* The carving count is the owner's to read; another thread's block is checked as the
     * generic path checks it: a block start, not free by its link word. */
    uint64_t index = hk_page_block_index(page, p);
    if (hk_unlikely(page->start + index * page->block_size != (uint8_t *)p || (own && index >= page->capacity) ||
                    hk_block_looks_free(b, seg))) {
        hk_free_generic(p);
        return;
    }
    hk_block_t *out = hk_quarantine_swap(heap, b, page);
    if (out == NULL) return;
    hk_segment_t *oseg = hk_ptr_segment(out);
    hk_page_t *opage = hk_segment_page_of(oseg, out);
    hk_quarantine_check(oseg, opage, out);
    if (hk_unlikely(hk_segment_owner(oseg) != heap || hk_page_flags(opage) != HK_PAGE_OBSERVED)) {
        hk_free_block(heap, oseg, opage, out);
        return;
    }
    out->next = hk_encode(opage->free);
    opage->free = out;
    opage->is_zero = 0;
    if (hk_unlikely(--opage->used == 0)) hk_heap_page_retire(heap, opage);
}

/* Thread exit, after the pools gave back their caches: the quarantine goes back to the pages
 * while the heap is still the thread's, so its blocks count as free before the heap is handed over. */
static void hk_quarantine_flush(void) {
    hk_heap_t *heap = hk_heap_tls;
    if (heap == &hk_heap_empty) return;
    for (hk_block_t *out; (out = hk_quarantine_take(heap)) != NULL;) hk_free_quarantined(heap, out);
}

HK_SUBSYSTEM(secure, HK_SUBSYSTEM_SECURE, .thread_exit = hk_quarantine_flush);

/* The fast path's misses that need none of the generic path's work, which would check the page
 * record and ask the hooks first (about twice the instructions for a full page; for another
 * thread's block 100 instructions before the push). No hook watches a page flagged for nothing but
 * being full (it would carry HK_PAGE_OBSERVED), so the fast path's checks suffice, as they do for
 * a page that is not full: a block start, not free by its link word. Then a block of this thread's
 * full page (about 2% of the frees of a program with a live set of mixed sizes) goes back to the
 * page, which goes back to its queue; another thread's block (a pipeline's consumer freeing what a
 * producer made: bench/prodcons) goes onto its page's remote stack, as the generic path puts it. */
void hk_free_full_page(void *p, hk_heap_t *heap) {
    /* Found again from p: passing them would cost the fast path instructions to keep them. */
    hk_segment_t *seg = hk_ptr_segment(p);
    hk_page_t *page = hk_segment_page_of(seg, p);
    hk_block_t *b = p;
    uint8_t flags = hk_page_flags(page);
    if ((flags & (uint8_t)~HK_PAGE_IN_FULL) == 0 && hk_page_is_block_start(page, p) && !hk_block_looks_free(b, seg)) {
        hk_heap_t *owner = hk_segment_owner(seg);
        if (owner == heap && flags == HK_PAGE_IN_FULL) {
            hk_free_local(heap, page, b);
            return;
        }
        if (owner != heap && page->in_use) {
            hk_free_remote(seg, page, b);
            return;
        }
    }
    /* Leak tracking flags every page (HK_PAGE_OBSERVED): its frees all come here. Not the
     * sampler's pages (flagged, but not `observed`): its free hook does not know liveness. */
    if ((flags & (uint8_t)~HK_PAGE_IN_FULL) == HK_PAGE_OBSERVED && hk_observed()) {
        hk_free_observed(heap, seg, page, p);
        return;
    }
    hk_free_generic(p);
}

/* A free while a feature observes the heap (leak tracking: every page is flagged for it, so every
 * free misses the fast path and comes here through hk_free_full_page): a block start of a page
 * flagged for nothing else (no aligned pointers), with a free hook that knows
 * exactly whether the block is live (the tracker's record, so the link-word guess and the walk of
 * the free list are not needed), goes back to its page or its owner's remote stack at once;
 * heap checking (which serves frees itself) is handed the page found; anything else takes the
 * generic path. */
static hk_noinline void hk_free_observed(hk_heap_t *heap, hk_segment_t *seg, hk_page_t *page, void *p) {
    /* The page's flags were tested by the caller (observed, perhaps full, nothing else). */
    const hk_front_t *front = hk_front();
    if (hk_unlikely(front != NULL)) {
        if (front->free_in_page != NULL && seg->kind != HK_SEGMENT_HUGE)
            front->free_in_page(p, page); /* heap checking: its page found already */
        else hk_free_generic(p);
        return;
    }
    /* Otherwise observed with no front: the tracker's hooks (hk_track_enable), whose free hook is exact. */
    if (hk_unlikely(hk_state.hooks.free == NULL || seg->kind == HK_SEGMENT_HUGE || !page->in_use ||
                    !hk_page_is_block_start(page, p))) {
        hk_free_generic(p);
        return;
    }
    hk_block_t *b = p;
    if (!hk_hook_free(seg, page, b)) {
        hk_report_double_free(p);
        return;
    }
    hk_free_block(heap, seg, page, b);
}

/* Frees that are not a plain local free: huge blocks, aligned pointers, full pages, other
 * threads' blocks, suspected double frees; and every free when heap checking serves the API. */
static void hk_free_generic(void *p) {
    if (hk_unlikely(hk_front() != NULL)) {
        hk_front()->free(p, 0, false);
        return;
    }
    hk_free_core(p);
}

/* The allocator's own free of a block it handed out, for heap checking (no front). */
void hk_core_free(void *p) {
    if (hk_segmap_get((uintptr_t)p) == HK_MAP_SEGMENT) hk_free_core(p);
    else hk_free_unknown_core(p);
}

/* hk_core_free of a block start heap checking knows to be live in the allocator (it holds it in
 * quarantine): a page's block goes straight back to its page (or its owner's remote list); the
 * rest (huge blocks, a hook on frees, the hardened mode's quarantine) through hk_core_free. */
void hk_core_free_block(void *p) {
    if (hk_likely(hk_segmap_is_segment((uintptr_t)p) && hk_state.hooks.free == NULL && !hk_secure())) {
        hk_segment_t *seg = hk_ptr_segment(p);
        if (hk_likely(seg->kind != HK_SEGMENT_HUGE)) {
            hk_free_block(hk_heap_tls, seg, hk_segment_page_of(seg, p), p);
            return;
        }
    }
    hk_core_free(p);
}

static void hk_free_core(void *p) {
    hk_segment_t *seg = hk_ptr_segment(p);
    hk_page_t *page = hk_segment_page_of(seg, p);
    hk_block_t *b = p;
    if (seg->kind == HK_SEGMENT_HUGE) {
        if ((uint8_t *)p != (uint8_t *)seg + seg->block_offset) {
            hk_report_interior("free", p, seg->block_size);
            return;
        }
        (void)hk_hook_free(seg, &seg->pages[0], b); /* a huge block is live while it is mapped */
        hk_huge_free(seg);
        return;
    }
    if (!page->in_use || (uint8_t *)p < page->start) {
        hk_report_foreign("free", p);
        return;
    }
    hk_page_check(page, hk_segment_owner(seg) == hk_heap_tls);
    uint8_t flags = hk_page_flags(page);
    if (flags & HK_PAGE_HAS_ALIGNED) b = hk_block_start(page, p);
    else if (!hk_page_is_block_start(page, p)) {
        hk_report_interior("free", p, page->block_size);
        return;
    }
    if (!hk_hook_free(seg, page, b)) { /* an observer knows exactly whether the block is live */
        hk_report_double_free(p);
        return;
    }
    hk_heap_t *heap = hk_heap_tls;
    if (hk_unlikely(hk_secure())) {
        hk_free_secure(heap, seg, page, b);
        return;
    }
    hk_heap_t *owner = hk_segment_owner(seg);
    if (owner != heap) {
        /* Another thread's block: its lists cannot be walked from here, so the link-word check
         * decides alone (a live block passes it falsely with odds of about 2^-40). */
        if (hk_block_looks_free(b, seg)) {
            hk_report_double_free(p);
            return;
        }
        hk_free_remote(seg, page, b);
        return;
    }
    if (hk_block_looks_free(b, seg) && hk_page_contains_free(page, b)) {
        hk_report_double_free(p);
        return;
    }
    hk_free_local(heap, page, b);
}

/* free's fast path found p's segment not in the thread's table of its own (heap->owned): the
 * segment map decides whether it is a segment at all; one the heap owns goes into the table (the
 * first free into a segment, or its slot's other segment had it) and is freed as the fast path
 * would; anything else takes the fast path's misses. Remote frees come here first. */
void hk_free_not_owned(void *p, hk_heap_t *heap) {
    if (hk_unlikely(!hk_segmap_is_segment((uintptr_t)p))) {
        hk_free_unknown(p);
        return;
    }
    hk_segment_t *seg = hk_ptr_segment(p);
    if (hk_segment_owner(seg) == heap) {
        hk_heap_owned_note(heap, seg);
        hk_free_in_segment(p, seg, heap);
    } else {
        hk_free_slow(p, seg, heap);
    }
}

/* p is not in a small/medium segment: NULL, a huge block with a big alignment, or not ours. */
void hk_free_unknown(void *p) {
    if (p == NULL) return;
    if (hk_unlikely(hk_front() != NULL)) {
        hk_front()->free(p, 0, false);
        return;
    }
    if (hk_sampled(p)) {
        hk_state.hooks.sample_front->free(p, 0, false);
        return;
    }
    hk_free_unknown_core(p);
}

static void hk_free_unknown_core(void *p) {
    if (p == NULL) return;
    hk_segment_t *seg = hk_huge_segment_of((uintptr_t)p);
    if (seg != NULL && (uint8_t *)p == (uint8_t *)seg + seg->block_offset) {
        hk_huge_free(seg);
        return;
    }
    if (seg != NULL) {
        hk_report_interior("free", p, seg->block_size);
        return;
    }
    hk_report_foreign("free", p);
}

HK_API void hk_free_sized(void *p, size_t size) {
    if (hk_unlikely(hk_front() != NULL) && p != NULL) {
        hk_front()->free(p, size, true);
        return;
    }
    hk_free(p);
}

HK_API void hk_free_aligned_sized(void *p, size_t alignment, size_t size) {
    (void)alignment;
    hk_free_sized(p, size);
}

/* ------------------------------------------------------------- usable size */

/* The segment holding p, NULL if not ours. */
static hk_segment_t *hk_segment_lookup(const void *p) {
    uint8_t tag = hk_segmap_get((uintptr_t)p);
    if (tag == HK_MAP_SEGMENT) return hk_ptr_segment(p);
    return hk_huge_segment_of((uintptr_t)p);
}

/* Bytes from p to the end of its block; 0 (with a message if report) if p is not ours. */
static size_t hk_usable_from(const void *p, const char *who) {
    hk_segment_t *seg = hk_segment_lookup(p);
    if (seg != NULL) {
        hk_page_t *page = seg->kind == HK_SEGMENT_HUGE ? &seg->pages[0] : hk_segment_page_of(seg, p);
        if (seg->kind == HK_SEGMENT_HUGE) {
            uint8_t *start = (uint8_t *)seg + seg->block_offset;
            if ((const uint8_t *)p >= start && (const uint8_t *)p < start + seg->block_size)
                return seg->block_size - (size_t)((const uint8_t *)p - start);
        } else if (page->in_use && (const uint8_t *)p >= page->start &&
                   (const uint8_t *)p < page->start + (size_t)page->reserved * page->block_size) {
            hk_block_t *b = hk_block_start(page, p);
            return page->block_size - (size_t)((const uint8_t *)p - (uint8_t *)b);
        }
    }
    if (who != NULL) hk_error("%s(%p): pointer not allocated by heapkit", who, p);
    return 0;
}

HK_API size_t hk_usable_size(const void *p) {
    /* The common case first (redis asks it of nearly every block it allocates and frees): a block
     * start carved by a small or medium page flagged for nothing (no front, hook or sampler
     * watches it, no aligned pointer in it) has its size class's bytes, whichever thread owns it;
     * the generic path below would find the segment again and divide. NULL fails the map test. */
    if (hk_likely(hk_segmap_is_segment((uintptr_t)p))) {
        hk_segment_t *seg = hk_ptr_segment(p);
        hk_page_t *page = hk_segment_page_of(seg, p);
        if (hk_likely(hk_page_fast_free_heap(page) != NULL && hk_page_is_block_start(page, p) &&
                      (size_t)((const uint8_t *)p - page->start) < (size_t)page->reserved * page->block_size))
            return page->block_size;
    }
    if (p == NULL) return 0;
    if (hk_unlikely(hk_front() != NULL)) return hk_front()->usable(p);
    if (hk_sampled(p)) return hk_state.hooks.sample_front->usable(p);
    return hk_usable_from(p, "malloc_usable_size");
}

/* The bytes usable in a block the allocator handed out, for heap checking (no front). */
size_t hk_core_usable(const void *p) { return hk_usable_from(p, NULL); }

HK_API bool hk_owns(const void *p) {
    if (p == NULL) return false;
    if (hk_unlikely(hk_front() != NULL)) return hk_front()->owns(p);
    if (hk_sampled(p)) return hk_state.hooks.sample_front->owns(p);
    return hk_usable_from(p, NULL) != 0;
}

/* ---------------------------------------------------------------- realloc */

/* A smaller size keeps its block while it uses at least 1/HK_REALLOC_KEEP of it: shrinking a
 * little is not worth a copy, and halving or more gives the rest back. */
#define HK_REALLOC_KEEP 2

/* A block that grows past HK_REALLOC_ROOM_FROM bytes by less than a quarter moves to a block a
 * quarter bigger than asked (from 2 KiB up to the medium sizes' end): a string grown step by step
 * then moves through every other size class, not each one, with half the copies, and leaves free
 * blocks in half as many classes (a free block serves only its class: `bench/realloc 800000`'s
 * peak RSS 31 -> 29 MiB). A bigger step (a vector doubling its capacity) already passes over
 * classes, and room on top of it would only be resident: `bench/realloc` (8,000,000 appends) peak
 * 35.5 -> 33.2 MiB. Not while a hook or the sampler watches blocks: they see the size asked. */
#define HK_REALLOC_ROOM_FROM ((size_t)2048)
static size_t hk_realloc_room(size_t size, size_t usable) {
    if (size <= usable || size <= HK_REALLOC_ROOM_FROM || size >= HK_MEDIUM_MAX || hk_observed() ||
        hk_state.hooks.sample != NULL)
        return size;
    if (size - usable >= usable / 4) return size;
    size_t room = size + size / 4;
    return room < HK_MEDIUM_MAX ? room : HK_MEDIUM_MAX;
}

/* The bytes usable in the live block p was handed out as, or 0 after a one-line message naming
 * realloc. realloc copies and frees its block, so unlike free it cannot let a doubtful pointer
 * through: a freed block (it would hand out memory the free list also holds), an interior pointer
 * or a foreign one is refused before anything is touched. */
static size_t hk_realloc_usable(void *p) {
    hk_segment_t *seg = hk_segment_lookup(p);
    if (seg == NULL) {
        hk_report_foreign("realloc", p);
        return 0;
    }
    if (seg->kind == HK_SEGMENT_HUGE) {
        if ((uint8_t *)p == (uint8_t *)seg + seg->block_offset) return seg->block_size;
        hk_report_interior("realloc", p, seg->block_size);
        return 0;
    }
    hk_page_t *page = hk_segment_page_of(seg, p);
    if (!page->in_use || (uint8_t *)p < page->start ||
        (uint8_t *)p >= page->start + (size_t)page->reserved * page->block_size) { /* capacity is the owner's */
        hk_report_foreign("realloc", p);
        return 0;
    }
    hk_block_t *b = p;
    if (hk_page_flags(page) & HK_PAGE_HAS_ALIGNED) b = hk_block_start(page, p); /* as free does */
    else if (!hk_page_is_block_start(page, p)) {
        hk_report_interior("realloc", p, page->block_size);
        return 0;
    }
    /* As in free: the owner can walk its lists to be sure; for another thread's block the link
     * word decides alone. */
    if (hk_block_looks_free(b, seg) && (hk_segment_owner(seg) != hk_heap_tls || hk_quarantined(b, seg) ||
                                        hk_page_contains_free(page, b))) {
        hk_misuse("realloc(%p): the block is already free%s", p, hk_misuse_tail(HK_REALLOC_REFUSED));
        return 0;
    }
    return page->block_size - (size_t)((uint8_t *)p - (uint8_t *)b);
}

/* realloc's most common call, a block that still fits (a string or vector grown by a few bytes):
 * p is a block this thread's page carved, the page flagged for nothing (the one load and compare
 * of free's fast path: no front, no hook, no sampler watches it, it holds no aligned pointer), not
 * free by its link word; and size keeps the block under the rule of hk_realloc. Everything else,
 * NULL and pointers outside the segments included, answers false and takes the checked path.
 * With full_page, the page is instead this thread's and flagged as full and for nothing else. */
static inline __attribute__((always_inline)) bool hk_realloc_keeps_in(void *p, size_t size, bool full_page) {
    hk_heap_t *heap = hk_heap_tls;
    /* A segment of the thread's table is its own (so no segment-map lookup, as in free); one not
     * in it yet answers false, and hk_realloc_checked puts it there. */
    if (!hk_heap_owns_segment_of(heap, p)) return false;
    hk_segment_t *seg = hk_ptr_segment(p);
    hk_page_t *page = hk_segment_page_of(seg, p);
    if (full_page) { /* flagged only as full, as hk_free_full_page takes it: no hook watches it */
        if (hk_page_flags(page) != HK_PAGE_IN_FULL) return false;
    } else if (hk_page_fast_free_heap(page) != heap) {
        return false;
    }
    /* Leak tracking leaves the pages unflagged (hk_state.frees_plain), but its record must learn
     * the new size and stack: the checked path tells its hook. */
    if (!hk_page_is_block_start(page, p) || hk_unlikely(hk_state.frees_plain)) return false;
    size_t block_size = page->block_size;
    /* carved: below the first uncarved block */
    if ((size_t)((uint8_t *)p - page->start) >= (size_t)page->capacity * block_size || hk_block_looks_free(p, seg))
        return false;
    return size <= block_size && size >= block_size / HK_REALLOC_KEEP;
}

static hk_noinline void *hk_realloc_checked(void *p, size_t size); /* p != NULL */

/* The common case without a stack frame; the rest, with every check, out of line. */
HK_API void *hk_realloc(void *p, size_t size) {
    if (hk_likely(hk_realloc_keeps_in(p, size, false))) return p;
    /* realloc(NULL) is malloc in every mode (heap checking's realloc of NULL is its malloc): the
     * way Lua and others allocate, so it takes malloc's fast path, not the checked one's detour.
     * Tested after the keep (NULL fails its first test), which so stays as short as it was. */
    if (p == NULL) return hk_malloc_inline(size);
    return hk_realloc_checked(p, size);
}

static void *hk_realloc_checked(void *p, size_t size) {
    /* A segment of the thread's own not in its table yet (no free reached it since it became the
     * thread's) goes in, so the next keep of its blocks is the fast one; and this one too. */
    if (hk_segmap_is_segment((uintptr_t)p) && hk_segment_owner(hk_ptr_segment(p)) == hk_heap_tls &&
        !hk_heap_owns_segment_of(hk_heap_tls, p)) {
        hk_heap_owned_note(hk_heap_tls, hk_ptr_segment(p));
        if (hk_realloc_keeps_in(p, size, false)) return p;
    }
    /* The same keep for a block of a full page of this thread's, as common in a program growing
     * many buffers (bench/realloc: 100,000 of its 140,000 calls that missed the fast keep), which
     * the generic checks below took twice the instructions to answer. */
    if (hk_realloc_keeps_in(p, size, true)) return p;
    if (hk_unlikely(hk_front() != NULL)) return hk_front()->realloc(p, size);
    if (hk_sampled(p)) return hk_state.hooks.sample_front->realloc(p, size);
    size_t usable = hk_realloc_usable(p);
    if (usable != 0 && size == 0) { /* as glibc: free and return NULL */
        hk_free(p);
        return NULL;
    }
    if (usable == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (size <= usable && size >= usable / HK_REALLOC_KEEP) { /* fits, and not too wasteful */
        hk_hook_alloc(p, size);
        return p;
    }
    hk_segment_t *seg = hk_segment_lookup(p);
    if (seg->kind == HK_SEGMENT_HUGE && size > HK_MEDIUM_MAX && p == (uint8_t *)seg + seg->block_offset) {
        void *q = hk_huge_realloc(seg, size);
        if (q != NULL) {
            hk_hook_alloc(q, size);
            return q;
        }
    }
    void *q = hk_malloc(hk_realloc_room(size, usable));
    if (q == NULL) return NULL; /* errno is ENOMEM, p is untouched */
    memcpy(q, p, usable < size ? usable : size);
    hk_free(p);
    return q;
}

HK_API void *hk_reallocarray(void *p, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return hk_realloc(p, total);
}

/* ------------------------------------------------------- aligned allocation */

/* Alignments up to half the medium limit are served from a page, by over-allocating size + align
 * - 1 bytes when that is still a medium size (half leaves room for requests as big as the
 * alignment); bigger ones get a huge mapping, aligned as asked. */
#define HK_PAGE_ALIGN_MAX (HK_MEDIUM_MAX / 2)

/* align is a power of two. Small alignments come for free from the size classes; otherwise
 * over-allocate within a page and mark the page so frees find the block start. */
static void *hk_malloc_aligned(size_t size, size_t align, bool zero) {
    if (hk_unlikely(hk_front() != NULL)) return hk_front()->alloc(size, align, zero);
    if (align <= HK_BLOCK_ALIGN) {
        if (align == HK_BLOCK_ALIGN && size < HK_BLOCK_ALIGN) size = HK_BLOCK_ALIGN;
        return zero ? hk_calloc(1, size) : hk_malloc(size);
    }
    if (size <= HK_MEDIUM_MAX && align <= HK_PAGE_ALIGN_MAX) {
        void *p = zero ? hk_calloc(1, size) : hk_malloc(size);
        if (p == NULL || ((uintptr_t)p & (align - 1)) == 0) return p;
        hk_free(p);
        size_t over = size + align - 1;
        /* Not in a mapping of its own (fit.c): an aligned pointer inside one is not its block. */
        if (over <= HK_MEDIUM_MAX && !hk_fit_own_mapping(over)) {
            p = hk_core_alloc(over, zero); /* a block of the pages: never a sampled slot */
            if (p == NULL) return NULL;
            uint8_t *q = (uint8_t *)hk_align_up((uintptr_t)p, align);
            if (q != p) {
                hk_page_t *page = hk_segment_page_of(hk_ptr_segment(p), p);
                hk_page_set_flags(page, hk_page_flags(page) | HK_PAGE_HAS_ALIGNED);
                hk_hook_alloc(q, size);
            }
            return q;
        }
    }
    void *p = hk_huge_alloc(size, align, zero);
    if (p == NULL && hk_out_of_memory_retry()) p = hk_huge_alloc(size, align, zero);
    if (p != NULL) hk_hook_alloc(p, size);
    return p;
}

static bool hk_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

HK_API int hk_posix_memalign(void **out, size_t alignment, size_t size) {
    if (!hk_is_pow2(alignment) || alignment < sizeof(void *)) return EINVAL;
    int saved = errno;
    void *p = hk_malloc_aligned(size, alignment, false);
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

HK_API void *hk_aligned_alloc(size_t alignment, size_t size) {
    if (!hk_is_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return hk_malloc_aligned(size, alignment, false);
}

/* The biggest alignment memalign rounds up to a power of two: one more doubling could overflow
 * (no such alignment can be honoured anyway: the address space is 2^47). */
#define HK_MEMALIGN_MAX ((size_t)1 << 62)

/* glibc's memalign rounds a non-power-of-two alignment up instead of failing. */
HK_API void *hk_memalign(size_t alignment, size_t size) {
    if (alignment > HK_MEMALIGN_MAX) {
        errno = EINVAL;
        return NULL;
    }
    size_t align = 1;
    while (align < alignment) align <<= 1;
    return hk_malloc_aligned(size, align, false);
}

HK_API void *hk_valloc(size_t size) { return hk_malloc_aligned(size, hk_os_page_size(), false); }

HK_API void *hk_pvalloc(size_t size) {
    size_t ps = hk_os_page_size();
    if (size > SIZE_MAX - ps) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = size == 0 ? ps : hk_align_up(size, ps);
    return hk_malloc_aligned(rounded, ps, false);
}

/* -------------------------------------------------------------------- trim */

HK_API int hk_trim(void) {
    size_t before = atomic_load_explicit(&hk_state.committed, memory_order_relaxed);
    hk_heap_parked_expire(0, true);  /* exited threads' heaps kept for the next: to the abandoned */
    hk_segment_reap_abandoned(true); /* what exited threads left and others since freed */
    hk_heap_t *heap = hk_heap_tls;
    hk_quarantine_flush(); /* hardened: what this thread freed is free, not waiting */
    if (heap != &hk_heap_empty) hk_heap_collect(heap, true);
    hk_huge_purge(true);
    return atomic_load_explicit(&hk_state.committed, memory_order_relaxed) < before ? 1 : 0;
}

#if HK_OVERRIDE
#include "override.inc"
#endif
