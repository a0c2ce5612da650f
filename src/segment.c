/* segment.c — 4 MiB aligned regions split into pages, owned by one thread heap.
 * The segment header (this struct and its page records) sits at the start of the region, so a
 * block's segment is its address masked; hk_segmap says which 4 MiB granules are segments at all. */
#include "internal.h"

hk_internal uint8_t hk_segmap[(size_t)1 << (HK_ADDRESS_BITS - HK_SEGMENT_SHIFT)];

static size_t hk_segment_page_shift(hk_kind_t kind) {
    return kind == HK_KIND_SMALL ? HK_SMALL_PAGE_SHIFT : HK_MEDIUM_PAGE_SHIFT;
}

/* The header is rounded to 8 KiB so that blocks of power-of-two sizes up to 8 KiB stay
 * naturally aligned in page 0 too. */
static size_t hk_segment_header_size(uint32_t page_count) {
    return hk_align_up(sizeof(hk_segment_t) + page_count * sizeof(hk_page_t), 8192);
}

hk_segment_t *hk_page_segment(const hk_page_t *page) { return hk_ptr_segment(page); }

uint8_t *hk_page_area(const hk_page_t *page, size_t *size) {
    hk_segment_t *seg = hk_page_segment(page);
    if (seg->kind == HK_KIND_HUGE) {
        *size = seg->block_size;
        return (uint8_t *)seg + seg->block_offset;
    }
    size_t index = (size_t)(page - seg->pages);
    uint8_t *start = (uint8_t *)seg + (index << seg->page_shift);
    uint8_t *end = start + ((size_t)1 << seg->page_shift);
    if (index == 0) start = (uint8_t *)seg + hk_segment_header_size(seg->page_count);
    *size = (size_t)(end - start);
    return start;
}

/* ------------------------------------------------------------------ registry */

void hk_segment_register(hk_segment_t *seg) {
    pthread_mutex_lock(&hk_state.segments_lock);
    seg->all_prev = NULL;
    seg->all_next = hk_state.all_segments;
    if (seg->all_next) seg->all_next->all_prev = seg;
    hk_state.all_segments = seg;
    hk_state.segment_count++;
    __atomic_store_n(&hk_segmap[(uintptr_t)seg >> HK_SEGMENT_SHIFT], HK_MAP_SEGMENT, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&hk_state.segments_lock);
}

void hk_segment_unregister(hk_segment_t *seg) {
    pthread_mutex_lock(&hk_state.segments_lock);
    __atomic_store_n(&hk_segmap[(uintptr_t)seg >> HK_SEGMENT_SHIFT], HK_MAP_NONE, __ATOMIC_RELEASE);
    if (seg->all_prev) seg->all_prev->all_next = seg->all_next;
    else hk_state.all_segments = seg->all_next;
    if (seg->all_next) seg->all_next->all_prev = seg->all_prev;
    hk_state.segment_count--;
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

static hk_segment_t *hk_segment_alloc(hk_heap_t *heap, hk_kind_t kind) {
    uint8_t *base;
    size_t base_size;
    hk_segment_t *seg = hk_os_map_aligned(HK_SEGMENT_SIZE, HK_SEGMENT_SIZE, &base, &base_size);
    if (seg == NULL) return NULL;
    size_t shift = hk_segment_page_shift(kind);
    seg->page_shift = shift;
    seg->kind = kind;
    seg->page_count = (uint32_t)(HK_SEGMENT_SIZE >> shift);
    seg->used_pages = 0;
    seg->size = HK_SEGMENT_SIZE;
    seg->map_base = base;
    for (uint32_t i = 0; i < seg->page_count; i++) seg->pages[i].mem_is_zero = 1; /* fresh from mmap */
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    hk_segment_register(seg);
    hk_seglist_push(heap, seg, true);
    return seg;
}

static void hk_segment_free(hk_heap_t *heap, hk_segment_t *seg) {
    hk_seglist_remove(heap, seg);
    hk_segment_unregister(seg);
    size_t purged = 0, area;
    for (uint32_t i = 0; i < seg->page_count; i++)
        if (seg->pages[i].is_purged) {
            hk_page_area(&seg->pages[i], &area);
            purged += area;
        }
    hk_os_recommit(purged & ~(hk_os_page_size() - 1)); /* unmap subtracts the whole region */
    hk_os_unmap(seg, seg->size);
}

/* A free page of the given kind, taken from the heap's segments or a new segment. Resident
 * (unpurged) pages are preferred: they need no page faults. */
hk_page_t *hk_segment_page_alloc(hk_heap_t *heap, hk_kind_t kind) {
    hk_segment_t *seg = heap->segments[kind];
    if (seg == NULL || seg->used_pages == seg->page_count) {
        seg = hk_segment_alloc(heap, kind);
        if (seg == NULL) return NULL;
    }
    hk_page_t *pick = NULL;
    for (uint32_t i = 0; i < seg->page_count; i++) {
        hk_page_t *page = &seg->pages[i];
        if (page->in_use) continue;
        if (!page->is_purged && !page->mem_is_zero) { /* resident already */
            pick = page;
            break;
        }
        if (pick == NULL) pick = page;
    }
    if (pick->is_purged) {
        size_t area;
        hk_page_area(pick, &area);
        hk_os_recommit(area & ~(hk_os_page_size() - 1));
        pick->is_purged = 0;
    }
    pick->in_use = 1;
    seg->used_pages++;
    if (seg->used_pages == seg->page_count) hk_seglist_reorder(heap, seg);
    return pick;
}

void hk_segment_page_free(hk_heap_t *heap, hk_page_t *page) {
    hk_segment_t *seg = hk_page_segment(page);
    bool was_full = seg->used_pages == seg->page_count;
    page->in_use = 0;
    page->mem_is_zero = 0;
    page->is_purged = 0;
    page->retired_at = hk_clock_ms();
    seg->used_pages--;
    if (was_full) hk_seglist_reorder(heap, seg);
    int64_t delay = hk_state.options.purge_delay_ms;
    if (delay == 0) hk_segment_purge(heap, page->retired_at, false);
    else if (delay > 0 && heap->purge_deadline == 0) heap->purge_deadline = page->retired_at + (uint64_t)delay;
}

/* Give back free pages whose delay has passed (all of them if force) and unmap segments
 * that are entirely free; set heap->purge_deadline to when the rest will be due. */
void hk_segment_purge(hk_heap_t *heap, uint64_t now, bool force) {
    int64_t delay = hk_state.options.purge_delay_ms;
    if (delay < 0 && !force) return;
    uint64_t next_due = 0;
    for (int kind = 0; kind < HK_SEGMENTED_KINDS; kind++) {
        hk_segment_t *next;
        for (hk_segment_t *seg = heap->segments[kind]; seg != NULL; seg = next) {
            next = seg->next;
            if (seg->used_pages == seg->page_count) break; /* the rest are full too */
            bool all_due = true;
            for (uint32_t i = 0; i < seg->page_count; i++) {
                hk_page_t *page = &seg->pages[i];
                if (page->in_use || page->is_purged || page->mem_is_zero) continue;
                uint64_t due = page->retired_at + (uint64_t)(delay > 0 ? delay : 0);
                if (!force && due > now) {
                    all_due = false;
                    if (next_due == 0 || due < next_due) next_due = due;
                }
            }
            if (seg->used_pages == 0 && all_due) {
                hk_segment_free(heap, seg);
                continue;
            }
            for (uint32_t i = 0; i < seg->page_count; i++) {
                hk_page_t *page = &seg->pages[i];
                if (page->in_use || page->is_purged || page->mem_is_zero) continue;
                if (!force && page->retired_at + (uint64_t)(delay > 0 ? delay : 0) > now) continue;
                size_t area;
                uint8_t *start = hk_page_area(page, &area);
                hk_os_purge(start, area);
                page->is_purged = 1;
                page->mem_is_zero = 1;
            }
        }
    }
    heap->purge_deadline = next_due;
}

/* ------------------------------------------------------ abandoned segments */

void hk_segment_abandon(hk_segment_t *seg) {
    atomic_store_explicit(&seg->heap, NULL, memory_order_release);
    pthread_mutex_lock(&hk_state.segments_lock);
    seg->prev = NULL;
    seg->next = hk_state.abandoned;
    hk_state.abandoned = seg;
    atomic_fetch_add_explicit(&hk_state.abandoned_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&hk_state.segments_lock);
}

hk_segment_t *hk_segment_take_abandoned(void) {
    if (atomic_load_explicit(&hk_state.abandoned_count, memory_order_relaxed) == 0) return NULL;
    pthread_mutex_lock(&hk_state.segments_lock);
    hk_segment_t *seg = hk_state.abandoned;
    if (seg != NULL) {
        hk_state.abandoned = seg->next;
        seg->next = NULL;
        atomic_fetch_sub_explicit(&hk_state.abandoned_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    return seg;
}

/* Take ownership of an abandoned segment (called by hk_heap_adopt). */
void hk_segment_attach(hk_heap_t *heap, hk_segment_t *seg) {
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    hk_seglist_push(heap, seg, seg->used_pages < seg->page_count);
}
