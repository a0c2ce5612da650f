/* leak_free.c — which tracked blocks are free when a leak check runs, under leak tracking alone
 * (hk_state.frees_plain). Its frees take the allocator's plain paths and leave the block's record
 * as it was (the next malloc of the block writes it over): a free costs what it costs without
 * tracking. The check, with the other threads stopped, asks each page in use for its free blocks
 * (page.c's hk_page_free_bitmap: its own list, the remote stack other threads push to; blocks not
 * carved yet have no record the scan reads) and gives their records this check's colour
 * HK_MARK_FREE (leak.h): the scan then skips them. Only the colour is written, never the record's
 * lasting fields (stack, reported): whatever this check gets wrong, the next one starts afresh.
 * Pages of exited threads' segments (parked or abandoned) are pages like any other: a block freed
 * into one waits on its remote stack. A huge block's record stays until its segment leaves the
 * list of segments, which waits for the lock the check holds: the core marks it being freed first
 * (hk_segment_t.huge_freeing), and such a block is free here.
 * A page whose lists do not add up had a thread stopped halfway through changing them (a collect
 * holds a taken remote stack for a moment): the check lets the threads go on briefly and stops
 * them again (leak.c); if it still does not add up, its blocks on no list are HK_MARK_DOUBTFUL. */
#include "leak.h"

/* Blocks a page holds at most: its size over the smallest block. */
#define HK_PAGE_BLOCKS_MAX (((size_t)1 << HK_MEDIUM_PAGE_SHIFT) >> HK_BLOCK_ALIGN_SHIFT)

size_t hk_leak_colour_free(void) {
    uint64_t bits[HK_PAGE_BLOCKS_MAX / 64];
    size_t doubtful = 0;
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        if (seg->track == NULL) continue;
        if (seg->kind == HK_SEGMENT_HUGE) {
            if (seg->track->stack != HK_STACK_NONE && atomic_load_explicit(&seg->huge_freeing, memory_order_relaxed))
                seg->track->mark = HK_MARK_FREE;
            continue;
        }
        for (uint32_t p = 0; p < seg->page_count; p++) {
            hk_page_t *page = &seg->pages[p];
            if (!page->in_use) continue;
            uint32_t capacity = page->capacity;
            bool exact = capacity <= HK_PAGE_BLOCKS_MAX;
            if (exact) {
                memset(bits, 0, ((capacity + 63) / 64) * sizeof bits[0]);
                exact = hk_page_free_bitmap(page, bits);
            }
            if (!exact) doubtful++;
            if (capacity > HK_PAGE_BLOCKS_MAX) continue;
            hk_track_rec_t *recs = hk_track_record(seg, page, 0);
            for (uint32_t i = 0; i < capacity; i++) {
                if (recs[i].stack == HK_STACK_NONE) continue;
                if (bits[i / 64] & ((uint64_t)1 << (i % 64))) recs[i].mark = HK_MARK_FREE;
                /* On no list of a page that does not add up: maybe a block a stopped thread holds
                 * between two lists, whose record is stale, maybe a live one. */
                else if (!exact) recs[i].mark = HK_MARK_DOUBTFUL;
            }
        }
    }
    return doubtful;
}
