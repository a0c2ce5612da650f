/* conf_errno.c — impossible requests fail cleanly: NULL and errno ENOMEM for huge sizes and for
 * size arithmetic that overflows (calloc, reallocarray), failed reallocs keep the old block, and
 * the allocator keeps working afterwards. Built as api_errno and std_errno. */
#define _GNU_SOURCE
#include "hkt.h"

#include <stdint.h>

static void expect_enomem(const char *what, void *p) {
    int e = errno;
    CHECKF(p == NULL, "%s returned %p, want NULL", what, p);
    CHECKF(e == ENOMEM, "%s: errno %d, want ENOMEM (%d)", what, e, ENOMEM);
    if (p) T_free(p);
}

static void test_malloc_huge(void) {
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096, SIZE_MAX / 2, SIZE_MAX / 2 + 1,
                                   (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62, (size_t)1 << 56};
    char what[96];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = hkt_launder_size(sizes[i]);
        snprintf(what, sizeof what, "malloc(%#zx)", n);
        errno = 0;
        expect_enomem(what, T_malloc(n));
        snprintf(what, sizeof what, "calloc(1, %#zx)", n);
        errno = 0;
        expect_enomem(what, T_calloc(1, n));
        snprintf(what, sizeof what, "aligned_alloc(64, %#zx)", n);
        errno = 0;
        expect_enomem(what, T_aligned_alloc(64, n));
        snprintf(what, sizeof what, "memalign(4096, %#zx)", n);
        errno = 0;
        expect_enomem(what, T_memalign(4096, n));
        snprintf(what, sizeof what, "valloc(%#zx)", n);
        errno = 0;
        expect_enomem(what, T_valloc(n));
        snprintf(what, sizeof what, "pvalloc(%#zx)", n);
        errno = 0;
        expect_enomem(what, T_pvalloc(n));
        void *p = NULL;
        int rc = T_posix_memalign(&p, 32, n);
        CHECKF(rc == ENOMEM, "posix_memalign(32, %#zx) = %d, want ENOMEM", n, rc);
        if (rc == 0) T_free(p);
        rc = T_posix_memalign(&p, (size_t)1 << 20, n);
        CHECKF(rc == ENOMEM, "posix_memalign(1 MiB, %#zx) = %d, want ENOMEM", n, rc);
        if (rc == 0) T_free(p);
    }
}

static void test_overflow(void) {
    struct { size_t a, b; } ov[] = {
        {SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX / 2 + 1, 2}, {(size_t)1 << 32, (size_t)1 << 32},
        {(size_t)1 << 33, (size_t)1 << 31}, {SIZE_MAX / 3 + 1, 3}, {65537, SIZE_MAX / 65536},
        {SIZE_MAX, SIZE_MAX},
    };
    char what[96];
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        size_t a = hkt_launder_size(ov[i].a), b = hkt_launder_size(ov[i].b);
        snprintf(what, sizeof what, "calloc(%#zx, %#zx)", a, b);
        errno = 0;
        expect_enomem(what, T_calloc(a, b));
        snprintf(what, sizeof what, "reallocarray(NULL, %#zx, %#zx)", a, b);
        errno = 0;
        expect_enomem(what, T_reallocarray(NULL, a, b));
        /* a failed reallocarray leaves the old block alone */
        char *p = T_malloc(100);
        REQUIRE(p);
        hkt_fill(p, 100, 7);
        errno = 0;
        void *q = T_reallocarray(hkt_launder(p), a, b);
        snprintf(what, sizeof what, "reallocarray(p, %#zx, %#zx)", a, b);
        expect_enomem(what, q);
        CHECKF(hkt_verify(p, 100, 7) == (size_t)-1, "%s clobbered the old block", what);
        T_free(p);
    }
    /* products that do fit work */
    void *ok = T_calloc(hkt_launder_size(1000), hkt_launder_size(1000));
    CHECK(ok && hkt_all_zero(ok, 1000000));
    T_free(ok);
    ok = T_reallocarray(NULL, hkt_launder_size(1000), hkt_launder_size(1000));
    CHECK(ok != NULL);
    ok = T_reallocarray(ok, 3, 5);
    CHECK(ok != NULL);
    T_free(ok);
}

static void test_realloc_fail_keeps_block(void) {
    static const size_t olds[] = {16, 1000, 100000, 8 << 20};
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        size_t n = olds[i];
        char *p = T_malloc(n);
        REQUIRE(p);
        hkt_fill(p, n, 99);
        errno = 0;
        void *q = T_realloc(hkt_launder(p), hkt_launder_size(SIZE_MAX));
        expect_enomem("realloc(p, SIZE_MAX)", q);
        errno = 0;
        q = T_realloc(hkt_launder(p), hkt_launder_size(SIZE_MAX / 2));
        expect_enomem("realloc(p, SIZE_MAX/2)", q);
        CHECKF(hkt_verify(p, n, 99) == (size_t)-1, "failed realloc of a %zu block clobbered it", n);
        /* the block is still live and usable */
        q = T_realloc(p, n * 2);
        REQUIRE(q);
        CHECK(hkt_verify(q, n, 99) == (size_t)-1);
        T_free(q);
    }
    errno = 0;
    expect_enomem("realloc(NULL, SIZE_MAX)", T_realloc(NULL, hkt_launder_size(SIZE_MAX)));
}

/* A successful call must not be disturbed by an errno left over from before. */
static void test_success_after_failure(void) {
    errno = 0;
    void *bad = T_malloc(hkt_launder_size(SIZE_MAX));
    CHECK(bad == NULL);
    void *good = T_malloc(64);
    CHECK(good != NULL);
    T_free(good);
    /* Many failures in a row must not leak or wedge anything. */
    for (int i = 0; i < 10000; i++) {
        void *p = T_malloc(hkt_launder_size(SIZE_MAX - (size_t)i));
        if (p) {
            CHECKF(p == NULL, "malloc(SIZE_MAX-%d) succeeded", i);
            T_free(p);
            break;
        }
    }
    hk_stats_t s;
    if (hkt_stats(&s)) CHECKF(s.reserved < ((size_t)1 << 36), "reserved %zu after failing requests", s.reserved);
    good = T_malloc(64);
    CHECK(good != NULL);
    T_free(good);
}

int main(void) {
    hkt_begin(T_FAMILY "_errno", 60);
    hkt_check_running_on_heapkit();
    test_malloc_huge();
    test_overflow();
    test_realloc_fail_keeps_block();
    test_success_after_failure();
    return hkt_done();
}
