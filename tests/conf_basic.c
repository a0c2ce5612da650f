/* conf_basic.c — conformance of malloc/free/usable size/ownership over all size ranges.
 * Built as api_basic (hk_ names, heapkit_api) and std_basic (standard names, heapkit preloaded):
 * 16-byte alignment, distinct non-overlapping blocks, usable size writable, hk_owns answers. */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/mman.h>
#include <unistd.h>

static int a_global_int = 42;
static char a_global_array[256];

/* Sizes crossing every interesting boundary: tiny, size-class edges, page edges, huge. */
static const size_t k_sizes[] = {
    0,     1,     2,     7,     8,     9,      15,     16,     17,     24,      31,      32,
    33,    48,    63,    64,    65,    100,    127,    128,    129,    255,     256,     257,
    500,   511,   512,   513,   1000,  1023,   1024,   1025,   2047,   2048,    2049,    3000,
    4095,  4096,  4097,  8191,  8192,  8193,   16383,  16384,  16385,  32768,   65535,   65536,
    65537, 100000, 131071, 131072, 131073, 262144, 524288, 1048575, 1048576, 1048577, 4194304,
    4194305, 8388608, 33554432 + 3,
};
#define NSIZES (sizeof k_sizes / sizeof k_sizes[0])

static void test_sizes(void) {
    void *blocks[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = k_sizes[i];
        void *p = T_malloc(n);
        blocks[i] = p;
        if (n == 0) {
            /* glibc returns a unique freeable pointer for malloc(0); heapkit must too. */
            CHECKF(p != NULL, "malloc(0) returned NULL");
            if (p) CHECKF(((uintptr_t)p & 15) == 0, "malloc(0) = %p not 16-aligned", p);
            continue;
        }
        CHECKF(p != NULL, "malloc(%zu) returned NULL", n);
        if (!p) continue;
        size_t want_align = n >= 16 ? 16 : 8;
        CHECKF(((uintptr_t)p & (want_align - 1)) == 0, "malloc(%zu) = %p not %zu-aligned", n, p, want_align);
        size_t us = T_usable_size(p);
        CHECKF(us >= n, "usable_size(malloc(%zu)) = %zu < requested", n, us);
        /* writable up to the usable size */
        hkt_fill(p, us, (uint32_t)i);
        const hkt_heapkit_t *hk = hkt_heapkit();
        if (hk->present) {
            CHECKF(hk->owns(p), "hk_owns(malloc(%zu)) false", n);
            CHECKF(hk->owns((char *)p + n - 1), "hk_owns(last byte of malloc(%zu)) false", n);
        }
    }
    /* nothing overwrote anything: blocks do not overlap */
    for (size_t i = 0; i < NSIZES; i++) {
        if (!blocks[i] || k_sizes[i] == 0) continue;
        size_t bad = hkt_verify(blocks[i], T_usable_size(blocks[i]), (uint32_t)i);
        CHECKF(bad == (size_t)-1, "block of size %zu corrupted at offset %zu", k_sizes[i], bad);
    }
    for (size_t i = 0; i < NSIZES; i++) T_free(blocks[i]);
}

static void test_zero_size_unique(void) {
    void *a = T_malloc(0), *b = T_malloc(0);
    CHECK(a != NULL && b != NULL);
    CHECKF(a != b, "two malloc(0) returned the same pointer %p", a);
    T_free(a);
    T_free(b);
}

static void test_free_null(void) {
    T_free(NULL);
    CHECK(T_usable_size(NULL) == 0);
}

/* Many live blocks of one size: all distinct, 16-aligned, contents intact after neighbours are freed. */
static void test_many_same_size(void) {
    enum { N = 20000 };
    static void *ptrs[N];
    static const size_t sizes[] = {8, 16, 24, 48, 80, 128, 200, 1000, 4000, 20000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        size_t count = n >= 4000 ? N / 10 : N;
        for (size_t i = 0; i < count; i++) {
            ptrs[i] = T_malloc(n);
            REQUIRE(ptrs[i] != NULL);
            memset(ptrs[i], (int)(i & 0xff), n);
        }
        /* free every other one, then reallocate them: reuse must not disturb live neighbours */
        for (size_t i = 0; i < count; i += 2) T_free(ptrs[i]);
        for (size_t i = 0; i < count; i += 2) {
            ptrs[i] = T_malloc(n);
            REQUIRE(ptrs[i] != NULL);
            memset(ptrs[i], (int)(i & 0xff), n);
        }
        size_t bad = 0;
        for (size_t i = 0; i < count; i++) {
            const uint8_t *b = ptrs[i];
            if (b[0] != (uint8_t)(i & 0xff) || b[n - 1] != (uint8_t)(i & 0xff)) bad++;
            if (((uintptr_t)b & (n >= 16 ? 15 : 7)) != 0) bad++;
        }
        CHECKF(bad == 0, "size %zu: %zu blocks overlapped or misaligned", n, bad);
        for (size_t i = 0; i < count; i++) T_free(ptrs[i]);
    }
}

static void test_owns(void) {
    const hkt_heapkit_t *hk = hkt_heapkit();
    if (!hk->present) return;
    int on_stack = 7;
    CHECK(!hk->owns(NULL));
    CHECK(!hk->owns(&on_stack));
    CHECK(!hk->owns(&a_global_int));
    CHECK(!hk->owns(a_global_array + 100));
    CHECK(!hk->owns((void *)test_owns));
    CHECK(!hk->owns((void *)(uintptr_t)1));
    CHECK(!hk->owns((void *)(uintptr_t)0xffffffffffffff00ull));
    /* memory mapped behind heapkit's back */
    size_t ps = hkt_page_size();
    void *m = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    CHECK(!hk->owns(m));
    CHECK(!hk->owns((char *)m + 8 * ps));
    munmap(m, 16 * ps);
#if defined(HKT_API)
    /* glibc's (or the sanitizer's) malloc: not ours */
    void *g = malloc(64);
    CHECK(!hk_owns(g));
    free(g);
    /* the string returned by strdup comes from libc's malloc in the api family */
    char *s = strdup("not heapkit");
    CHECK(!hk_owns(s));
    free(s);
#else
    char *s = strdup("heapkit");
    CHECK(hk->owns(s));
    free(s);
    /* and hk_malloc memory is freeable through free() */
    void *q = hk->hk_malloc(100);
    CHECK(q != NULL && hk->owns(q));
    free(q);
#endif
    /* blocks of every size class are owned, interior pointers too */
    for (size_t n = 8; n <= (size_t)16 << 20; n = n * 3 / 2 + 8) {
        char *p = T_malloc(n);
        REQUIRE(p);
        CHECKF(hk->owns(p) && hk->owns(p + n / 2) && hk->owns(p + n - 1), "hk_owns false for block of %zu", n);
        T_free(p);
    }
}

#if defined(HKT_API)
static void test_api_extras(void) {
    const char *v = hk_version();
    REQUIRE(v != NULL);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", HK_VERSION_MAJOR, HK_VERSION_MINOR, HK_VERSION_PATCH);
    CHECKF(strncmp(v, want, strlen(want)) == 0, "hk_version() = \"%s\", header says %s", v, want);

    /* free_sized / free_aligned_sized release like free */
    hk_stats_t s0, s1;
    hk_stats_get(&s0);
    for (size_t n = 1; n < 300000; n = n * 2 + 1) {
        void *p = hk_malloc(n);
        REQUIRE(p);
        memset(p, 1, n);
        hk_free_sized(p, n);
        void *q = hk_aligned_alloc(256, n);
        REQUIRE(q);
        CHECK(((uintptr_t)q & 255) == 0);
        memset(q, 2, n);
        hk_free_aligned_sized(q, 256, n);
    }
    hk_free_sized(NULL, 0);
    hk_free_aligned_sized(NULL, 64, 0);
    hk_stats_get(&s1);
    CHECKF(s1.live <= s0.live, "live grew from %zu to %zu after free_sized/free_aligned_sized", s0.live, s1.live);
}
#endif

int main(void) {
    hkt_begin(T_FAMILY "_basic", 120);
    hkt_check_running_on_heapkit();
    test_sizes();
    test_zero_size_unique();
    test_free_null();
    test_many_same_size();
    test_owns();
#if defined(HKT_API)
    test_api_extras();
#endif
    return hkt_done();
}
