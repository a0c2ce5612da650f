/* unit_sizeclass.c — the size classes: every size maps to the smallest class that holds it,
 * classes are 16-byte multiples, a block wastes under 16 bytes (up to 128) or a fifth of it
 * (rounded up to the 16-byte grain), and a page of any class is at least 93% blocks. */
#include "unit.h"

int main(void) {
    CHECK(hk_bin_of(0) == 0 && hk_bin_size(0) == 16, "size 0 must use the 16-byte class");
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        size_t size = hk_bin_size(bin);
        CHECK(size % 16 == 0, "class %zu has size %zu, not a multiple of 16", bin, size);
        CHECK(hk_bin_of(size) == bin, "class %zu's own size %zu maps to %zu", bin, size, hk_bin_of(size));
        if (bin > 0) CHECK(hk_bin_size(bin - 1) < size, "classes %zu and %zu not increasing", bin - 1, bin);
    }
    CHECK(hk_bin_size(HK_BIN_COUNT - 1) == HK_MEDIUM_MAX, "the last class is %zu", hk_bin_size(HK_BIN_COUNT - 1));
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        size_t size = hk_bin_size(bin);
        size_t page = (size_t)1 << (size <= HK_SMALL_MAX ? HK_SMALL_PAGE_SHIFT : HK_MEDIUM_PAGE_SHIFT);
        size_t used = page / size * size;
        CHECK(used * 100 >= page * 93, "class %zu (%zu bytes) fills only %zu of a %zu-byte page", bin, size, used, page);
    }
    for (size_t size = 1; size <= HK_MEDIUM_MAX; size++) {
        size_t bin = hk_bin_of(size), bsize = hk_bin_size(bin);
        if (bsize < size || (bin > 0 && hk_bin_size(bin - 1) >= size)) {
            CHECK(false, "size %zu maps to class %zu (%zu bytes), not the smallest that holds it", size, bin, bsize);
            break;
        }
        if (size <= 128 ? bsize - size >= 16 : bsize - size > hk_align_up((bsize + 4) / 5, 16)) {
            CHECK(false, "size %zu wastes %zu of %zu bytes", size, bsize - size, bsize);
            break;
        }
    }
    return unit_done("unit_sizeclass");
}
