/* unit_page.c — pages and segments as the allocator leaves them: encoded free lists, lazy
 * carving, the block-start check, remote-free collection, the segment map, and page reuse. */
#include "unit.h"

int main(void) {
    /* A block from the allocator tells us its page. */
    void *first = hk_malloc(48);
    CHECK(first != NULL, "malloc");
    hk_segment_t *seg = hk_ptr_segment(first);
    hk_page_t *page = hk_segment_page_of(seg, first);
    CHECK(hk_segmap_get((uintptr_t)first) == HK_MAP_SEGMENT, "a block's granule is tagged as a segment");
    CHECK(hk_segmap_get((uintptr_t)&page) == HK_MAP_NONE, "the stack is not ours");
    CHECK(seg->kind == HK_SEGMENT_SMALL && page->block_size == 48 && page->in_use, "small page of 48-byte blocks");
    CHECK(page->capacity < page->reserved, "carving is lazy: %u of %u blocks carved", page->capacity, page->reserved);
    CHECK(page->used == 1, "one block used, got %u", page->used);

    /* Block starts: every multiple of the block size, nothing in between. */
    CHECK(hk_page_is_block_start(page, page->start), "page start is a block");
    CHECK(hk_page_is_block_start(page, page->start + 48 * 100), "block 100");
    for (size_t off = 1; off < 48; off++)
        if (hk_page_is_block_start(page, page->start + 48 * 7 + off)) {
            CHECK(false, "offset %zu inside block 7 taken for a start", off);
            break;
        }

    /* Free list links are encoded; a freed block looks free, a live one does not. */
    void *second = hk_malloc(48);
    CHECK(!hk_block_looks_free(second, seg), "a fresh live block must not look free");
    hk_free(second);
    CHECK(hk_block_looks_free(second, seg), "a freed block must look free");
    CHECK(hk_page_contains_free(page, second), "and be on the page's list");
    CHECK(page->free == second, "frees are LIFO: the freed block is handed out next");
    CHECK(hk_malloc(48) == second, "malloc returns the block just freed");

    /* A remote free lands in thread_free and is collected by the owner. */
    uint32_t used = page->used;
    hk_block_t *b = second;
    b->next = hk_encode(NULL);
    atomic_store(&page->thread_free, (uintptr_t)b | ((uintptr_t)1 << HK_REMOTE_COUNT_SHIFT));
    CHECK(hk_page_collect(page) == 1 && page->used == used - 1, "collect took the remote block");
    CHECK(page->free == b, "collected blocks go on the free list");
    CHECK(atomic_load(&page->thread_free) == 0, "and the remote stack is empty");

    /* Huge blocks: tagged granules, found from any interior address. */
    size_t big = (size_t)9 << 20;
    uint8_t *h = hk_malloc(big);
    CHECK(h != NULL, "huge malloc");
    hk_segment_t *hs = hk_huge_segment_of((uintptr_t)(h + big - 1));
    CHECK(hs == hk_ptr_segment(h) && hs->kind == HK_SEGMENT_HUGE, "last byte of a huge block finds its segment");
    CHECK(hk_segmap_get((uintptr_t)(h + big - 1)) == HK_MAP_HUGE_TAIL, "tail granules tagged");
    hk_free(h);
    CHECK(hk_segmap_get((uintptr_t)(h + big - 1)) == HK_MAP_NONE, "tags cleared on free");

    /* A double free into a page that was already given back to its segment is reported and
     * leaves the page record alone. */
    enum { N = 4000 }; /* 4000 blocks of 1008 bytes: several 64 KiB pages */
    static void *many[N];
    for (size_t i = 0; i < N; i++) many[i] = hk_malloc(1000);
    hk_page_t *early = hk_segment_page_of(hk_ptr_segment(many[0]), many[0]);
    for (size_t i = 0; i < N; i++) hk_free(many[i]);
    if (!early->in_use) {
        CHECK(hk_page_flags(early) & HK_PAGE_RELEASED, "a page given back is marked released");
        hk_free(many[0]); /* prints "heapkit: free(...): pointer not allocated by heapkit (or already freed)" */
        CHECK(!early->in_use && early->used == 0, "the retired page record is untouched (used %u)", early->used);
    } else {
        CHECK(false, "the first page of 4000 freed blocks should have been given back");
    }

    hk_free(first);
    return unit_done("unit_page");
}
