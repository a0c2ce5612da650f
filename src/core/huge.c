/* huge.c — blocks over 128 KiB, each in a segment of its own mapped to size. Freed mappings go
 * to the cache (huge_cache.c) for reuse; realloc grows or moves them with mremap instead of
 * copying. A huge segment's header is one page record, so frees find it like any other. In the
 * hardened mode (secure.c) a huge block has guard pages before it and right after its last page,
 * and is zeroed when freed, before its mapping goes to the cache. */
#include "hooks.h"

/* A block aligned to 4 MiB or more cannot share its first granule with the header, so the header
 * goes one OS page before the block (the segment is then not 4 MiB aligned) and the block's first
 * granule is tagged HK_MAP_HUGE_ALIGNED. Further granules of any huge block are tagged tails. */
static bool hk_huge_big_aligned(const hk_segment_t *seg) { return ((uintptr_t)seg & HK_SEGMENT_MASK) != 0; }

/* The huge segment holding address a (anywhere in its block), or NULL. */
hk_segment_t *hk_huge_segment_of(uintptr_t a) {
    uint8_t tag = hk_segmap_get(a);
    while (tag == HK_MAP_HUGE_TAIL) {
        a -= HK_SEGMENT_SIZE;
        tag = hk_segmap_get(a);
    }
    hk_segment_t *seg = NULL;
    if (tag == HK_MAP_SEGMENT) seg = hk_ptr_segment((void *)a);
    else if (tag == HK_MAP_HUGE_ALIGNED) seg = (hk_segment_t *)((a & ~(uintptr_t)HK_SEGMENT_MASK) - hk_os_page_size());
    return seg != NULL && seg->kind == HK_SEGMENT_HUGE ? seg : NULL;
}

static void hk_huge_tag(hk_segment_t *seg, bool on) {
    uintptr_t block = (uintptr_t)seg + seg->block_offset, end = (uintptr_t)seg + seg->size;
    if (hk_huge_big_aligned(seg)) hk_segmap_set(block, 1, on ? HK_MAP_HUGE_ALIGNED : HK_MAP_NONE);
    uintptr_t tail = ((block >> HK_SEGMENT_SHIFT) + 1) << HK_SEGMENT_SHIFT;
    if (end > tail) hk_segmap_set(tail, end - tail, on ? HK_MAP_HUGE_TAIL : HK_MAP_NONE);
}

/* Make a huge block findable (in the list of all segments, tagged in the segment map) and count it
 * live; hk_huge_withdraw undoes both, before the mapping moves or goes. */
static void hk_huge_publish(hk_segment_t *seg) {
    hk_all_segments_add(seg);
    hk_huge_tag(seg, true);
    atomic_fetch_add_explicit(&hk_state.huge_live, seg->block_size, memory_order_relaxed);
}

static void hk_huge_withdraw(hk_segment_t *seg) {
    hk_huge_tag(seg, false);
    hk_all_segments_remove(seg);
    atomic_fetch_sub_explicit(&hk_state.huge_live, seg->block_size, memory_order_relaxed);
}

/* Resize a mapping to `needed` bytes: in place if the kernel can, else moved to a new segment-
 * aligned place by its page tables (no copy). NULL, with the mapping untouched, on failure. */
static hk_segment_t *hk_huge_resize(hk_segment_t *seg, size_t size, size_t needed) {
    if (hk_os_resize_in_place(seg, size, needed)) return seg;
    return hk_os_remap_aligned(seg, size, needed, HK_SEGMENT_SIZE);
}

/* The block fills the mapping after its header: set the sizes that follow from `mapped`. Hardened,
 * the block is `size` bytes to the next page, then its tail guard, even in a reused extent far
 * bigger than it: an overflow faults right after the block's last page, and its free has only
 * what it asked for to zero, not the rest of the extent (zero already, and never the block's). */
static void hk_huge_set_size(hk_segment_t *seg, size_t mapped, size_t size) {
    seg->size = mapped;
    if (hk_unlikely(hk_secure()))
        seg->block_size = hk_align_up(seg->block_offset + size, hk_os_page_size()) - seg->block_offset;
    else
        seg->block_size = mapped - seg->block_offset;
    seg->pages[0].block_size = seg->block_size;
    seg->pages[0].start = (uint8_t *)seg + seg->block_offset;
}

/* The node the calling thread's big blocks go on (HK_NUMA_ANY: not placed by node). */
void *hk_huge_alloc(size_t size, size_t align, bool zero) {
    return hk_huge_alloc_node(size, align, zero, hk_numa_active() ? hk_numa_home_node() : HK_NUMA_ANY);
}

void *hk_huge_alloc_node(size_t size, size_t align, bool zero, int node) {
    size_t ps = hk_os_page_size(), header = hk_huge_header_size();
    if (align < HK_BLOCK_ALIGN) align = HK_BLOCK_ALIGN;
    bool big_aligned = align >= HK_SEGMENT_SIZE;
    size_t offset = big_aligned ? ps : align <= ps ? hk_align_up(header, align) : align;
    size_t guard = 0; /* hardened: guard pages before the block and right after it */
    if (hk_unlikely(hk_secure())) {
        offset = hk_secure_huge_offset(offset, big_aligned);
        guard = hk_secure_tail_guard();
    }
    if (size > ((size_t)1 << HK_ADDRESS_BITS) || size + offset + align > ((size_t)1 << HK_ADDRESS_BITS)) {
        errno = ENOMEM;
        return NULL;
    }
    hk_process_init();
    if (size == 0) size = 1;
    size_t needed = hk_align_up(offset + size, ps) + guard;
    hk_segment_t *seg = NULL;
    size_t mapped = 0, dirty = 0; /* dirty: bytes from seg that may hold old contents; the rest reads zero */
    if (!big_aligned) {
        /* A cached extent big enough is used as it is (its resident pages are what saves the
         * page faults); a smaller one is grown (the kernel's new pages read zero). */
        uint8_t *cached = hk_huge_cache_take(needed, &mapped, &dirty, node);
        if (cached != NULL && mapped < needed) {
            seg = hk_huge_resize((hk_segment_t *)cached, mapped, needed);
            if (seg == NULL) hk_os_unmap(cached, mapped);
            mapped = needed;
            if (seg != NULL && hk_numa.placeable) hk_numa_place(seg, mapped, node, false); /* the grown part */
        } else {
            seg = (hk_segment_t *)cached;
        }
        if (seg == NULL) {
            seg = hk_os_map_aligned(needed, HK_SEGMENT_SIZE, &mapped);
            dirty = 0;
            hk_page_decay_unusable(needed); /* the free pages kept are no use to it */
            if (seg != NULL && hk_numa.placeable) hk_numa_place(seg, mapped, node, false); /* before the first touch */
        }
    } else {
        /* Map so that the block (one page after the header) is aligned; drop the front part. */
        uint8_t *raw = hk_os_map_aligned(needed + align, align, &mapped);
        if (raw != NULL) {
            seg = (hk_segment_t *)(raw + align - ps);
            hk_os_unmap(raw, align - ps);
            mapped -= align - ps;
            if (hk_numa.placeable) hk_numa_place(seg, mapped, node, false);
        }
    }
    if (seg != NULL && !hk_segmap_cover((uintptr_t)seg, mapped)) {
        hk_os_unmap(seg, mapped);
        seg = NULL;
    }
    if (seg == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(seg, 0, header);
    seg->page_shift = HK_HUGE_PAGE_SHIFT;
    hk_plain_stores_apart(); /* base.h: the four fields' constants are not read from .rodata */
    seg->kind = HK_SEGMENT_HUGE;
    hk_plain_stores_apart();
    seg->page_count = 1;
    hk_plain_stores_apart();
    seg->used_pages = 1;
    seg->block_offset = offset;
    seg->node = (int16_t)node;
    hk_huge_set_size(seg, mapped, size);
    hk_hook_huge_placed(seg);
    hk_page_t *page = &seg->pages[0];
    page->in_use = 1;
    page->used = 1;
    hk_plain_stores_apart();
    page->reserved = 1;
    hk_plain_stores_apart();
    page->capacity = 1;
    hk_plain_stores_apart();
    page->carve_count = 1;
    if (guard != 0) hk_secure_huge_guard(seg, true);
    hk_huge_publish(seg);
    /* calloc: only what old contents may remain in (a reused extent's unpurged part) is zeroed;
     * hardened, nothing: the cache holds only memory zeroed when its block was freed
     * (hk_secure_huge_scrub), which would otherwise be written twice. */
    if (zero && dirty > offset && !hk_secure()) memset(page->start, 0, dirty - offset < size ? dirty - offset : size);
    return page->start;
}

void hk_huge_free(hk_segment_t *seg) {
    /* Before the wait for the segments lock, which a leak check holds while it stops threads:
     * under leak tracking alone the block's record is stale from here (leak_free.c). Relaxed is
     * enough: the check reads it with this thread stopped, after the signal that stopped it. */
    atomic_store_explicit(&seg->huge_freeing, 1, memory_order_relaxed);
    hk_huge_withdraw(seg);
    if (hk_huge_big_aligned(seg)) {
        hk_os_unmap(seg, seg->size);
        return;
    }
    /* Hardened: cached without its old bytes (and without its guard pages, put up again where
     * a block cut from the extent needs them). */
    size_t size = seg->size;
    int node = seg->node;
    if (hk_unlikely(hk_secure())) {
        /* A mapping the cache would not keep is unmapped unzeroed. */
        if (!hk_huge_cache_keeps(size)) {
            hk_os_unmap(seg, size);
            return;
        }
        hk_secure_huge_scrub(seg); /* the header too */
    }
    hk_huge_cache_put((uint8_t *)seg, size, node);
}

/* Resize in place or move with mremap. NULL (block untouched) if the caller should copy. */
void *hk_huge_realloc(hk_segment_t *seg, size_t size) {
    if (hk_huge_big_aligned(seg)) return NULL;
    bool guarded = hk_secure();
    size_t needed = hk_align_up(seg->block_offset + size, hk_os_page_size());
    if (needed < size) return NULL;
    if (guarded) needed += hk_secure_tail_guard();
    hk_huge_withdraw(seg);
    if (guarded) hk_secure_huge_guard(seg, false);
    size_t old_end = seg->block_offset + seg->block_size;
    hk_segment_t *resized = hk_huge_resize(seg, seg->size, needed);
    if (resized == NULL) {
        if (guarded) hk_secure_huge_guard(seg, true);
        hk_huge_publish(seg);
        return NULL;
    }
    /* A moved block whose new place the map cannot grow to cover (a few KiB short of the address
     * space limit, right after mremap found 4 MiB) would be untagged beyond the old span: keep
     * trying as it is, since the move cannot be undone; a later free then reports it. */
    (void)hk_segmap_cover((uintptr_t)resized, needed);
    hk_huge_set_size(resized, needed, size);
    /* Shrunk: what the block held past its new end (in what is now its tail guard) is zeroed first,
     * as its free zeroes only the block. */
    size_t new_end = resized->block_offset + resized->block_size;
    if (guarded && old_end > new_end)
        hk_os_zero_pages((uint8_t *)resized + new_end, (old_end < needed ? old_end : needed) - new_end);
    if (guarded) hk_secure_huge_guard(resized, true);
    hk_hook_huge_placed(resized); /* the header may have moved */
    hk_huge_publish(resized);
    return resized->pages[0].start;
}
