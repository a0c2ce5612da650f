/* arena_basic.c — hk_arena in one thread: allocations distinct, aligned and intact across many
 * chunks; calloc zeroes and checks overflow; aligned_alloc; HK_ARENA_ALIGN_8 packs to 8 bytes; strdup/strndup/printf (formats, and
 * output longer than a chunk); large allocations in blocks of their own; reset reuses the same
 * memory and keeps chunks up to `keep`; cleanups in reverse order, interleaved with child arenas;
 * nested arenas destroyed with their parent, by reset and by rewind; marks and rewind; a locked
 * arena; hk_arena_stats and the arenas in the statistics report; an arena grown to 32 MiB gives
 * its memory back to the kernel when destroyed. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <stdarg.h>

typedef struct span_s {
    uint8_t *p;
    size_t n;
} span_t;

/* hk_arena_alloc, checked; callers that only need the allocation to happen may drop the result. */
static void *take(hk_arena_t *a, size_t size) {
    void *p = hk_arena_alloc(a, size);
    CHECKF(p != NULL, "hk_arena_alloc(%zu) failed", size);
    return p;
}

static int span_cmp(const void *a, const void *b) {
    const span_t *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* Mixed sizes (some large): aligned, non-overlapping, contents intact. */
static void test_alloc(void) {
    hk_arena_t *a = hk_arena_create("alloc", NULL, 0);
    REQUIRE(a != NULL);
    size_t n = hkt_scaled(20000);
    span_t *spans = hk_malloc(n * sizeof *spans);
    REQUIRE(spans != NULL);
    uint64_t seed = 99;
    size_t large = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size = (size_t)(hkt_rand(&seed) % 300);
        if (i % 997 == 0) size = (size_t)300 << 10; /* over a quarter of the biggest chunk: a block of its own */
        if (size > 4096) large++;
        spans[i].p = take(a, size);
        spans[i].n = size;
        REQUIRE(spans[i].p != NULL);
        CHECKF(((uintptr_t)spans[i].p & 15) == 0, "allocation %zu at %p not 16-byte aligned", i, (void *)spans[i].p);
        hkt_fill(spans[i].p, size, (uint32_t)i);
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (hkt_verify(spans[i].p, spans[i].n, (uint32_t)i) != (size_t)-1) bad++;
    CHECKF(bad == 0, "%zu of %zu allocations overwritten", bad, n);
    qsort(spans, n, sizeof *spans, span_cmp);
    for (size_t i = 1; i < n; i++)
        CHECKF(spans[i - 1].p + spans[i - 1].n <= spans[i].p || spans[i - 1].n == 0,
               "allocations overlap: %p+%zu and %p", (void *)spans[i - 1].p, spans[i - 1].n, (void *)spans[i].p);
    hk_arena_stats_t st;
    hk_arena_stats(a, &st);
    /* a big request that fits in the current chunk's room goes there; the others (and, while the
     * chunks are small, any request over a quarter of the next chunk) get blocks of their own */
    CHECKF(st.large >= 1 && st.large_bytes >= ((size_t)300 << 10), "%zu large blocks (%zu bytes) for %zu big requests",
           st.large, st.large_bytes, large);
    CHECKF(st.chunks >= 2 && st.chunk_bytes > 0 && st.used > 0 && st.used <= st.chunk_bytes, "chunks %zu bytes %zu used %zu",
           st.chunks, st.chunk_bytes, st.used);
    /* chunks grow geometrically from 1 KiB to 1 MiB: few of them for ~3 MiB */
    CHECKF(st.chunks <= 24, "%zu chunks", st.chunks);
    CHECK(strcmp(st.name, "alloc") == 0);
    hk_free(spans);
    hk_arena_destroy(a);
    hk_arena_destroy(NULL);
}

/* A large request does not end the current chunk: the next small one continues right after. */
static void test_large(void) {
    hk_arena_t *a = hk_arena_create("large", NULL, 0);
    REQUIRE(a != NULL);
    uint8_t *s1 = take(a, 32);
    uint8_t *big = take(a, (size_t)64 << 10);
    uint8_t *s2 = take(a, 32);
    hk_arena_stats_t st;
    hk_arena_stats(a, &st);
    CHECKF(st.large == 1 && st.chunks == 1, "64 KiB in a fresh arena: %zu large blocks, %zu chunks", st.large,
           st.chunks);
    CHECKF(s2 == s1 + 32, "the small allocation after the large one is at %p, want %p", (void *)s2, (void *)(s1 + 32));
    hkt_fill(big, (size_t)64 << 10, 3);
    CHECK(hkt_verify(big, (size_t)64 << 10, 3) == (size_t)-1);
    uint8_t *huge = take(a, (size_t)8 << 20);
    memset(huge, 1, (size_t)8 << 20);
    hk_arena_stats(a, &st);
    CHECKF(st.large == 2 && st.large_bytes >= ((size_t)8 << 20) + ((size_t)64 << 10), "large %zu (%zu bytes)", st.large,
           st.large_bytes);
    hk_arena_reset(a);
    hk_arena_stats(a, &st);
    CHECK(st.large == 0 && st.large_bytes == 0);
    hk_arena_destroy(a);
}

static void test_calloc_aligned(void) {
    hk_arena_t *a = hk_arena_create("calloc", NULL, 0);
    REQUIRE(a != NULL);
    for (int round = 0; round < 2; round++) { /* the second round reuses dirty memory */
        for (int i = 0; i < 100; i++) {
            uint8_t *p = hk_arena_calloc(a, (size_t)i + 1, 24);
            REQUIRE(p != NULL);
            CHECKF(hkt_all_zero(p, (size_t)(i + 1) * 24), "calloc(%d, 24) not zeroed", i + 1);
            memset(p, 0xab, (size_t)(i + 1) * 24);
        }
        hk_arena_reset(a);
    }
    errno = 0;
    CHECK(hk_arena_calloc(a, hkt_launder_size(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(hk_arena_alloc(a, hkt_launder_size(SIZE_MAX - 8)) == NULL && errno == ENOMEM);
    static const size_t aligns[] = {1, 2, 8, 16, 32, 64, 256, 4096, 8192, 65536};
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        for (int i = 0; i < 5; i++) {
            take(a, 3); /* misalign the bump pointer */
            uint8_t *p = hk_arena_aligned_alloc(a, aligns[k], 40);
            REQUIRE(p != NULL);
            size_t want = aligns[k] < 16 ? 16 : aligns[k];
            CHECKF(((uintptr_t)p & (want - 1)) == 0, "aligned_alloc(%zu) = %p", aligns[k], (void *)p);
            memset(p, 1, 40);
        }
    }
    errno = 0;
    CHECK(hk_arena_aligned_alloc(a, 24, 8) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(hk_arena_aligned_alloc(a, 0, 8) == NULL && errno == EINVAL);
    hk_arena_destroy(a);
}

/* HK_ARENA_ALIGN_8: allocations aligned to 8 and packed (24-byte ones 24 bytes apart, where a
 * default arena puts them 32 apart), aligned_alloc still as asked; other flags still refused. */
static void test_align_8(void) {
    hk_arena_t *a = hk_arena_create("align-8", NULL, HK_ARENA_ALIGN_8);
    hk_arena_t *d = hk_arena_create_ex("align-16", NULL, 0, 0, 0);
    REQUIRE(a != NULL && d != NULL);
    take(a, 3);
    take(d, 3);
    uint8_t *prev = take(a, 24), *dprev = take(d, 24);
    bool packed = true, padded = true;
    for (int i = 0; i < 100; i++) {
        uint8_t *p = take(a, 24), *q = take(d, 24);
        CHECKF(((uintptr_t)p & 7) == 0, "HK_ARENA_ALIGN_8: %p", (void *)p);
        CHECKF(((uintptr_t)q & 15) == 0, "default arena: %p", (void *)q);
        packed &= p == prev + 24;
        padded &= q == dprev + 32;
        memset(p, 0x5a, 24);
        prev = p;
        dprev = q;
    }
    /* each allocation a heap block of its own under heap checking: no neighbours to compare */
    const char *check = getenv("HEAPKIT_CHECK");
    if (check == NULL || strcmp(check, "0") == 0) {
        CHECK(packed);
        CHECK(padded);
    }
    uint8_t *z = hk_arena_calloc(a, 3, 8);
    REQUIRE(z != NULL);
    CHECK(((uintptr_t)z & 7) == 0 && hkt_all_zero(z, 24));
    take(a, 3);
    uint8_t *w = hk_arena_aligned_alloc(a, 16, 40);
    CHECK(w != NULL && ((uintptr_t)w & 15) == 0);
    take(a, 3);
    w = hk_arena_aligned_alloc(a, 1, 40);
    CHECK(w != NULL && ((uintptr_t)w & 7) == 0);
    hk_arena_destroy(a);
    hk_arena_destroy(d);
    errno = 0;
    CHECK(hk_arena_create("bad-flags", NULL, HK_ARENA_ALIGN_8 | 0x4u) == NULL && errno == EINVAL);
}

static char *vfmt(hk_arena_t *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = hk_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return s;
}

static void test_strings(void) {
    hk_arena_t *a = hk_arena_create("strings", NULL, 0);
    REQUIRE(a != NULL);
    char *s = hk_arena_strdup(a, "hello, arena");
    CHECK(s && strcmp(s, "hello, arena") == 0);
    char *t = hk_arena_strndup(a, "abcdefgh", 3);
    CHECK(t && strcmp(t, "abc") == 0);
    char *u = hk_arena_strndup(a, "xy", 10);
    CHECK(u && strcmp(u, "xy") == 0);
    char *e = hk_arena_strdup(a, "");
    CHECK(e && e[0] == '\0');
    char *f = hk_arena_printf(a, "%s=%d [%5s] [%-4s] %05d %x %zu %lld %u %c%%", "key", -42, "ab", "cd", 42, 255,
                              (size_t)123456789, -9000000000ll, 7u, 'z');
    CHECKF(f && strcmp(f, "key=-42 [   ab] [cd  ] 00042 ff 123456789 -9000000000 7 z%") == 0, "printf gave '%s'",
           f ? f : "(null)");
    /* the same text as the C library's printf, conversion by conversion */
    static const struct {
        const char *fmt;
        long long v;
    } nums[] = {{"%05d", -42}, {"%-6d|", 17}, {"%6d|", -3}, {"%lld", -9223372036854775807ll}, {"%llu", 42},
                {"%08llx", 0xbeefll}, {"%-8llx|", 0xabcll}, {"[%3lld]", 12345}, {"%i", 0}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char want[64];
        const char *fmt = nums[i].fmt;
        bool is_long = strstr(fmt, "ll") != NULL;
        if (is_long) snprintf(want, sizeof want, fmt, nums[i].v);
        else snprintf(want, sizeof want, fmt, (int)nums[i].v);
        char *got = is_long ? vfmt(a, fmt, nums[i].v) : vfmt(a, fmt, (int)nums[i].v);
        CHECKF(got && strcmp(got, want) == 0, "printf(\"%s\") gave '%s', the C library '%s'", fmt, got ? got : "(null)",
               want);
    }
    char *q = vfmt(a, "100%% %q %s", "done");
    CHECKF(q && strcmp(q, "100% %q done") == 0, "an unknown conversion gave '%s'", q ? q : "(null)");
    char *g = vfmt(a, "%p", (void *)0x1234);
    CHECKF(g && strcmp(g, "0x1234") == 0, "vprintf %%p gave '%s'", g ? g : "(null)");
    /* many strings, checked after: packed without alignment, none overwritten */
    enum { N = 3000 };
    char **strs = hk_malloc(N * sizeof *strs);
    REQUIRE(strs != NULL);
    for (int i = 0; i < N; i++) {
        strs[i] = i % 2 ? hk_arena_printf(a, "item-%d-%s", i, i % 3 ? "odd" : "three") : hk_arena_strdup(a, "even");
        REQUIRE(strs[i] != NULL);
    }
    for (int i = 0; i < N; i++) {
        char want[64];
        if (i % 2) snprintf(want, sizeof want, "item-%d-%s", i, i % 3 ? "odd" : "three");
        else snprintf(want, sizeof want, "even");
        CHECKF(strcmp(strs[i], want) == 0, "string %d is '%s', want '%s'", i, strs[i], want);
    }
    /* output bigger than a chunk (and than the first attempt's room) */
    size_t big = (size_t)200 << 10;
    char *src = hk_malloc(big + 1);
    REQUIRE(src != NULL);
    for (size_t i = 0; i < big; i++) src[i] = (char)('a' + i % 26);
    src[big] = '\0';
    char *h = hk_arena_printf(a, "<%s>", src);
    CHECK(h && strlen(h) == big + 2 && h[0] == '<' && h[big + 1] == '>' && memcmp(h + 1, src, big) == 0);
    char *d = hk_arena_strdup(a, src);
    CHECK(d && strcmp(d, src) == 0);
    CHECKF(strcmp(s, "hello, arena") == 0 && strcmp(f, "key=-42 [   ab] [cd  ] 00042 ff 123456789 -9000000000 7 z%") == 0,
           "early strings overwritten");
    hk_free(src);
    hk_free(strs);
    hk_arena_destroy(a);
}

/* After reset the arena hands out the same memory again, without new chunks. */
static void test_reset_reuse(void) {
    hk_arena_t *a = hk_arena_create_ex("reset", NULL, 0, 0, (size_t)1 << 20);
    REQUIRE(a != NULL);
    void *first = take(a, 64);
    for (int i = 0; i < 2000; i++) take(a, 100);
    take(a, (size_t)1 << 20); /* large */
    hk_arena_stats_t before, after, again;
    hk_arena_stats(a, &before);
    CHECK(before.large == 1 && before.chunks > 1);
    hk_arena_reset(a);
    hk_arena_stats(a, &after);
    CHECKF(after.used == 0 && after.large == 0 && after.large_bytes == 0, "after reset: used %zu, %zu large blocks",
           after.used, after.large);
    CHECKF(after.chunks == before.chunks, "reset kept %zu of %zu chunks (all fit in keep = 1 MiB)", after.chunks,
           before.chunks);
    void *p = take(a, 64);
    CHECKF(p == first, "first allocation after reset %p, before %p", p, first);
    for (int i = 0; i < 2000; i++) take(a, 100);
    hk_arena_stats(a, &again);
    CHECKF(again.chunks == before.chunks && again.chunk_bytes == before.chunk_bytes,
           "the same work after reset took %zu chunks (%zu bytes), the first time %zu (%zu bytes)", again.chunks,
           again.chunk_bytes, before.chunks, before.chunk_bytes);
    hk_arena_destroy(a);

    /* by default only the first chunk (allocated with the arena) survives a reset, and the same
     * work again grows the same way, not from where the last growth stopped */
    hk_arena_t *b = hk_arena_create_ex("keep-first", NULL, 0, 1024, 0);
    REQUIRE(b != NULL);
    for (int round = 0; round < 3; round++) {
        void *start = take(b, 64);
        for (int i = 0; i < 1000; i++) take(b, 64);
        hk_arena_stats(b, &before);
        hk_arena_reset(b);
        hk_arena_stats(b, &after);
        CHECKF(before.chunks > 1 && after.chunks == 1 && after.chunk_bytes == 1024,
               "round %d: %zu chunks -> %zu (%zu bytes)", round, before.chunks, after.chunks, after.chunk_bytes);
        if (round == 0) again = before;
        CHECKF(before.chunk_bytes == again.chunk_bytes, "round %d grew to %zu bytes, the first to %zu", round,
               before.chunk_bytes, again.chunk_bytes);
        CHECKF(hk_arena_alloc(b, 64) == start, "round %d: the first chunk is not reused", round);
        hk_arena_reset(b);
    }
    hk_arena_destroy(b);
    hk_arena_t *c = hk_arena_create("default", NULL, 0);
    for (int i = 0; i < 1000; i++) take(c, 64);
    hk_arena_reset(c);
    hk_arena_stats(c, &after);
    CHECKF(after.chunks == 1 && after.chunk_bytes == 4096, "default arena after reset: %zu chunks, %zu bytes",
           after.chunks, after.chunk_bytes);
    hk_arena_destroy(c);
}

/* ------------------------------------------------------------- cleanups and children */

typedef struct log_s {
    char text[256];
} log_t;

static log_t g_log;

static void log_event(void *arg) {
    const char *what = arg;
    size_t n = strlen(g_log.text);
    snprintf(g_log.text + n, sizeof g_log.text - n, "%s%s", n ? " " : "", what);
}

static void test_cleanup_order(void) {
    g_log.text[0] = '\0';
    hk_arena_t *a = hk_arena_create("cleanups", NULL, 0);
    REQUIRE(a != NULL);
    CHECK(hk_arena_on_cleanup(a, log_event, "1") == 0);
    CHECK(hk_arena_on_cleanup(a, log_event, "2") == 0);
    hk_arena_t *child = hk_arena_create("child", a, 0);
    REQUIRE(child != NULL);
    CHECK(hk_arena_on_cleanup(child, log_event, "child-1") == 0);
    hk_arena_t *grandchild = hk_arena_create("grandchild", child, 0);
    REQUIRE(grandchild != NULL);
    CHECK(hk_arena_on_cleanup(grandchild, log_event, "grandchild") == 0);
    CHECK(hk_arena_on_cleanup(child, log_event, "child-2") == 0);
    CHECK(hk_arena_on_cleanup(a, log_event, "3") == 0);
    errno = 0;
    CHECK(hk_arena_on_cleanup(a, NULL, NULL) == -1 && errno == EINVAL);
    hk_arena_stats_t st;
    hk_arena_stats(a, &st);
    CHECK(st.children == 1);
    hk_arena_destroy(a);
    /* reverse order of creation; a child's cleanups run where the child was created */
    CHECKF(strcmp(g_log.text, "3 child-2 grandchild child-1 2 1") == 0, "cleanup order: %s", g_log.text);

    /* reset runs them too, and the arena stays usable; destroying a child takes it off its parent */
    g_log.text[0] = '\0';
    hk_arena_t *p = hk_arena_create("parent", NULL, 0);
    hk_arena_t *c1 = hk_arena_create("c1", p, 0);
    hk_arena_t *c2 = hk_arena_create("c2", p, 0);
    hk_arena_t *c3 = hk_arena_create("c3", p, 0);
    REQUIRE(p && c1 && c2 && c3);
    hk_arena_on_cleanup(c1, log_event, "c1");
    hk_arena_on_cleanup(c2, log_event, "c2");
    hk_arena_on_cleanup(c3, log_event, "c3");
    hk_arena_on_cleanup(p, log_event, "p");
    hk_arena_destroy(c2);
    CHECKF(strcmp(g_log.text, "c2") == 0, "destroying c2 ran: %s", g_log.text);
    hk_arena_stats(p, &st);
    CHECK(st.children == 2);
    hk_arena_reset(p);
    CHECKF(strcmp(g_log.text, "c2 p c3 c1") == 0, "reset ran: %s", g_log.text);
    hk_arena_stats(p, &st);
    CHECK(st.children == 0);
    char *s = hk_arena_strdup(p, "after reset");
    CHECK(s && strcmp(s, "after reset") == 0);
    hk_arena_on_cleanup(p, log_event, "p2");
    hk_arena_destroy(p);
    CHECKF(strcmp(g_log.text, "c2 p c3 c1 p2") == 0, "destroy ran: %s", g_log.text);
}

/* ------------------------------------------------------------- marks */

static void test_rewind(void) {
    g_log.text[0] = '\0';
    hk_arena_t *a = hk_arena_create("rewind", NULL, 0);
    REQUIRE(a != NULL);
    uint8_t *keep = take(a, 100);
    hkt_fill(keep, 100, 1);
    hk_arena_on_cleanup(a, log_event, "before");
    hk_arena_mark_t m1 = hk_arena_mark(a);
    uint8_t *after_m1 = take(a, 48);
    for (int i = 0; i < 500; i++) hkt_fill(take(a, 200), 200, 5); /* into later chunks */
    hk_arena_on_cleanup(a, log_event, "x");
    hk_arena_t *child = hk_arena_create("since-m1", a, 0);
    hk_arena_on_cleanup(child, log_event, "child");
    take(a, (size_t)300 << 10); /* large */
    hk_arena_mark_t m2 = hk_arena_mark(a);
    hk_arena_on_cleanup(a, log_event, "y");
    take(a, 64);
    hk_arena_stats_t st;
    hk_arena_stats(a, &st);
    CHECK(st.large == 1 && st.children == 1);
    size_t used_m2_plus = st.used;

    hk_arena_rewind(a, m2);
    CHECKF(strcmp(g_log.text, "y") == 0, "rewind to m2 ran: %s", g_log.text);
    hk_arena_stats(a, &st);
    CHECKF(st.large == 1 && st.children == 1 && st.used < used_m2_plus, "after rewind to m2: large %zu children %zu",
           st.large, st.children);

    hk_arena_rewind(a, m1);
    CHECKF(strcmp(g_log.text, "y child x") == 0, "rewind to m1 ran: %s", g_log.text);
    hk_arena_stats(a, &st);
    CHECKF(st.large == 0 && st.children == 0, "after rewind to m1: large %zu children %zu", st.large, st.children);
    uint8_t *again = take(a, 48);
    CHECKF(again == after_m1, "after rewind the next allocation is %p, it was %p", (void *)again, (void *)after_m1);
    CHECKF(hkt_verify(keep, 100, 1) == (size_t)-1, "memory from before the mark was disturbed");
    /* rewinding to the same mark twice is fine; rewinding to a fresh mark of the current position too */
    hk_arena_rewind(a, m1);
    hk_arena_mark_t m3 = hk_arena_mark(a);
    hk_arena_rewind(a, m3);
    hk_arena_destroy(a);
    CHECKF(strcmp(g_log.text, "y child x before") == 0, "destroy ran: %s", g_log.text);
}

static void test_locked_and_owner(void) {
    hk_arena_t *a = hk_arena_create("locked", NULL, HK_ARENA_LOCKED);
    REQUIRE(a != NULL);
    hk_arena_t *child = hk_arena_create("locked-child", a, HK_ARENA_LOCKED);
    REQUIRE(child != NULL);
    char *s = hk_arena_printf(a, "%d-%s", 7, "seven");
    CHECK(s && strcmp(s, "7-seven") == 0);
    uint8_t *p = take(child, 1000);
    REQUIRE(p != NULL);
    memset(p, 3, 1000);
    hk_arena_mark_t m = hk_arena_mark(a);
    take(a, 10);
    hk_arena_rewind(a, m);
    hk_arena_reset(a); /* destroys the child */
    hk_arena_stats_t st;
    hk_arena_stats(a, &st);
    CHECK(st.children == 0 && st.used == 0);
    hk_arena_set_owner(a);
    hk_arena_destroy(a);
    errno = 0;
    CHECK(hk_arena_create("bad-flags", NULL, 0x80u) == NULL && errno == EINVAL);
}

static void print_stats(void *arg) {
    (void)arg;
    hk_stats_print();
}

static void test_stats_report(void) {
    hk_arena_t *reqs[3];
    for (int i = 0; i < 3; i++) {
        reqs[i] = hk_arena_create("request", NULL, 0);
        REQUIRE(reqs[i] != NULL);
        for (int j = 0; j < 10; j++) take(reqs[i], 100);
    }
    hk_arena_t *other = hk_arena_create("config", NULL, HK_ARENA_LOCKED);
    take(other, (size_t)64 << 10); /* large */
    static char json[256 * 1024];
    size_t n = hk_stats_json(json, sizeof json);
    REQUIRE(n < sizeof json);
    const char *err = hkt_json_error(json);
    CHECKF(err == NULL, "invalid JSON near: %.60s", err ? err : "");
    const char *req = strstr(json, "{\"name\":\"request\",\"count\":3,\"used\":");
    CHECKF(req != NULL, "three 'request' arenas not on one line: %.300s", strstr(json, "\"arenas\"") ? strstr(json, "\"arenas\"") : json);
    if (req) {
        size_t used = 0;
        sscanf(req + strlen("{\"name\":\"request\",\"count\":3,\"used\":"), "%zu", &used);
        CHECKF(used >= 3 * 10 * 100, "the request arenas report %zu bytes used", used);
    }
    CHECKF(strstr(json, "{\"name\":\"config\",\"count\":1,") != NULL && strstr(json, "\"large\":1,") != NULL,
           "the config arena with its large block is missing");
    static char text[64 * 1024];
    hkt_capture_fd(2, print_stats, NULL, text, sizeof text);
    CHECKF(strstr(text, "arenas") && strstr(text, "request") && strstr(text, "config"),
           "the text report does not list the arenas:\n%s", text);
    for (int i = 0; i < 3; i++) hk_arena_destroy(reqs[i]);
    hk_arena_destroy(other);
    hk_stats_json(json, sizeof json);
    CHECKF(strstr(json, "\"request\"") == NULL, "destroyed arenas are still listed");
}

/* An arena that grew to 32 MiB, destroyed, leaves at most its small cache committed: its big
 * chunks are mappings of their own, unmapped (they would otherwise wait in the allocator). */
static void test_grown_destroyed(void) {
    hk_stats_t before, grown, after;
    hk_stats_get(&before);
    hk_arena_t *a = hk_arena_create("grown", NULL, 0);
    REQUIRE(a != NULL);
    for (size_t used = 0; used < ((size_t)32 << 20); used += 200) memset(take(a, 200), 0x5a, 200);
    hk_stats_get(&grown);
    hk_arena_destroy(a);
    hk_stats_get(&after);
    CHECKF(grown.committed >= before.committed + ((size_t)16 << 20), "grown: %zu bytes committed, %zu before",
           grown.committed, before.committed);
    CHECKF(after.committed <= before.committed + ((size_t)4 << 20),
           "destroyed: %zu bytes committed, %zu before the arena grew to 32 MiB", after.committed, before.committed);
}

int main(void) {
    hkt_begin("arena_basic", 300);
    test_alloc();
    test_large();
    test_calloc_aligned();
    test_align_8();
    test_strings();
    test_reset_reuse();
    test_cleanup_order();
    test_rewind();
    test_locked_and_owner();
    test_stats_report();
    test_grown_destroyed();
    return hkt_done();
}
