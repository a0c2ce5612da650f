/* conf_calloc.c — calloc returns zeroed memory: fresh, after dirty memory is freed and reused
 * (small, medium, huge, aligned neighbours, realloc'ed), and for huge sizes from a cache.
 * Built as api_calloc and std_calloc. */
#define _GNU_SOURCE
#include "hkt.h"

/* Dirty blocks of size n, free them, calloc the same shape back: every byte must be zero. */
static void dirty_then_calloc(size_t n, size_t count) {
    void **ptrs = T_malloc(count * sizeof(void *));
    REQUIRE(ptrs);
    for (size_t i = 0; i < count; i++) {
        ptrs[i] = T_malloc(n);
        REQUIRE(ptrs[i]);
        memset(ptrs[i], 0xA5, T_usable_size(ptrs[i]));
    }
    /* free in a scrambled order so the free lists are not in address order */
    for (size_t i = 0; i < count; i += 2) T_free(ptrs[i]);
    for (size_t i = 1; i < count; i += 2) T_free(ptrs[i]);
    /* sometimes give the free pages back first: purged pages come back zeroed (MADV_DONTNEED) or
     * possibly still dirty (MADV_FREE), and calloc must be right either way */
    const hkt_heapkit_t *hk = hkt_heapkit();
    if (hk->present && (n / 8) % 2 == 0) hk->trim();
    size_t dirty = 0;
    for (size_t i = 0; i < count; i++) {
        ptrs[i] = T_calloc(1, n);
        REQUIRE(ptrs[i]);
        if (!hkt_all_zero(ptrs[i], n)) dirty++;
        memset(ptrs[i], 0x5A, n); /* dirty it again for the next round */
    }
    CHECKF(dirty == 0, "calloc(1, %zu): %zu of %zu blocks not zeroed after reuse", n, dirty, count);
    /* the calloc(count, size) form with the same byte count */
    for (size_t i = 0; i < count; i++) T_free(ptrs[i]);
    dirty = 0;
    for (size_t i = 0; i < count; i++) {
        ptrs[i] = n % 4 == 0 ? T_calloc(n / 4, 4) : T_calloc(n, 1);
        REQUIRE(ptrs[i] || n == 0);
        if (ptrs[i] && !hkt_all_zero(ptrs[i], n)) dirty++;
    }
    CHECKF(dirty == 0, "calloc(%zu bytes) second form: %zu blocks dirty", n, dirty);
    for (size_t i = 0; i < count; i++) T_free(ptrs[i]);
    T_free(ptrs);
}

static void test_reuse(void) {
    static const size_t sizes[] = {1, 8, 16, 24, 40, 64, 100, 128, 250, 512, 1000, 2048, 4000,
                                   8192, 9000, 16384, 40000, 65536, 131072, 200000, 1 << 20, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t count = n <= 4096 ? hkt_scaled(5000) : n <= 131072 ? hkt_scaled(300) : 8;
        dirty_then_calloc(n, count);
    }
}

/* Random mixed workload of dirty mallocs/frees interleaved with callocs. */
static void test_mixed(void) {
    enum { SLOTS = 4096 };
    static void *slot[SLOTS];
    static size_t slot_n[SLOTS];
    static bool slot_zero[SLOTS];
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t dirty = 0, rounds = hkt_scaled(100000);
    for (size_t r = 0; r < rounds; r++) {
        size_t k = hkt_rand(&rng) % SLOTS;
        if (slot[k]) {
            if (slot_zero[k] && !hkt_all_zero(slot[k], slot_n[k])) dirty++;
            T_free(slot[k]);
            slot[k] = NULL;
            continue;
        }
        uint64_t x = hkt_rand(&rng);
        size_t n = (x >> 8) % (x & 1 ? 256 : 20000) + 1;
        if (x & 2) {
            slot[k] = T_calloc(1, n);
            REQUIRE(slot[k]);
            slot_zero[k] = true;
            if (!hkt_all_zero(slot[k], n)) dirty++;
        } else {
            slot[k] = T_malloc(n);
            REQUIRE(slot[k]);
            memset(slot[k], 0xFF, n);
            slot_zero[k] = false;
        }
        slot_n[k] = n;
    }
    for (size_t k = 0; k < SLOTS; k++) T_free(slot[k]);
    CHECKF(dirty == 0, "mixed workload: %zu calloc blocks were not zero", dirty);
}

/* Huge blocks: dirty a huge block, free it (it may be cached), calloc the same size again. */
static void test_huge(void) {
    static const size_t sizes[] = {(size_t)8 << 20, (size_t)64 << 20, ((size_t)64 << 20) + 4096 + 17,
                                   (size_t)200 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 3; round++) {
            char *d = T_malloc(n);
            REQUIRE(d);
            memset(d, 0xC3, n);
            T_free(d);
            char *z = T_calloc(n / 8, 8);
            REQUIRE(z);
            CHECKF(hkt_all_zero(z, n / 8 * 8), "calloc of %zu bytes (round %d) after a dirty free not zero", n, round);
            memset(z, 0x3C, n / 8 * 8);
            T_free(z);
            /* smaller calloc that could be carved from the cached block */
            z = T_calloc(1, n / 2 + 1);
            REQUIRE(z);
            CHECKF(hkt_all_zero(z, n / 2 + 1), "calloc of %zu bytes after dirty huge free not zero", n / 2 + 1);
            T_free(z);
        }
    }
    /* a huge calloc with nothing to reuse, checked in full */
    size_t big = (size_t)256 << 20;
    char *z = T_calloc(big, 1);
    REQUIRE(z);
    CHECK(hkt_all_zero(z, big));
    T_free(z);
}

/* Memory a realloc shrank or grew out of, then calloc'ed again. */
static void test_after_realloc(void) {
    size_t dirty = 0;
    for (int round = 0; round < 50; round++) {
        size_t n = 100 + (size_t)round * 997;
        char *p = T_malloc(n);
        REQUIRE(p);
        memset(p, 0xEE, n);
        p = T_realloc(p, n * 7);
        REQUIRE(p);
        memset(p, 0xEE, n * 7);
        p = T_realloc(p, n / 3);
        REQUIRE(p);
        T_free(p);
        char *z = T_calloc(n * 7, 1);
        REQUIRE(z);
        if (!hkt_all_zero(z, n * 7)) dirty++;
        char *y = T_calloc(1, n);
        REQUIRE(y);
        if (!hkt_all_zero(y, n)) dirty++;
        T_free(z);
        T_free(y);
    }
    CHECKF(dirty == 0, "%zu callocs after realloc traffic were dirty", dirty);
}

int main(void) {
    hkt_begin(T_FAMILY "_calloc", 180);
    hkt_check_running_on_heapkit();
    test_reuse();
    test_mixed();
    test_huge();
    test_after_realloc();
    return hkt_done();
}
