/* hollow.c — giving back the inside of free medium blocks when a heap grows while it holds them.
 * Medium blocks (over 8 KiB) of one size class share 512 KiB pages, and a free block serves only
 * its class: a program whose blocks move up through the classes (strings and vectors grown by
 * realloc, each step a copy and a free) leaves free blocks in the classes it passed, resident, while
 * it carves fresh memory in the classes it reached. So, as a heap carves a fresh medium block, it
 * gives back as many bytes of the whole OS pages inside its other free medium blocks (their first
 * page stays: it holds the free-list link and the mark below). The resident total then follows the
 * live one instead of growing by every class passed; a hollowed block reused costs the page faults
 * the fresh carve would have cost, and a program that never carves fresh memory never comes here.
 *
 * A hollowed free block carries a mark in its second word (its address and the key, scrambled).
 * The owner's list is last in, first out, and every walk hollows a page's whole list (but for its
 * first few blocks, the next to be handed out): so the blocks past the first marked one on a list
 * were all hollowed before, and a walk stops there. A mark
 * forged by a program's own data in a block freed later (or left by a hollowed block handed out
 * and freed with its second word unwritten) only stops a walk early; carving dirty memory clears
 * the marks of its last life (page.c). */
#include "core.h"

/* Blocks at the head of a page's list that stay whole: the next ones its class hands out (the list
 * is last in, first out), which a hollow would have to fault in again at once (bench/realloc: 4
 * take 5% fewer page faults than none, and the peak is lower). */
#define HK_HOLLOW_KEEP 4

/* Bytes a heap carves fresh before it looks again after a look found nothing to hollow. */
#define HK_HOLLOW_BACKOFF ((int64_t)256 * 1024)

static inline uintptr_t hk_hollow_mark(const hk_block_t *b) { return ((uintptr_t)b ^ hk_key) * 0x9E3779B97F4A7C15u; }

/* Give back the whole OS pages of a free block past its first two words; returns the bytes. */
static size_t hk_hollow_block(hk_block_t *b, size_t block_size) {
    size_t ps = hk_os_page_size();
    uintptr_t start = hk_align_up((uintptr_t)b + 2 * sizeof(uintptr_t), ps);
    uintptr_t end = ((uintptr_t)b + block_size) & ~(uintptr_t)(ps - 1);
    ((uintptr_t *)b)[1] = hk_hollow_mark(b);
    if (end <= start) return 0;
    hk_os_hollow((void *)start, end - start);
    return end - start;
}

/* Hollow the blocks of a page's list past its first HK_HOLLOW_KEEP up to the first marked one;
 * returns the bytes given back. */
static size_t hk_hollow_page(hk_page_t *page) {
    size_t bytes = 0, limit = page->reserved, at = 0;
    for (hk_block_t *b = page->free; b != NULL && limit > 0; limit--, at++) {
        if (((uintptr_t *)b)[1] == hk_hollow_mark(b)) break;
        if (at >= HK_HOLLOW_KEEP) bytes += hk_hollow_block(b, page->block_size);
        uintptr_t next = b->next ^ hk_key;
        b = next == 0 ? NULL : hk_page_link_checked(page, b, next);
    }
    if (bytes != 0) page->is_zero = 0; /* its hollowed blocks hold marks */
    return bytes;
}

/* The heap is about to carve `bytes` of fresh memory for a medium block of page `carving`. */
void hk_hollow_for_carve(hk_heap_t *heap, const hk_page_t *carving, size_t bytes) {
    /* Free pages kept for the purge delay are no use to it either when they are small pages (the
     * blocks moved up past the small sizes): as many bytes of them may go once their delay is
     * over, not at the decay's slower pace (page_decay.c). */
    hk_page_decay_unusable(bytes);
    heap->hollow_credit -= (int64_t)bytes;
    if (heap->hollow_credit >= 0) return;
    /* The biggest blocks first: more bytes per system call, and fewer faults per byte on reuse. */
    for (size_t bin = HK_BIN_COUNT; bin-- > 0 && heap->hollow_credit < 0;) {
        if (hk_bin_size(bin) <= HK_SMALL_MAX) break;
        for (hk_page_t *page = heap->bins[bin].first; page != NULL && heap->hollow_credit < 0; page = page->next) {
            /* Not in a segment on huge pages: a hole splits the 2 MiB page, and the purger's
             * collapse would fill it again (thp.c). */
            if (page == carving || page->free == NULL || (hk_page_flags(page) & HK_PAGE_OBSERVED) ||
                hk_thp_advised(hk_page_segment(page)))
                continue;
            heap->hollow_credit += (int64_t)hk_hollow_page(page);
        }
    }
    /* Still short: the heap's free medium blocks are all hollowed (what the walk found is given
     * back already); the fresh memory carved from now on does not look again for a while. */
    if (heap->hollow_credit < 0) heap->hollow_credit = HK_HOLLOW_BACKOFF;
}
