/* unit_scrub.c — zeroing freed big blocks' pages (scrub.c): the non-temporal way and the timed
 * choice between it and memset must both write zeros over exactly the range asked, no byte
 * before it or after it, whatever the range's length (whole 64-byte lines or not) and whether
 * its pages are in the cache (just written) or not (written, then pushed out by 64 MiB more). */
#include "unit.h"

#include <sys/mman.h>

#define FILL 0xa5

static size_t nonzero_in(const uint8_t *p, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += p[i] != 0;
    return bad;
}

/* Scrub `size` bytes one page into a filled mapping with `scrub`, `cold` pushing them out of the
 * cache first; the bytes around must keep their fill. */
static void check_scrub(const char *how, void (*scrub)(void *, size_t), size_t size, bool cold, uint8_t *evict,
                        size_t evict_size) {
    size_t ps = hk_os_page_size();
    size_t total = hk_align_up(size, ps) + 2 * ps;
    uint8_t *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED, "mmap %zu", total);
    if (map == MAP_FAILED) return;
    memset(map, FILL, total);
    if (cold)
        for (size_t i = 0; i < evict_size; i += 64) evict[i]++;
    uint8_t *at = map + ps;
    scrub(at, size);
    CHECK(nonzero_in(at, size) == 0, "%s of %zu bytes (%s) left %zu bytes not zero", how, size, cold ? "cold" : "hot",
          nonzero_in(at, size));
    CHECK(at[-1] == FILL && at[size] == FILL, "%s of %zu bytes wrote outside its range", how, size);
    munmap(map, total);
}

static void scrub_pages(void *p, size_t bytes) { hk_scrub_pages(p, bytes, hk_os_page_size()); }

int main(void) {
    size_t ps = hk_os_page_size();
    size_t evict_size = (size_t)64 << 20; /* past this VM's caches (L3 32 MiB) */
    uint8_t *evict = mmap(NULL, evict_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(evict != MAP_FAILED, "mmap the eviction buffer");
    if (evict == MAP_FAILED) return unit_done("unit_scrub");
    size_t sizes[] = {64, 40, 4096 + 40, ps, 2 * ps, 3 * ps + 64, 64 * ps, 1024 * ps};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int cold = 0; cold <= 1; cold++) {
            check_scrub("hk_scrub_stream", hk_scrub_stream, sizes[i], cold, evict, evict_size);
            check_scrub("hk_scrub_pages", scrub_pages, sizes[i], cold, evict, evict_size);
        }
    }
    munmap(evict, evict_size);
    return unit_done("unit_scrub");
}
