/* fit.c — where a medium block goes when the address space is capped (`ulimit -v`: RLIMIT_AS, or
 * RLIMIT_DATA, which anonymous private mappings count against). There every byte reserved counts,
 * touched or not, and a size class's rounding is memory the program cannot have: glibc's heap
 * gives a block its size and 16 bytes. Two ways out, both only under a cap (without one, size
 * classes keep the pages few and their reuse fast, and a mapping per block would cost system
 * calls and page faults):
 *   - a mapping of its own (a huge segment, huge.c) for a block of HK_FIT_OWN_MIN or more when
 *     that, its header and the OS page rounding included, takes fewer bytes than its class: a
 *     100,000-byte block then takes 102,400 bytes instead of its class's 104,848 (a 512 KiB page
 *     split in 5, of which a segment's first page holds only 4);
 *   - fitted pages for a bin in steady use: a new page of the bin, when none of its pages has room,
 *     is a medium page (512 KiB) whose block size is the size asked for, rounded so that as many
 *     blocks fit as can: 4,000-byte blocks take 4,000 bytes instead of 4,096, 131 to the page. The
 *     bin's queue then holds pages of several block sizes; the heap passes over those too small
 *     for a request (heap.c), and makes a page of the class when a fitted one is too small, so a
 *     bin never has more than one fitted page with room.
 * The cap is read once, at the first medium block or page that could go either way. */
#include "core.h"

#include <sys/resource.h>

/* Fitted pages only for a bin that already has this many pages of its class (in the process): a
 * program with a few blocks of many sizes keeps the class's pages (64 KiB for small blocks) instead
 * of a 512 KiB page per size it asked for once. */
#define HK_FIT_AFTER_PAGES 4

enum { HK_FIT_UNKNOWN = 0, HK_FIT_UNCAPPED = 1, HK_FIT_CAPPED = 2 };
static _Atomic int hk_fit_cap_state;
/* Pages of each class made under the cap; approximate across threads (relaxed), a heuristic. */
static _Atomic uint32_t hk_fit_class_pages[HK_BIN_COUNT];

static bool hk_fit_limited(int resource) {
    struct rlimit rl;
    return getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

/* Is the address space capped (and not the hardened mode, whose guard pages change the sums)? Two
 * threads may both ask the kernel the first time: same answer. */
static bool hk_fit_capped(void) {
    int state = atomic_load_explicit(&hk_fit_cap_state, memory_order_relaxed);
    if (hk_unlikely(state == HK_FIT_UNKNOWN)) {
        state = hk_fit_limited(RLIMIT_AS) || hk_fit_limited(RLIMIT_DATA) ? HK_FIT_CAPPED : HK_FIT_UNCAPPED;
        atomic_store_explicit(&hk_fit_cap_state, state, memory_order_relaxed);
    }
    return state == HK_FIT_CAPPED && !hk_secure();
}

bool hk_fit_own_mapping(size_t size) {
    if (size < HK_FIT_OWN_MIN || size > HK_MEDIUM_MAX || !hk_fit_capped()) return false;
    return hk_align_up(size + hk_huge_header_size(), hk_os_page_size()) < hk_bin_size(hk_bin_of(size));
}

/* The block size of a page of `area` bytes fitted to blocks of `size`: as many as fit, each as big
 * as they can be (16-byte aligned), so the page also serves slightly bigger requests. */
static size_t hk_fit_block_size(size_t area, size_t size) {
    size_t n = area / hk_align_up(size, HK_BLOCK_ALIGN);
    return (area / n) & ~(HK_BLOCK_ALIGN - 1);
}

bool hk_fit_page_wanted(size_t bin, size_t size) {
    /* The direct table's sizes point at the first page of their bin, which must fit them all. */
    if (size <= HK_DIRECT_MAX || size > HK_MEDIUM_MAX || !hk_fit_capped()) return false;
    if (atomic_load_explicit(&hk_fit_class_pages[bin], memory_order_relaxed) < HK_FIT_AFTER_PAGES) return false;
    return hk_fit_block_size((size_t)1 << HK_MEDIUM_PAGE_SHIFT, size) < hk_bin_size(bin);
}

void hk_fit_class_page_made(size_t bin) {
    if (atomic_load_explicit(&hk_fit_cap_state, memory_order_relaxed) == HK_FIT_CAPPED)
        atomic_fetch_add_explicit(&hk_fit_class_pages[bin], 1, memory_order_relaxed);
}

/* After hk_page_init: the page's blocks are `size` bytes, fitted to its area (a segment's first
 * page is shorter by the header), never bigger than the class. */
void hk_fit_page(hk_page_t *page, size_t size) {
    size_t area;
    hk_page_area(page, &area);
    size_t block = hk_fit_block_size(area, size);
    if (block > page->block_size) block = page->block_size;
    hk_page_set_block_size(page, block);
    page->reserved = (uint32_t)(area / block);
}
