/* segment.c — 4 MiB aligned regions split into pages, owned by one thread heap; the list of all
 * segments, and the queue of those whose thread exited (abandoned).
 * The segment header (this struct and its page records) sits at the start of the region, so a
 * block's segment is its address masked; hk_segmap says which 4 MiB granules are segments at all. */
#include "hooks.h"

#include <sched.h>

static size_t hk_segment_page_shift(hk_segment_kind_t kind) {
    return kind == HK_SEGMENT_SMALL ? HK_SMALL_PAGE_SHIFT : HK_MEDIUM_PAGE_SHIFT;
}

/* The lock is held only while the state of free pages changes or is purged: by the owner when
 * it takes or frees a page, by the background purger while it purges. */
static void hk_segment_lock(hk_segment_t *seg) {
    while (atomic_exchange_explicit(&seg->lock, 1, memory_order_acquire) != 0) sched_yield();
}

bool hk_segment_trylock(hk_segment_t *seg) {
    return atomic_exchange_explicit(&seg->lock, 1, memory_order_acquire) == 0;
}

void hk_segment_unlock(hk_segment_t *seg) { atomic_store_explicit(&seg->lock, 0, memory_order_release); }

/* ---------------------------------------------------- the list of all segments
 * hk_state.all_segments, linked through all_next/all_prev, under hk_state.segments_lock: every
 * mapped segment, huge ones included, for the purger, the statistics and the leak scan. (Not the
 * heap's own lists of its segments, heap->segments[kind], below; and not the registry of pools
 * and arenas, pools/registry.c.) */

void hk_all_segments_add(hk_segment_t *seg) {
    pthread_mutex_lock(&hk_state.segments_lock);
    seg->all_prev = NULL;
    seg->all_next = hk_state.all_segments;
    if (seg->all_next) seg->all_next->all_prev = seg;
    hk_state.all_segments = seg;
    hk_state.segment_count++;
    /* A huge block aligned to 4 MiB or more has its header off the granule (huge.c tags it). */
    if (((uintptr_t)seg & HK_SEGMENT_MASK) == 0)
        hk_segmap_set((uintptr_t)seg, 1, HK_MAP_SEGMENT);
    pthread_mutex_unlock(&hk_state.segments_lock);
}

/* Take a segment out of the map and the list; the caller holds hk_state.segments_lock. */
static void hk_all_segments_unlink(hk_segment_t *seg) {
    if (((uintptr_t)seg & HK_SEGMENT_MASK) == 0)
        hk_segmap_set((uintptr_t)seg, 1, HK_MAP_NONE);
    if (seg->all_prev) seg->all_prev->all_next = seg->all_next;
    else hk_state.all_segments = seg->all_next;
    if (seg->all_next) seg->all_next->all_prev = seg->all_prev;
    hk_state.segment_count--;
}

void hk_all_segments_remove(hk_segment_t *seg) {
    pthread_mutex_lock(&hk_state.segments_lock);
    hk_all_segments_unlink(seg);
    pthread_mutex_unlock(&hk_state.segments_lock);
}

/* ------------------------------------------------- the heap's list of segments */

static void hk_seglist_remove(hk_heap_t *heap, hk_segment_t *seg) {
    hk_segment_t **head = &heap->segments[seg->kind];
    if (seg->prev) seg->prev->next = seg->next;
    else *head = seg->next;
    if (seg->next) seg->next->prev = seg->prev;
    seg->next = seg->prev = NULL;
}

static void hk_seglist_push(hk_heap_t *heap, hk_segment_t *seg, bool front) {
    hk_segment_t **head = &heap->segments[seg->kind];
    if (front || *head == NULL) {
        seg->prev = NULL;
        seg->next = *head;
        if (*head) (*head)->prev = seg;
        *head = seg;
        return;
    }
    hk_segment_t *last = *head;
    while (last->next) last = last->next;
    last->next = seg;
    seg->prev = last;
    seg->next = NULL;
}

/* Segments with a free page stay at the front, so finding one looks at the first only. */
static void hk_seglist_reorder(hk_heap_t *heap, hk_segment_t *seg) {
    hk_seglist_remove(heap, seg);
    hk_seglist_push(heap, seg, seg->used_pages < seg->page_count);
}

/* Segments are reserved whole (4 MiB of address space, PROT_NONE) and committed a page at a time as
 * pages are first handed out, doubling what is open each time (1, 2, 4, ... pages: a handful of
 * mprotect calls per segment), so committed memory follows use: a segment an exited thread left
 * with a few live blocks costs its touched pages, not 4 MiB (docs/architecture.md). */
static bool hk_segment_commit_to(hk_segment_t *seg, uint32_t pages) {
    if (pages <= seg->committed_pages) return true;
    size_t from = (size_t)seg->committed_pages << seg->page_shift, to = (size_t)pages << seg->page_shift;
    if (to > seg->size) to = seg->size;
    if (!hk_os_commit((uint8_t *)seg + from, to - from)) return false;
    seg->committed_pages = (uint16_t)pages;
    return true;
}

/* The least a segment may be reserved as when address space is short (ulimit -v): two pages. */
static size_t hk_segment_least(size_t shift) { return (size_t)2 << shift; }

/* Reserve a segment, whole if the address space allows, else the biggest power-of-two prefix of
 * it down to two pages (a segment of fewer pages): under `ulimit -v` the last few MiB before the
 * limit are still handed out, instead of failing for want of a whole 4 MiB. */
static hk_segment_t *hk_segment_reserve(size_t shift, size_t *mapped) {
    for (size_t size = HK_SEGMENT_SIZE; size >= hk_segment_least(shift); size /= 2) {
        hk_segment_t *seg = hk_os_reserve_aligned(size, HK_SEGMENT_SIZE, mapped);
        if (seg != NULL) return seg;
    }
    return NULL;
}

/* Give back a reservation of which the first `committed` bytes were committed (unmapping
 * subtracts all of it from both counts). */
static void hk_segment_unreserve(hk_segment_t *seg, size_t mapped, size_t committed) {
    hk_os_recommit(mapped - committed);
    hk_os_unmap(seg, mapped);
}

static hk_segment_t *hk_segment_alloc(hk_heap_t *heap, hk_segment_kind_t kind) {
    size_t mapped, shift = hk_segment_page_shift(kind);
    hk_segment_t *seg = hk_segment_reserve(shift, &mapped);
    if (seg == NULL) return NULL;
    /* The header and page 0. Everything at once in the hardened mode (before the guard pages are
     * set), and where memory is placed by NUMA node: there the kernel interleaves or binds by the
     * mapping as it is when first touched, and a segment opened piece by piece would get its
     * transparent huge pages only in the parts opened whole, unevenly spread over the nodes. */
    size_t first = hk_unlikely(hk_secure() || hk_numa.placeable) ? mapped : (size_t)1 << shift;
    if (!hk_os_commit(seg, first)) {
        hk_segment_unreserve(seg, mapped, 0);
        return NULL;
    }
    /* The heap's node (HK_NUMA_ANY on one node: no call), before the header's first touch. */
    if (hk_numa.placeable) hk_numa_place(seg, mapped, heap->numa_node, false);
    seg->node = (int16_t)heap->numa_node;
    if (!hk_segmap_cover((uintptr_t)seg, mapped)) {
        hk_segment_unreserve(seg, mapped, first);
        return NULL;
    }
    seg->page_shift = (uint32_t)shift;
    seg->kind = kind;
    seg->page_count = (uint32_t)(mapped >> shift);
    seg->committed_pages = (uint16_t)(first >> shift);
    seg->used_pages = 0;
    seg->size = mapped;
    /* The page records are zero from mmap, which reads as fresh memory (mem_dirty 0): only those of
     * pages put to use are written, so a segment with few pages in use keeps most of its records
     * untouched (64 records are 8 KiB, two of a small segment's three header pages). */
    if (hk_unlikely(hk_secure())) hk_secure_guard_segment(seg);
    hk_thp_segment_mapped(seg);
    if (!hk_hook_segment_mapped(seg)) {
        hk_segment_unreserve(seg, mapped, first);
        return NULL;
    }
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    hk_all_segments_add(seg);
    hk_seglist_push(heap, seg, true);
    return seg;
}

/* Unmap a segment nobody uses any more; purged pages were already subtracted from committed, and
 * free pages still resident leave the decay's count. */
static void hk_segment_unmap(hk_segment_t *seg) {
    size_t purged = 0, area;
    for (uint32_t i = 0; i < seg->page_count; i++) {
        const hk_page_t *page = &seg->pages[i];
        if (page->in_use) continue;
        hk_page_area(page, &area);
        if (page->is_purged) purged += area;
        else if (page->mem_dirty) hk_page_decay_purged(area);
    }
    size_t open = (size_t)seg->committed_pages << seg->page_shift;
    if (open < seg->size) purged += seg->size - open; /* never committed */
    hk_os_recommit(purged & ~(hk_os_page_size() - 1)); /* unmap subtracts the whole region */
    hk_hook_segment_unmapped(seg);
    hk_os_unmap(seg, seg->size);
}

static void hk_segment_free(hk_heap_t *heap, hk_segment_t *seg) {
    hk_heap_owned_forget(heap, seg); /* before the unmap: the table names only mapped segments */
    hk_seglist_remove(heap, seg);
    hk_all_segments_remove(seg);
    hk_segment_unmap(seg);
}

/* A free page of the given kind, taken from the heap's segments or a new segment. Resident
 * (unpurged) pages are preferred: they need no page faults. */
hk_page_t *hk_segment_page_alloc(hk_heap_t *heap, hk_segment_kind_t kind) {
    /* The fullest segment that has room: sparse segments then drain and can be unmapped. */
    /* But first one with a free page still resident (dirty, waiting for the purge delay): reusing
     * it costs no page faults and no new resident memory, where a fresh page elsewhere would add
     * to the peak while the dirty one waits to be purged. */
    hk_segment_t *seg = NULL;
    bool seg_dirty = false;
    for (hk_segment_t *s = heap->segments[kind]; s != NULL && s->used_pages < s->page_count; s = s->next) {
        if (hk_numa_active() && s->node != heap->numa_node)
            continue; /* of the heap's node: a thread that moved to another node leaves the old ones to drain */
        bool dirty = atomic_load_explicit(&s->dirty_pages, memory_order_relaxed) != 0;
        if (seg == NULL || (dirty && !seg_dirty) || (dirty == seg_dirty && s->used_pages > seg->used_pages)) {
            seg = s;
            seg_dirty = dirty;
        }
    }
    if (seg == NULL) {
        seg = hk_segment_alloc(heap, kind);
        if (seg == NULL) return NULL;
    }
    hk_page_t *pick = NULL;
    hk_segment_lock(seg);
    for (uint32_t i = 0; i < seg->page_count; i++) {
        hk_page_t *page = &seg->pages[i];
        if (page->in_use) continue;
        if (!page->is_purged && page->mem_dirty) { /* resident already */
            pick = page;
            atomic_fetch_sub_explicit(&seg->dirty_pages, 1, memory_order_relaxed);
            break;
        }
        if (pick == NULL) pick = page;
    }
    if (pick == NULL) { /* cannot happen: the segment was chosen for having a free page */
        hk_segment_unlock(seg);
        return NULL;
    }
    uint32_t index = (uint32_t)(pick - seg->pages);
    if (index >= seg->committed_pages) {
        uint32_t want = 2u * seg->committed_pages;
        if (want < index + 1) want = index + 1;
        if (want > seg->page_count) want = seg->page_count;
        if (!hk_segment_commit_to(seg, want) && !hk_segment_commit_to(seg, index + 1)) {
            hk_segment_unlock(seg);
            return NULL; /* the kernel refused to commit: malloc says ENOMEM */
        }
    }
    size_t area;
    hk_page_area(pick, &area);
    if (pick->is_purged) {
        hk_os_recommit(area & ~(hk_os_page_size() - 1));
        pick->is_purged = 0;
    } else if (pick->mem_dirty) {
        hk_page_decay_reused(area); /* a free page still resident, taken again */
    }
    pick->in_use = 1;
    seg->used_pages++;
    if (hk_thp_watching(seg)) {
        uint64_t now = hk_clock_ms();
        hk_thp_segment_busy(seg, now);
        if (hk_thp_waiting(seg) && heap->thp_deadline == 0) heap->thp_deadline = now + HK_THP_LOOK_MS;
    }
    hk_segment_unlock(seg);
    if (seg->used_pages == seg->page_count) hk_seglist_reorder(heap, seg);
    return pick;
}

/* The owner takes an empty kept page's tail back (hk_page_restart): the purger may have given it
 * back meanwhile, and after this it no longer will. The caller holds the segment lock. */
static void hk_page_tail_return(hk_page_t *page) {
    if (atomic_load_explicit(&page->tail_state, memory_order_relaxed) == HK_TAIL_PURGED) {
        size_t size;
        hk_page_tail(page, &size);
        hk_os_recommit(size);
    }
    atomic_store_explicit(&page->tail_state, HK_TAIL_NONE, memory_order_relaxed);
}

/* Before its owner carves past the blocks an empty kept page restarted with. */
void hk_segment_page_tail_claim(hk_page_t *page) {
    hk_segment_t *seg = hk_page_segment(page);
    hk_segment_lock(seg);
    hk_page_tail_return(page);
    hk_segment_unlock(seg);
}

/* Release a page to its segment: free there (dirty, waiting for the purge delay); the caller
 * holds the segment lock. */
static void hk_page_release_locked(hk_segment_t *seg, hk_page_t *page, uint64_t now) {
    size_t area;
    hk_page_area(page, &area);
    hk_page_tail_return(page); /* the page is purged whole, later, as one area */
    hk_page_decay_freed(area);
    page->in_use = 0;
    hk_page_set_flags(page, HK_PAGE_RELEASED); /* a late double free now takes the slow path */
    page->mem_dirty = 1; /* is_purged is 0 already: only a purge sets it, of a page not in use */
    page->empty_since = now;
    seg->used_pages--;
    atomic_fetch_add_explicit(&seg->dirty_pages, 1, memory_order_relaxed);
    hk_thp_segment_busy(seg, now);
}

/* Release an empty page, in no queue of its heap, to its segment. */
void hk_segment_page_release(hk_heap_t *heap, hk_page_t *page) {
    hk_segment_t *seg = hk_page_segment(page);
    bool was_full = seg->used_pages == seg->page_count;
    int64_t delay = hk_state.options.purge_delay_ms;
    uint64_t now = hk_clock_ms();
    hk_segment_lock(seg);
    hk_page_release_locked(seg, page, now);
    if (delay == 0) hk_segment_purge_due(seg, now, true);
    hk_segment_unlock(seg);
    if (was_full) hk_seglist_reorder(heap, seg);
    /* An empty segment is unmapped by the next purge pass, never here: callers may still be
     * walking this segment's pages. */
    if (delay >= 0 && heap->purge_deadline == 0) heap->purge_deadline = now + (uint64_t)delay;
    hk_purger_notify();
}

/* Purge the free pages of one segment that are due (all if force); the caller holds the segment
 * lock. A page is due once it stayed free the purge delay and the decay's budget has room for it
 * (page_decay.c). Returns when to look again, 0 if no page is waiting. */
uint64_t hk_segment_purge_due(hk_segment_t *seg, uint64_t now, bool force) {
    int64_t delay = hk_state.options.purge_delay_ms;
    uint64_t next_due = 0;
    for (uint32_t i = 0; i < seg->page_count; i++) {
        hk_page_t *page = &seg->pages[i];
        if (page->in_use && force && atomic_load_explicit(&page->tail_state, memory_order_acquire) == HK_TAIL_IDLE) {
            /* An empty kept page's uncarved tail, given back when everything is: the program is
             * idle, or trimmed. Its owner may be asleep; it claims the tail under this lock. */
            size_t size;
            uint8_t *tail = hk_page_tail(page, &size);
            if (size != 0) {
                hk_os_purge(tail, size);
                hk_thp_segment_purged(seg);
            }
            atomic_store_explicit(&page->tail_state, HK_TAIL_PURGED, memory_order_relaxed);
            continue;
        }
        if (page->in_use || page->is_purged || !page->mem_dirty) continue;
        uint64_t due = page->empty_since + (uint64_t)(delay > 0 ? delay : 0);
        size_t area;
        uint8_t *start = hk_page_area(page, &area);
        if (!force && (delay < 0 || due > now || !hk_page_decay_take(area))) {
            /* kept by the budget: look again one delay on */
            if (due <= now) due = now + (uint64_t)(delay > 0 ? delay : 1);
            if (delay >= 0 && (next_due == 0 || due < next_due)) next_due = due;
            continue;
        }
        hk_os_purge(start, area);
        page->mem_dirty = 0;
        hk_plain_stores_apart(); /* base.h: merged, the pair would be a constant in .rodata */
        page->is_purged = 1;
        hk_page_decay_purged(area);
        atomic_fetch_sub_explicit(&seg->dirty_pages, 1, memory_order_relaxed);
        hk_thp_segment_purged(seg);
    }
    return next_due;
}

/* The owner's purge pass: purge what is due in each segment, unmap segments that are entirely
 * free and purged, and set heap->purge_deadline to when the rest will be due. */
void hk_segment_purge(hk_heap_t *heap, uint64_t now, bool force) {
    if (hk_state.options.purge_delay_ms < 0 && !force) return;
    if (!force) hk_page_decay_refresh(now);
    uint64_t next_due = 0;
    for (int kind = 0; kind < HK_SEGMENT_PAGED_KINDS; kind++) {
        hk_segment_t *next;
        for (hk_segment_t *seg = heap->segments[kind]; seg != NULL; seg = next) {
            next = seg->next;
            if (seg->used_pages == seg->page_count) break; /* the rest are full too */
            hk_segment_lock(seg);
            uint64_t due = hk_segment_purge_due(seg, now, force);
            hk_segment_unlock(seg);
            if (due == 0 && seg->used_pages == 0) {
                hk_segment_free(heap, seg);
                continue;
            }
            if (due != 0 && (next_due == 0 || due < next_due)) next_due = due;
        }
    }
    heap->purge_deadline = next_due;
    hk_segment_thp_look(heap, now);
}

/* The heap's look at its dense segments for huge pages (thp.c), from its purge pass and when
 * heap->thp_deadline is due: full segments may see no page change again for long. Looks again
 * HK_THP_LOOK_MS later while one is still waiting out its time. */
void hk_segment_thp_look(hk_heap_t *heap, uint64_t now) {
    heap->thp_deadline = 0;
    if (hk_state.options.thp != HK_THP_AUTO) return;
    bool waiting = false;
    for (int kind = 0; kind < HK_SEGMENT_PAGED_KINDS; kind++)
        for (hk_segment_t *seg = heap->segments[kind]; seg != NULL; seg = seg->next) {
            if (!hk_thp_watching(seg)) continue;
            hk_segment_lock(seg);
            hk_thp_segment_busy(seg, now);
            waiting |= hk_thp_waiting(seg);
            hk_segment_unlock(seg);
        }
    if (waiting) heap->thp_deadline = now + HK_THP_LOOK_MS;
}

/* ------------------------------------------------------ abandoned segments */

/* The abandoned queue (oldest first) is doubly linked through next/prev, so the fullest segment
 * can be taken from anywhere in it, and guarded by hk_state.segments_lock. */
static void hk_abandoned_push(hk_segment_t *seg) {
    seg->next = NULL;
    seg->prev = hk_state.abandoned_tail;
    if (seg->prev) seg->prev->next = seg;
    else hk_state.abandoned = seg;
    hk_state.abandoned_tail = seg;
    atomic_fetch_add_explicit(&hk_state.abandoned_count, 1, memory_order_relaxed);
}

static void hk_abandoned_unlink(hk_segment_t *seg) {
    if (seg->prev) seg->prev->next = seg->next;
    else hk_state.abandoned = seg->next;
    if (seg->next) seg->next->prev = seg->prev;
    else hk_state.abandoned_tail = seg->prev;
    seg->next = seg->prev = NULL;
    atomic_fetch_sub_explicit(&hk_state.abandoned_count, 1, memory_order_relaxed);
}

void hk_segment_abandon(hk_segment_t *seg) {
    /* No thread frees into it on the fast path any more: the heap record may be reused. */
    hk_heap_t *owner = hk_segment_owner(seg);
    if (owner != NULL) hk_heap_owned_forget(owner, seg);
    for (uint32_t i = 0; i < seg->page_count; i++) /* free pages have none: their records stay untouched */
        if (seg->pages[i].in_use) atomic_store_explicit(&seg->pages[i].fast_free_heap, NULL, memory_order_relaxed);
    atomic_store_explicit(&seg->heap, NULL, memory_order_release);
    pthread_mutex_lock(&hk_state.segments_lock);
    hk_abandoned_push(seg);
    pthread_mutex_unlock(&hk_state.segments_lock);
}

/* The abandoned segment to adopt for a page of this kind: the fullest one with room (so sparse
 * ones drain and get unmapped), else the oldest of any kind that has pages in use (their blocks
 * freed since are collected by adopting). A segment with no page in use only when empty_ok: it is
 * merely free memory, for a heap whose own segments are full. Only segments of the heap's NUMA
 * node: what a thread of node A left is never handed to a thread of node B (node HK_NUMA_ANY,
 * when memory is not placed by node, takes any). */
hk_segment_t *hk_segment_take_abandoned(hk_segment_kind_t kind, int node, bool empty_ok) {
    if (atomic_load_explicit(&hk_state.abandoned_count, memory_order_relaxed) == 0) return NULL;
    pthread_mutex_lock(&hk_state.segments_lock);
    hk_segment_t *seg = NULL, *oldest = NULL;
    for (hk_segment_t *s = hk_state.abandoned; s != NULL; s = s->next) {
        if (node != HK_NUMA_ANY && s->node != node) continue;
        if (s->used_pages == 0) {
            if (empty_ok && s->kind == kind && seg == NULL) seg = s;
            continue;
        }
        if (oldest == NULL) oldest = s;
        if (s->kind == kind && s->used_pages < s->page_count && (seg == NULL || s->used_pages > seg->used_pages))
            seg = s;
    }
    if (seg == NULL) seg = oldest;
    if (seg != NULL) hk_abandoned_unlink(seg);
    pthread_mutex_unlock(&hk_state.segments_lock);
    return seg;
}

/* The purger's share of abandoned segments (and hk_trim's, with force): collect the blocks other
 * threads freed into them, give back pages that became empty, and unmap segments that became
 * empty. Segments that still hold live blocks stay in the queue for a thread to adopt; on a NUMA
 * machine, unless forced, so do free pages until their purge delay has passed. */
void hk_segment_reap_abandoned(bool force) {
    if (atomic_load_explicit(&hk_state.abandoned_count, memory_order_relaxed) == 0) return;
    pthread_mutex_lock(&hk_state.segments_lock);
    hk_segment_t *next;
    for (hk_segment_t *seg = hk_state.abandoned; seg != NULL; seg = next) {
        next = seg->next;
        uint64_t now = hk_clock_ms();
        hk_segment_lock(seg);
        for (uint32_t i = 0; i < seg->page_count; i++) {
            hk_page_t *page = &seg->pages[i];
            if (!page->in_use) continue;
            hk_page_collect(page);
            if (page->used == 0) hk_page_release_locked(seg, page, now);
        }
        /* Nobody owns it: no reason to wait, but on a NUMA machine, where it is kept for the delay
         * for the next thread of its node (heap.c, hk_heap_thread_done). */
        bool kept = hk_numa_active() && !force;
        uint64_t due = hk_segment_purge_due(seg, now, !kept);
        hk_segment_unlock(seg);
        if (seg->used_pages != 0 || (kept && (due != 0 || hk_state.options.purge_delay_ms < 0))) continue;
        hk_abandoned_unlink(seg);
        hk_all_segments_unlink(seg);
        hk_segment_unmap(seg);
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
}

/* Take ownership of an abandoned segment (called by hk_heap_adopt). */
void hk_segment_attach(hk_heap_t *heap, hk_segment_t *seg) {
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    hk_seglist_push(heap, seg, seg->used_pages < seg->page_count);
}

/* ---------------------------------------------------------------------- fork */

/* The segments lock, then every small/medium segment's spin lock, so that no page's free state
 * is mid-change in a forked child. */
static void hk_segments_lock_all(void) {
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next)
        if (seg->kind != HK_SEGMENT_HUGE) hk_segment_lock(seg);
}

static void hk_segments_unlock_all(void) {
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next)
        if (seg->kind != HK_SEGMENT_HUGE) hk_segment_unlock(seg);
    pthread_mutex_unlock(&hk_state.segments_lock);
}

HK_LOCK_SET(segments, HK_LOCK_SEGMENTS, hk_segments_lock_all, hk_segments_unlock_all);
