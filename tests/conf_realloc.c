/* conf_realloc.c — realloc keeps contents across growth and shrink through every size range
 * (tiny to 100 MiB and back), realloc(NULL, n), realloc to size 0 without leaking, in-place and
 * aligned-block reallocs. Built as api_realloc and std_realloc. */
#define _GNU_SOURCE
#include "hkt.h"

#define MiB ((size_t)1 << 20)

static const size_t k_ladder[] = {
    1,      3,      8,      15,      16,      17,      31,      48,      64,       100,      128,
    200,    256,    500,    1000,    1024,    2000,    4095,    4096,    8000,     8192,     8193,
    16000,  32768,  65536,  100000,  131072,  131073,  300000,  1 * MiB, 2 * MiB,  4 * MiB,
    4 * MiB + 1, 9 * MiB, 33 * MiB, 64 * MiB, 100 * MiB,
};
#define NLADDER (sizeof k_ladder / sizeof k_ladder[0])

/* Grow one block up the ladder and shrink it back down, checking contents at each step. */
static void test_ladder(uint32_t seed, size_t step) {
    char *p = T_malloc(k_ladder[0]);
    REQUIRE(p);
    hkt_fill(p, k_ladder[0], seed);
    size_t cur = k_ladder[0];
    for (size_t i = step; i < NLADDER; i += step) {
        size_t n = k_ladder[i];
        char *q = T_realloc(p, n);
        CHECKF(q != NULL, "realloc %zu -> %zu failed", cur, n);
        if (!q) break;
        size_t bad = hkt_verify(q, cur, seed);
        CHECKF(bad == (size_t)-1, "grow %zu -> %zu: byte %zu lost", cur, n, bad);
        CHECKF(T_usable_size(q) >= n, "usable %zu < %zu after realloc", T_usable_size(q), n);
        CHECKF(((uintptr_t)q & (n >= 16 ? 15 : 7)) == 0, "realloc to %zu gave misaligned %p", n, q);
        hkt_fill(q, n, seed); /* new bytes take the pattern too */
        p = q;
        cur = n;
    }
    for (size_t i = NLADDER; i-- > 0;) {
        if (k_ladder[i] >= cur) continue;
        size_t n = k_ladder[i];
        char *q = T_realloc(p, n);
        CHECKF(q != NULL, "realloc shrink %zu -> %zu failed", cur, n);
        if (!q) break;
        size_t bad = hkt_verify(q, n, seed);
        CHECKF(bad == (size_t)-1, "shrink %zu -> %zu: byte %zu lost", cur, n, bad);
        CHECK(T_usable_size(q) >= n);
        p = q;
        cur = n;
    }
    T_free(p);
}

/* Byte-by-byte growth, the pattern of a string builder. */
static void test_small_steps(void) {
    char *p = NULL;
    size_t n_max = hkt_scaled(20000);
    for (size_t n = 1; n <= n_max; n++) {
        char *q = T_realloc(p, n);
        REQUIRE(q);
        q[n - 1] = (char)hkt_pat(n - 1, 5);
        p = q;
        if (n % 997 == 0) CHECKF(hkt_verify(p, n, 5) == (size_t)-1, "byte-step growth lost data at %zu", n);
    }
    CHECK(hkt_verify(p, n_max, 5) == (size_t)-1);
    /* and shrink by large steps */
    for (size_t n = n_max; n > 10; n /= 3) {
        p = T_realloc(p, n);
        REQUIRE(p);
        CHECKF(hkt_verify(p, n, 5) == (size_t)-1, "shrink to %zu lost data", n);
    }
    T_free(p);
}

static void test_realloc_null(void) {
    static const size_t sizes[] = {0, 1, 16, 1000, 100000, 5 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = T_realloc(NULL, sizes[i]);
        if (sizes[i]) {
            CHECKF(p != NULL, "realloc(NULL, %zu) failed", sizes[i]);
            if (p) {
                CHECK(T_usable_size(p) >= sizes[i]);
                memset(p, 1, sizes[i]);
            }
        } else {
            /* realloc(NULL, 0) is malloc(0): a unique freeable pointer in glibc */
            CHECKF(p != NULL, "realloc(NULL, 0) returned NULL");
        }
        T_free(p);
    }
}

/* realloc(p, 0): glibc frees p and returns NULL; others return a minimal block. Either is
 * accepted, but it must not crash or leak: do it many times and watch heapkit's live bytes. */
static void test_realloc_zero(void) {
    hk_stats_t s0, s1;
    bool have = hkt_stats(&s0);
    size_t nulls = 0, blocks = 0, rounds = hkt_scaled(100000);
    for (size_t i = 0; i < rounds; i++) {
        size_t n = 1 + (i * 7919) % (i % 100 == 0 ? 300000 : 2000);
        char *p = T_malloc(n);
        REQUIRE(p);
        p[0] = 1;
        void *q = T_realloc(p, 0);
        if (q == NULL) {
            nulls++;
        } else {
            blocks++;
            T_free(q);
        }
    }
    CHECKF(nulls == 0 || blocks == 0, "realloc(p, 0) inconsistent: %zu NULLs, %zu blocks", nulls, blocks);
    hkt_note("realloc(p, 0) %s", nulls ? "frees p and returns NULL (glibc behaviour)" : "returns a fresh minimal block");
    if (have) {
        hkt_stats(&s1);
        CHECKF(s1.live <= s0.live + 65536, "live bytes grew %zu -> %zu over %zu realloc(p, 0): leak", s0.live,
               s1.live, rounds);
    }
}

/* Many blocks realloc'ed in random order and sizes, each checked against its own pattern. */
static void test_random(void) {
    enum { SLOTS = 1024 };
    static char *slot[SLOTS];
    static size_t slot_n[SLOTS];
    uint64_t rng = 12345;
    size_t bad = 0, rounds = hkt_scaled(60000);
    for (size_t r = 0; r < rounds; r++) {
        size_t k = hkt_rand(&rng) % SLOTS;
        uint64_t x = hkt_rand(&rng);
        size_t n = (x & 63) == 0 ? (x >> 8) % (1 << 20) + 1 : (x >> 8) % 3000 + 1;
        if ((x & 0x30) == 0x30 && slot[k]) {
            if (hkt_verify(slot[k], slot_n[k], (uint32_t)k) != (size_t)-1) bad++;
            T_free(slot[k]);
            slot[k] = NULL;
            continue;
        }
        char *q = T_realloc(slot[k], n);
        REQUIRE(q);
        size_t keep = slot_n[k] < n ? slot_n[k] : n;
        if (slot[k] && hkt_verify(q, keep, (uint32_t)k) != (size_t)-1) bad++;
        hkt_fill(q, n, (uint32_t)k);
        slot[k] = q;
        slot_n[k] = n;
    }
    for (size_t k = 0; k < SLOTS; k++) {
        if (slot[k] && hkt_verify(slot[k], slot_n[k], (uint32_t)k) != (size_t)-1) bad++;
        T_free(slot[k]);
    }
    CHECKF(bad == 0, "%zu blocks lost contents in random realloc traffic", bad);
}

/* realloc of a block that came from an aligned allocation keeps the data (alignment may go). */
static void test_realloc_aligned(void) {
    static const size_t aligns[] = {32, 64, 4096, 65536, 1 << 21};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        void *p = NULL;
        REQUIRE(T_posix_memalign(&p, aligns[a], 3000) == 0);
        hkt_fill(p, 3000, 77);
        char *q = T_realloc(p, 50000);
        REQUIRE(q);
        CHECKF(hkt_verify(q, 3000, 77) == (size_t)-1, "realloc of a %zu-aligned block lost data", aligns[a]);
        q = T_realloc(q, 10);
        REQUIRE(q);
        CHECK(hkt_verify(q, 10, 77) == (size_t)-1);
        T_free(q);
    }
}

/* Shrinking a huge block and growing it back repeatedly (mremap territory). */
static void test_huge_yoyo(void) {
    size_t big = 48 * MiB;
    char *p = T_malloc(big);
    REQUIRE(p);
    hkt_fill(p, big, 3);
    for (int i = 0; i < 6; i++) {
        size_t small = (size_t)(i + 1) * 3 * MiB + 12345;
        p = T_realloc(p, small);
        REQUIRE(p);
        CHECKF(hkt_verify(p, small, 3) == (size_t)-1, "huge shrink to %zu lost data", small);
        p = T_realloc(p, big + (size_t)i * MiB);
        REQUIRE(p);
        CHECK(hkt_verify(p, small, 3) == (size_t)-1);
        hkt_fill(p, big + (size_t)i * MiB, 3);
    }
    T_free(p);
}

int main(void) {
    hkt_begin(T_FAMILY "_realloc", 180);
    hkt_check_running_on_heapkit();
    test_ladder(1, 1);
    test_ladder(2, 2);
    test_ladder(3, 5);
    test_small_steps();
    test_realloc_null();
    test_realloc_zero();
    test_random();
    test_realloc_aligned();
    test_huge_yoyo();
    return hkt_done();
}
