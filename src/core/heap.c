/* heap.c — one heap per thread: size-class queues of pages, the allocation slow path,
 * thread exit (abandoning segments) and adoption of abandoned segments by other threads.
 * Only the owning thread touches a heap, except for the atomic counter `full_freed`. */
#include "hooks.h"

/* The page of an empty direct entry: its free list is empty, so the fast path falls through. */
static hk_page_t hk_page_empty;
hk_internal hk_heap_t hk_heap_empty = {.sample_left = INT64_MAX, .direct = {[0 ... HK_DIRECT_COUNT - 1] = &hk_page_empty},
                                         .owned = {[0 ... HK_OWNED_SLOTS - 1] = HK_OWNED_NONE}};
hk_internal __thread hk_heap_t *hk_heap_tls __attribute__((tls_model("initial-exec"))) = &hk_heap_empty;

/* Segments one slow-path call adopts at most before it maps a fresh one: each adoption walks a
 * segment's page records, and a segment full of live blocks gives no page of this bin. */
#define HK_ADOPT_MAX 8

/* The allocation slow path reads the clock on one call in this many (a power of two): a program
 * that allocates mid-size blocks in a loop does not pay for it, and a purge that falls due waits
 * this many slow calls at most. */
#define HK_CLOCK_EVERY 32

/* --------------------------------------------------------------- size classes */

static hk_segment_kind_t hk_bin_kind(size_t bin) { return hk_bin_size(bin) <= HK_SMALL_MAX ? HK_SEGMENT_SMALL : HK_SEGMENT_MEDIUM; }

/* Point the direct entries of a small bin at the first page of its queue. */
static void hk_heap_queue_changed(hk_heap_t *heap, size_t bin) {
    size_t size = hk_bin_size(bin);
    if (size > HK_DIRECT_MAX || hk_observed()) return; /* observed: every malloc goes generic */
    hk_page_t *page = heap->bins[bin].first ? heap->bins[bin].first : &hk_page_empty;
    size_t lo = bin == 0 ? 0 : hk_bin_size(bin - 1) / HK_DIRECT_STEP + 1;
    for (size_t w = lo; w <= size / HK_DIRECT_STEP; w++) heap->direct[w] = page;
}

static void hk_queue_remove_page(hk_heap_t *heap, hk_page_t *page) {
    hk_page_queue_t *q = &heap->bins[page->bin];
    bool was_first = q->first == page;
    hk_queue_remove(q, page);
    if (was_first) hk_heap_queue_changed(heap, page->bin);
}

static void hk_queue_add_page(hk_heap_t *heap, hk_page_t *page, bool front) {
    hk_page_queue_t *q = &heap->bins[page->bin];
    if (front) hk_queue_push_front(q, page);
    else hk_queue_push_back(q, page);
    if (q->first == page) hk_heap_queue_changed(heap, page->bin);
}

/* ------------------------------------------------------------- full pages */

/* Park a page with no free block in heap->full and ask remote freers to tell us when they free
 * into it. Fails (false) if a remote free arrived meanwhile: then the page is not full. */
static bool hk_heap_page_to_full(hk_heap_t *heap, hk_page_t *page) {
    if (!hk_remote_notify_if_empty(&page->thread_free)) return false;
    hk_queue_remove_page(heap, page);
    hk_queue_push_back(&heap->full, page);
    hk_page_set_flags(page, hk_page_flags(page) | HK_PAGE_IN_FULL);
    return true;
}

void hk_heap_page_unfull(hk_heap_t *heap, hk_page_t *page) {
    hk_remote_notify_clear(&page->thread_free);
    hk_queue_remove(&heap->full, page);
    hk_page_set_flags(page, hk_page_flags(page) & (uint8_t)~HK_PAGE_IN_FULL);
    hk_queue_add_page(heap, page, false);
}

/* Remote frees cleared the notify bit of some full pages: put those back in their queues. */
static void hk_heap_rescue_full(hk_heap_t *heap) {
    if (atomic_exchange_explicit(&heap->full_freed, 0, memory_order_acquire) == 0) return;
    hk_page_t *next;
    for (hk_page_t *page = heap->full.first; page != NULL; page = next) {
        next = page->next;
        if (hk_remote_notified(&page->thread_free))
            hk_heap_page_unfull(heap, page);
    }
}

/* ------------------------------------------------------------ page retirement */

/* Retire a page whose blocks are all free: out of its queue, released to its segment; except the
 * last page of a bin, which is kept so that a loop of malloc+free of one size does not churn pages. */
void hk_heap_page_retire(hk_heap_t *heap, hk_page_t *page) {
    if (hk_page_flags(page) & HK_PAGE_IN_FULL) hk_heap_page_unfull(heap, page);
    hk_page_queue_t *q = &heap->bins[page->bin];
    if (q->first == page && page->next == NULL) {
        /* Kept, but carved again from its start when it had carved more than that: the rest can
         * then be given back even while this thread sleeps (a malloc+free loop of one size
         * carves no more and never comes here again). */
        if (page->capacity > page->carve_count && !(hk_page_flags(page) & HK_PAGE_OBSERVED)) {
            hk_page_restart(page);
            hk_purger_notify(); /* its pass gives the tail back once the program is idle */
            hk_purger_start_if_wanted();
        }
        return;
    }
    hk_queue_remove_page(heap, page);
    hk_segment_page_release(heap, page);
    if (heap->purge_deadline != 0 && page->empty_since >= heap->purge_deadline) hk_heap_collect(heap, false);
    hk_purger_start_if_wanted(); /* the end of a free: the heap is consistent */
}

/* Called on the allocation slow path: run the purge pass if it is due (the clock is read on one
 * call in HK_CLOCK_EVERY). */
void hk_heap_maybe_collect(hk_heap_t *heap) {
    /* Without the purger thread, parked heaps expire here too. */
    bool parked = !hk_state.options.purge_thread && atomic_load_explicit(&hk_state.parked_count, memory_order_relaxed) != 0;
    if ((heap->purge_deadline == 0 && heap->thp_deadline == 0 && !parked) || (++heap->slow_calls & (HK_CLOCK_EVERY - 1)) != 0)
        return;
    uint64_t now = hk_clock_ms();
    if (parked) hk_heap_parked_expire(now, false);
    if (heap->purge_deadline != 0 && now >= heap->purge_deadline) hk_heap_collect(heap, false);
    if (heap->thp_deadline != 0 && now >= heap->thp_deadline) hk_segment_thp_look(heap, now);
}

/* Collect remote frees everywhere and give every empty page back to its segment; but, with
 * keep_alone, the last page of a bin until it stayed empty a whole delay. Returns whether such a
 * page is kept waiting. */
static bool hk_heap_release_empty(hk_heap_t *heap, uint64_t now, bool keep_alone) {
    int64_t delay = hk_state.options.purge_delay_ms;
    bool kept_pending = false;
    hk_page_t *next;
    for (hk_page_t *page = heap->full.first; page != NULL; page = next) {
        next = page->next;
        if (hk_page_collect(page) > 0 || page->free != NULL) hk_heap_page_unfull(heap, page);
    }
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        for (hk_page_t *page = heap->bins[bin].first; page != NULL; page = next) {
            next = page->next;
            hk_page_collect(page);
            if (page->used != 0) {
                page->empty_since = 0;
                continue;
            }
            bool alone = heap->bins[bin].first == page && next == NULL;
            if (alone && keep_alone) {
                if (delay < 0) continue;
                if (page->empty_since == 0) page->empty_since = now;
                if (page->empty_since + (uint64_t)delay > now) {
                    kept_pending = true;
                    continue;
                }
            }
            hk_queue_remove_page(heap, page);
            hk_segment_page_release(heap, page);
        }
    }
    return kept_pending;
}

/* The periodic pass: collect remote frees everywhere, retire empty pages (including kept ones
 * that stayed empty for a whole delay), purge what is due. force = now, everything. */
void hk_heap_collect(hk_heap_t *heap, bool force) {
    uint64_t now = hk_clock_ms();
    int64_t delay = hk_state.options.purge_delay_ms;
    bool kept_pending = hk_heap_release_empty(heap, now, !force);
    hk_segment_purge(heap, now, force);
    if (kept_pending && (heap->purge_deadline == 0 || heap->purge_deadline > now + (uint64_t)delay))
        heap->purge_deadline = now + (uint64_t)delay;
}

/* ------------------------------------------------------------------ adoption */

/* Make an abandoned segment ours: rebuild queue membership from the page records. */
static void hk_heap_adopt(hk_heap_t *heap, hk_segment_t *seg) {
    hk_segment_attach(heap, seg);
    for (uint32_t i = 0; i < seg->page_count; i++) {
        hk_page_t *page = &seg->pages[i];
        if (!page->in_use) continue;
        hk_page_set_flags(page, hk_page_flags(page) & (HK_PAGE_HAS_ALIGNED | HK_PAGE_OBSERVED));
        hk_remote_notify_clear(&page->thread_free);
        hk_page_collect(page);
        if (page->used == 0) hk_segment_page_release(heap, page);
        else hk_queue_add_page(heap, page, false);
    }
}

/* --------------------------------------------------------------- slow path */

/* Carve the next blocks of a page; fresh memory for a medium block first gives back as much of
 * the heap's other free medium blocks (hollow.c). */
static void hk_heap_carve(hk_heap_t *heap, hk_page_t *page) {
    if (!page->mem_dirty && page->block_size > HK_SMALL_MAX) hk_hollow_for_carve(heap, page, page->block_size);
    hk_page_extend(page);
}

/* The first page of the queue with a free block of `size` bytes, moved to the front; pages found
 * full are parked in heap->full on the way (those fitted to smaller blocks too, fit.c), pages with
 * room fitted to smaller blocks passed over. */
static hk_page_t *hk_heap_scan_queue(hk_heap_t *heap, hk_page_queue_t *q, size_t size) {
    hk_page_t *next;
    for (hk_page_t *page = q->first; page != NULL; page = next) {
        next = page->next;
        if (page->free == NULL) hk_page_collect(page);
        if (page->free == NULL && page->capacity < page->reserved) {
            if (atomic_load_explicit(&page->tail_state, memory_order_relaxed) != HK_TAIL_NONE)
                hk_segment_page_tail_claim(page);
            hk_heap_carve(heap, page);
        }
        if (page->free == NULL && hk_heap_page_to_full(heap, page)) continue;
        if (page->free == NULL) hk_page_collect(page); /* to_full failed: remote frees arrived */
        if (hk_unlikely(page->block_size < size)) continue;
        if (page != q->first) {
            hk_queue_remove_page(heap, page);
            hk_queue_add_page(heap, page, true);
        }
        return page;
    }
    return NULL;
}

/* A page of this bin with a free block. In order of cost: the bin's queue; full pages that
 * other threads freed into; a segment an exited thread left; a fresh page. */
hk_page_t *hk_heap_find_page(hk_heap_t *heap, size_t bin, size_t size) {
    hk_page_queue_t *q = &heap->bins[bin];
    hk_page_t *page = hk_heap_scan_queue(heap, q, size);
    if (page != NULL) return page;
    if (atomic_load_explicit(&heap->full_freed, memory_order_relaxed) != 0) {
        hk_heap_rescue_full(heap);
        if ((page = hk_heap_scan_queue(heap, q, size)) != NULL) return page;
    }
    /* Before mapping anything new, take over what exited threads left: their free pages and
     * blocks are as good as fresh ones, and adopting keeps thread churn from growing memory. */
    hk_segment_kind_t kind = hk_bin_kind(bin);
    if (hk_numa_active() && !heap->numa_fixed) heap->numa_node = hk_numa_home_node(); /* the thread may have moved */
    /* A segment that holds no page in use is only worth adopting when ours are full: taking one
     * per page needed while ours have room, one thread would hoard every empty segment others
     * left while the rest map new ones. */
    for (int adopted = 0; adopted < HK_ADOPT_MAX; adopted++) {
        hk_segment_t *first = heap->segments[kind];
        bool have_room = first != NULL && first->used_pages < first->page_count;
        hk_segment_t *seg = hk_segment_take_abandoned(kind, heap->numa_node, !have_room);
        if (seg == NULL) break;
        hk_heap_adopt(heap, seg);
        if ((page = hk_heap_scan_queue(heap, q, size)) != NULL) return page;
        first = heap->segments[kind];
        if (first != NULL && first->used_pages < first->page_count) break; /* a free page is at hand */
    }
    /* Under ulimit -v, a bin in steady use whose pages have no room gets a page fitted to the
     * size asked (fit.c); a page of the class if the fitted one is too small or cannot be had. */
    bool fitted = size > HK_DIRECT_MAX && q->first == NULL && hk_fit_page_wanted(bin, size);
    page = hk_segment_page_alloc(heap, fitted ? HK_SEGMENT_MEDIUM : kind);
    if (page == NULL && fitted) {
        fitted = false;
        page = hk_segment_page_alloc(heap, kind);
    }
    if (page == NULL) return NULL;
    hk_page_init(page, bin);
    if (fitted) hk_fit_page(page, size);
    else if (size > HK_DIRECT_MAX) hk_fit_class_page_made(bin); /* smaller sizes never get fitted pages */
    hk_heap_carve(heap, page);
    hk_queue_add_page(heap, page, true);
    return page;
}

/* ------------------------------------------------------------ thread heaps */

static void hk_heap_thread_done(void *arg);

/* Set once the thread's heap was handed on at its exit: a later destructor that allocates gets a
 * fresh heap, never a parked one, whose segments its exit (perhaps never run again: the thread
 * key's destructor passes are bounded) would keep from every other thread. */
static __thread bool hk_heap_exited __attribute__((tls_model("initial-exec")));

hk_heap_t *hk_heap_thread_init(void) {
    hk_process_init();
    int node = hk_numa_home_node();
    bool handed_on;
    hk_heap_t *heap = hk_heap_record_take(node, !hk_heap_exited, &handed_on);
    if (heap == NULL) return NULL;
    /* A heap handed on keeps its queues, and so its direct entries; a new one has none. */
    if (!handed_on)
        for (size_t w = 0; w < HK_DIRECT_COUNT; w++) heap->direct[w] = &hk_page_empty;
    heap->numa_node = node;
    heap->sample_left = hk_state.hooks.sample != NULL ? 0 : INT64_MAX; /* 0: the hook draws the first interval */
    heap->thread = pthread_self();
    hk_heap_tls = heap;
    /* Only for its destructor, which hands the heap on when the thread exits. */
    if (atomic_load_explicit(&hk_state.thread_key_made, memory_order_acquire))
        pthread_setspecific(hk_state.thread_key, heap);
    return heap;
}

/* Does any page of the segment hold a block in use? Only the owner may ask (page->used). */
static bool hk_segment_holds_live(const hk_segment_t *seg) {
    for (uint32_t i = 0; i < seg->page_count; i++)
        if (seg->pages[i].in_use && seg->pages[i].used != 0) return true;
    return false;
}

/* A heap about to be parked: blocks other threads freed are collected; the last page of each size
 * class stays in its queue (empty: the next thread's first blocks of that size come from it, with
 * no page taken, purged or faulted in) if its segment holds live blocks, and the other empty pages
 * go back to the OS now, segments with no page in use unmapped, as at any thread exit: what a parked heap keeps are its queues'
 * last pages and the segments that hold live blocks. Several nodes: every free page stays resident,
 * for the next thread of the node (only such a thread takes the heap), until the heap expires. */
static void hk_heap_prepare_park(hk_heap_t *heap) {
    uint64_t now = hk_clock_ms();
    if (hk_numa_active()) {
        hk_heap_release_empty(heap, now, false);
        return;
    }
    bool kept_pending = hk_heap_release_empty(heap, now, true);
    /* A kept page must not keep a segment that holds no live block from being unmapped. */
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        hk_page_t *page = heap->bins[bin].first;
        if (page == NULL || page->used != 0 || hk_segment_holds_live(hk_page_segment(page))) continue;
        hk_queue_remove_page(heap, page);
        hk_segment_page_release(heap, page);
    }
    hk_segment_purge(heap, now, true);
    if (kept_pending) heap->purge_deadline = now + (uint64_t)hk_state.options.purge_delay_ms;
}

/* Thread exit, the library's one: the subsystems above first (pools hand their caches over, while
 * the heap is still this thread's, so what they free is a local free and is collected below).
 * Then the heap is parked for the next thread to start (heap_records.c), or, when parking is off
 * (HEAPKIT_PURGE_DELAY=0) or full, its empty memory is returned and its segments that still hold
 * live blocks are left on the abandoned list, where the next thread needing a page adopts them. A
 * later destructor that allocates gets a heap again, whose exit runs this again. */
static void hk_heap_thread_done(void *arg) {
    hk_heap_t *heap = arg;
    if (heap == NULL || heap == &hk_heap_empty) return;
    hk_subsystems_thread_exit();
    hk_heap_tls = &hk_heap_empty;
    hk_heap_exited = true;
    hk_hook_heap_done(heap);
    if (hk_heap_parking()) {
        hk_heap_prepare_park(heap);
        if (hk_heap_park(heap, hk_clock_ms())) return;
    }
    /* One node: everything free goes back now. Several: free pages stay resident for the purge
     * delay in the abandoned segments, where the next thread of the same node (and only such a
     * thread) adopts them; the purger gives back what nobody took. */
    hk_heap_collect(heap, !hk_numa_active());
    hk_heap_abandon_segments(heap);
    hk_heap_record_free(heap);
}

/* The thread key exists only for its destructor, run when a thread exits. */
static void hk_heap_subsystem_init(void) {
    if (pthread_key_create(&hk_state.thread_key, hk_heap_thread_done) == 0)
        atomic_store_explicit(&hk_state.thread_key_made, true, memory_order_release);
    else
        hk_message("cannot create the thread key: memory of exiting threads will not be handed over");
}

HK_SUBSYSTEM(heap, HK_SUBSYSTEM_HEAP, .init = hk_heap_subsystem_init);
HK_LOCK(heaps, HK_LOCK_HEAPS, &hk_state.heaps_lock);
