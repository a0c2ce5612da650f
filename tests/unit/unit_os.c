/* unit_os.c — the os layer: aligned mappings, purge reads back zeros and lowers residency,
 * resizing in place and moving a mapping to a new aligned place keep the contents. */
#include "unit.h"

int main(void) {
    size_t ps = hk_os_page_size(), mapped;
    CHECK(ps >= 4096 && (ps & (ps - 1)) == 0, "page size %zu", ps);
    for (size_t align = ps; align <= ((size_t)64 << 20); align <<= 3) {
        uint8_t *p = hk_os_map_aligned(3 * ps + 1, align, &mapped);
        CHECK(p != NULL && ((uintptr_t)p & (align - 1)) == 0, "map aligned to %zu gave %p", align, (void *)p);
        CHECK(mapped == 4 * ps, "mapped %zu bytes for 3 pages + 1", mapped);
        if (p) hk_os_unmap(p, mapped);
    }

    size_t size = 64 * ps;
    uint8_t *p = hk_os_map_aligned(size, HK_SEGMENT_SIZE, &mapped);
    CHECK(p != NULL, "map a segment-aligned region");
    if (p == NULL) return unit_done("unit_os");
    memset(p, 0xab, size);
    CHECK(hk_os_resident(p, size) == size, "all %zu touched bytes resident, got %zu", size, hk_os_resident(p, size));
    size_t committed = atomic_load(&hk_state.committed);
    hk_os_purge(p + 1, size - 2); /* only whole pages inside the range go */
    CHECK(hk_os_resident(p, size) <= 2 * ps, "residency after purge %zu", hk_os_resident(p, size));
    CHECK(p[0] == 0xab && p[size - 1] == 0xab, "partial first and last pages must be kept");
    CHECK(p[ps] == 0 && p[size - ps - 1] == 0, "purged pages read back as zero");
    CHECK(atomic_load(&hk_state.committed) == committed - (size - 2 * ps), "committed lowered by the purge");

    memset(p, 0x5a, size);
    if (hk_os_resize_in_place(p, size, size / 2)) {
        CHECK(p[size / 2 - 1] == 0x5a, "shrunk mapping keeps its head");
        size /= 2;
    }
    uint8_t *q = hk_os_remap_aligned(p, size, 4 * size, HK_SEGMENT_SIZE);
    CHECK(q != NULL && ((uintptr_t)q & HK_SEGMENT_MASK) == 0, "remap to an aligned place gave %p", (void *)q);
    if (q != NULL) {
        CHECK(q[0] == 0x5a && q[size - 1] == 0x5a && q[size] == 0, "moved contents kept, growth zeroed");
        hk_os_unmap(q, 4 * size);
    }
    return unit_done("unit_os");
}
