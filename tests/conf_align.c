/* conf_align.c — aligned allocation: posix_memalign, aligned_alloc, memalign, valloc, pvalloc
 * for every power-of-two alignment from 1 up to 1 GiB and sizes 0, 1, the alignment and big,
 * plus EINVAL for bad alignments. Built as api_align and std_align. */
#define _GNU_SOURCE
#include "hkt.h"

#include <unistd.h>

#define GiB ((size_t)1 << 30)
#define MAX_ALIGN_SHIFT 30

static void check_block(const char *fn, void *p, size_t align, size_t size) {
    CHECKF(p != NULL, "%s(align %zu, size %zu) returned NULL", fn, align, size);
    if (!p) return;
    CHECKF(((uintptr_t)p & (align - 1)) == 0, "%s(align %zu, size %zu) = %p misaligned", fn, align, size, p);
    size_t us = T_usable_size(p);
    CHECKF(us >= size, "%s(align %zu, size %zu): usable %zu < size", fn, align, size, us);
    if (us) {
        /* touch the first and last usable byte and a few in between, without faulting in GiBs */
        volatile uint8_t *b = p;
        b[0] = 0x11;
        b[us - 1] = 0x22;
        b[us / 2] = 0x33;
        CHECK(b[0] == 0x11 && b[us - 1] == 0x22);
    }
    const hkt_heapkit_t *hk = hkt_heapkit();
    if (hk->present) CHECKF(hk->owns(p), "%s(align %zu, size %zu): hk_owns false", fn, align, size);
}

/* Sizes for a given alignment: 0, 1, equal, just above, and "big" (several MiB, or 2x align). */
static size_t sizes_for(size_t align, size_t out[6]) {
    size_t k = 0;
    out[k++] = 0;
    out[k++] = 1;
    out[k++] = align;
    out[k++] = align + 1;
    out[k++] = align >= ((size_t)1 << 24) ? align + ((size_t)3 << 20) : ((size_t)5 << 20) + 3;
    if (align <= 4096) out[k++] = 3 * align + 8;
    return k;
}

static void test_posix_memalign(void) {
    for (int sh = 3; sh <= MAX_ALIGN_SHIFT; sh++) {
        size_t align = (size_t)1 << sh;
        size_t sizes[6];
        size_t ns = sizes_for(align, sizes);
        for (size_t i = 0; i < ns; i++) {
            void *p = NULL;
            int rc = T_posix_memalign(&p, align, sizes[i]);
            CHECKF(rc == 0, "posix_memalign(align %zu, size %zu) = %d", align, sizes[i], rc);
            if (rc == 0) {
                if (sizes[i] == 0 && p == NULL) continue; /* POSIX allows NULL for size 0 */
                check_block("posix_memalign", p, align, sizes[i]);
                T_free(p);
            }
        }
    }
}

static void test_aligned_alloc(void) {
    for (int sh = 0; sh <= MAX_ALIGN_SHIFT; sh++) {
        size_t align = (size_t)1 << sh;
        size_t sizes[6];
        size_t ns = sizes_for(align, sizes);
        for (size_t i = 0; i < ns; i++) {
            if (sizes[i] == 0) continue; /* may be NULL or not: nothing to check */
            void *p = T_aligned_alloc(align, sizes[i]);
            check_block("aligned_alloc", p, align, sizes[i]);
            T_free(p);
        }
    }
}

static void test_memalign(void) {
    for (int sh = 0; sh <= MAX_ALIGN_SHIFT; sh++) {
        size_t align = (size_t)1 << sh;
        size_t sizes[6];
        size_t ns = sizes_for(align, sizes);
        for (size_t i = 0; i < ns; i++) {
            void *p = T_memalign(align, sizes[i]);
            if (sizes[i] == 0 && p == NULL) continue;
            check_block("memalign", p, align, sizes[i]);
            T_free(p);
        }
    }
}

/* Many live aligned blocks at once (not just one at a time): distinct and intact. */
static void test_many_aligned(void) {
    enum { N = 2000 };
    static void *ptrs[N];
    static const size_t aligns[] = {16, 32, 64, 128, 256, 4096, 8192, 65536};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        size_t align = aligns[a];
        size_t count = align >= 4096 ? N / 8 : N;
        for (size_t i = 0; i < count; i++) {
            size_t size = 1 + (i * 37) % (align * 2);
            int rc = T_posix_memalign(&ptrs[i], align, size);
            REQUIRE(rc == 0);
            CHECKF(((uintptr_t)ptrs[i] & (align - 1)) == 0, "align %zu size %zu: %p", align, size, ptrs[i]);
            hkt_fill(ptrs[i], size, (uint32_t)i);
        }
        size_t bad = 0;
        for (size_t i = 0; i < count; i++) {
            size_t size = 1 + (i * 37) % (align * 2);
            if (hkt_verify(ptrs[i], size, (uint32_t)i) != (size_t)-1) bad++;
            T_free(ptrs[i]);
        }
        CHECKF(bad == 0, "align %zu: %zu aligned blocks corrupted", align, bad);
    }
}

static void test_bad_alignments(void) {
    static const size_t bad[] = {0, 1, 2, 3, 4, 5, 6, 7, 12, 24, 48, 100, 4095, 4097, 3u << 20};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = (void *)(uintptr_t)0x1234;
        int rc = T_posix_memalign(&p, bad[i], 64);
        CHECKF(rc == EINVAL, "posix_memalign(align %zu) = %d, want EINVAL", bad[i], rc);
        if (rc == 0) T_free(p);
    }
    /* aligned_alloc: a non-power-of-two alignment is invalid */
    static const size_t bad_aa[] = {0, 3, 5, 24, 48, 100, 4095, 4097, 3u << 20};
    for (size_t i = 0; i < sizeof bad_aa / sizeof bad_aa[0]; i++) {
        errno = 0;
        void *p = T_aligned_alloc(hkt_launder_size(bad_aa[i]), 64);
        CHECKF(p == NULL && errno == EINVAL, "aligned_alloc(align %zu, 64) = %p errno %d, want NULL/EINVAL",
               bad_aa[i], p, errno);
        if (p) T_free(p);
    }
    /* a valid but impossible alignment: ENOMEM, not a crash */
    void *p = NULL;
    int rc = T_posix_memalign(&p, (size_t)1 << 62, 64);
    CHECKF(rc == ENOMEM, "posix_memalign(align 2^62) = %d, want ENOMEM", rc);
    if (rc == 0) T_free(p);
}

static void test_valloc_pvalloc(void) {
    size_t ps = hkt_page_size();
    static const size_t sizes[] = {1, 100, 4095, 4096, 4097, 10000, 65536, 1 << 20, (3 << 20) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *v = T_valloc(n);
        check_block("valloc", v, ps, n);
        T_free(v);
        void *pv = T_pvalloc(n);
        size_t rounded = (n + ps - 1) / ps * ps;
        check_block("pvalloc", pv, ps, rounded);
        T_free(pv);
    }
    /* pvalloc(0) gives one page in glibc; heapkit must give at least a usable pointer */
    void *z = T_pvalloc(0);
    if (z) {
        CHECK(((uintptr_t)z & (ps - 1)) == 0);
        T_free(z);
    }
}

int main(void) {
    hkt_begin(T_FAMILY "_align", 120);
    hkt_check_running_on_heapkit();
    test_posix_memalign();
    test_aligned_alloc();
    test_memalign();
    test_many_aligned();
    test_bad_alignments();
    test_valloc_pvalloc();
    return hkt_done();
}
