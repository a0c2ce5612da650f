/* corruption.c — what the core does when its own data does not add up: a free-list link that
 * leads out of its page, a page record whose numbers contradict each other, a remote-free stack
 * that points elsewhere. Each is told in one line naming the block, its page, its size class and
 * the likely cause, followed by what the debug layer knows of the blocks involved (hooks.h's
 * describe_block: their allocation stacks), and the process aborts: following a corrupt link would
 * hand out, or fault on, an address that a stray or hostile write chose. */
#include "hooks.h"

#include <stdlib.h>
#include <unistd.h>

/* A report is one line for the finding and a few for each block the debug layer describes. */
#define HK_CORRUPT_REPORT_MAX 4096

/* Where a block lies, for the report: its page's index in its segment. */
static size_t hk_page_index(const hk_page_t *page) { return (size_t)(page - hk_page_segment(page)->pages); }

/* The block before b in its page, or NULL for the first: the one whose overflow reaches b. */
static const uint8_t *hk_block_before(const hk_page_t *page, const void *b) {
    const uint8_t *p = b;
    if (page->block_size == 0 || p < page->start + page->block_size) return NULL;
    return p - page->block_size;
}

static _Noreturn void hk_corrupt_finish(hk_buf_t *b, const void *block, const void *before) {
    hk_buf_printf(b, "; aborting\n");
    if (block != NULL) hk_hook_describe_block(block, "the corrupted block", b);
    if (before != NULL) hk_hook_describe_block(before, "the block before it", b);
    size_t n = b->len < b->cap ? b->len : b->cap;
    hk_write_all(STDERR_FILENO, b->data, n);
    abort();
}

hk_rare_path void hk_corrupt_block(const hk_page_t *page, const void *block, const char *what, const char *cause) {
    char text[HK_CORRUPT_REPORT_MAX];
    hk_buf_t b = {.data = text, .cap = sizeof text};
    const uint8_t *before = hk_block_before(page, block);
    hk_buf_printf(&b, "heapkit: heap corruption: the free block of %zu bytes at %p (size class %u, page %zu of segment %p) %s: ",
                  page->block_size, block, (unsigned)page->bin, hk_page_index(page), (void *)hk_page_segment(page), what);
    if (cause != NULL) hk_buf_printf(&b, "%s", cause);
    else if (before != NULL)
        hk_buf_printf(&b, "it was written after it was freed, or the block before it (%p) overflowed", (const void *)before);
    else hk_buf_printf(&b, "it was written after it was freed");
    hk_corrupt_finish(&b, block, before);
}

hk_rare_path void hk_corrupt_page(const hk_page_t *page, const char *what) {
    char text[HK_CORRUPT_REPORT_MAX];
    hk_buf_t b = {.data = text, .cap = sizeof text};
    hk_buf_printf(&b, "heapkit: heap corruption: the record of page %zu of segment %p (size class %u, blocks of %zu bytes) "
                  "does not add up: %s: the library's metadata was overwritten",
                  hk_page_index(page), (void *)hk_page_segment(page), (unsigned)page->bin, page->block_size, what);
    hk_corrupt_finish(&b, NULL, NULL);
}

/* Is `next` a block start among the blocks carved so far in the page (or NULL, the list's end)? */
bool hk_page_link_valid(const hk_page_t *page, uintptr_t next) {
    if (next == 0) return true;
    uintptr_t start = (uintptr_t)page->start;
    if (next < start || next - start >= (uintptr_t)page->capacity * page->block_size) return false;
    return hk_page_is_block_start(page, (const void *)next);
}

/* The slow side of hk_page_pop: the link left the block's 64 KiB, which is right only for NULL or
 * in a medium page; anything else is reported. Also every pop of the hardened mode. */
hk_block_t *hk_page_link_checked(hk_page_t *page, const hk_block_t *b, uintptr_t next) {
    if (hk_likely(hk_page_link_valid(page, next))) return (hk_block_t *)next;
    hk_corrupt_block(page, b, "has a free-list link that does not point to a block of its page", NULL);
}

/* The cold side of hk_page_check (core.h): say which of its numbers is wrong. */
hk_rare_path void hk_page_check_failed(const hk_page_t *page) {
    hk_segment_t *seg = hk_page_segment(page);
    uintptr_t lo = (uintptr_t)seg + ((uintptr_t)hk_page_index(page) << seg->page_shift);
    uintptr_t start = (uintptr_t)page->start;
    if (page->bin >= HK_BIN_COUNT) hk_corrupt_page(page, "its size class is out of range");
    if (start < lo || start - lo + (uintptr_t)page->reserved * page->block_size > ((uintptr_t)1 << seg->page_shift))
        hk_corrupt_page(page, "its blocks do not lie in its memory");
    hk_corrupt_page(page, "it counts more blocks carved or handed out than fit");
}

/* A pop whose link is checked exactly: the slow side of hk_page_pop (the end of a list, medium
 * pages, a corrupt link), and every pop of the hardened mode. */
hk_block_t *hk_page_pop_checked(hk_page_t *page) {
    hk_block_t *b = page->free;
    page->free = hk_page_link_checked(page, b, b->next ^ hk_key);
    page->used++;
    b->next = 0;
    return b;
}
