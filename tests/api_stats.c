/* api_stats.c — hk_stats_get / hk_stats_json / hk_stats_print(_fd) / hk_trim: counters move the
 * right way (live grows by a 10 MiB allocation and falls after freeing it, resident <= committed
 * <= reserved), the JSON is valid and snprintf-like, reports reach their fd, trim gives memory back. */
#define _GNU_SOURCE
#include "hkt.h"

#include <ctype.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static void check_order(const char *when, const hk_stats_t *s) {
    CHECKF(s->resident <= s->committed, "%s: resident %zu > committed %zu", when, s->resident, s->committed);
    CHECKF(s->committed <= s->reserved, "%s: committed %zu > reserved %zu", when, s->committed, s->reserved);
    CHECKF(s->huge_live <= s->live, "%s: huge_live %zu > live %zu", when, s->huge_live, s->live);
    CHECKF(s->live <= s->committed, "%s: live %zu > committed %zu", when, s->live, s->committed);
    CHECKF(s->threads >= 1, "%s: threads %zu, but this thread is allocating", when, s->threads);
}

static void test_live_moves(void) {
    hk_stats_t s0, s1, s2;
    void *warm = hk_malloc(32); /* make sure this thread's heap exists */
    hk_stats_get(&s0);
    check_order("start", &s0);

    /* one 10 MiB block */
    char *big = hk_malloc(10 * MiB);
    REQUIRE(big);
    memset(big, 1, 10 * MiB);
    hk_stats_get(&s1);
    check_order("after 10 MiB block", &s1);
    CHECKF(s1.live >= s0.live + 10 * MiB, "live %zu -> %zu after allocating 10 MiB", s0.live, s1.live);
    CHECKF(s1.resident >= 10 * MiB, "resident %zu with a touched 10 MiB block", s1.resident);
    CHECKF(s1.reserved >= s0.reserved, "reserved fell while allocating");
    hk_free(big);
    hk_stats_get(&s2);
    check_order("after freeing 10 MiB block", &s2);
    CHECKF(s2.live + 10 * MiB <= s1.live, "live %zu -> %zu after freeing 10 MiB", s1.live, s2.live);

    /* 10 MiB in small blocks */
    enum { N = 10 * 1024 };
    void **ptrs = hk_malloc(N * sizeof(void *));
    REQUIRE(ptrs);
    hk_stats_get(&s0);
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = hk_malloc(1024);
        REQUIRE(ptrs[i]);
        memset(ptrs[i], 2, 1024);
    }
    hk_stats_get(&s1);
    check_order("after 10 MiB of 1 KiB blocks", &s1);
    CHECKF(s1.live >= s0.live + 10 * MiB, "live %zu -> %zu after 10 MiB of small blocks", s0.live, s1.live);
    CHECKF(s1.resident >= s0.resident + 8 * MiB, "resident %zu -> %zu after touching 10 MiB", s0.resident,
           s1.resident);
    for (size_t i = 0; i < N; i++) hk_free(ptrs[i]);
    hk_stats_get(&s2);
    check_order("after freeing small blocks", &s2);
    CHECKF(s2.live + 10 * MiB <= s1.live, "live %zu -> %zu after freeing 10 MiB of small blocks", s1.live,
           s2.live);
    CHECKF(s2.live <= s0.live + 64 * 1024, "live %zu, was %zu before the small blocks", s2.live, s0.live);
    hk_free(ptrs);
    hk_free(warm);
}

/* A burst of small blocks, freed, then hk_trim: resident memory must fall. */
static void test_trim(void) {
    enum { N = 64 * 1024 };
    void **ptrs = hk_malloc(N * sizeof(void *));
    REQUIRE(ptrs);
    for (size_t i = 0; i < N; i++) {
        ptrs[i] = hk_malloc(1000);
        REQUIRE(ptrs[i]);
        memset(ptrs[i], 3, 1000);
    }
    hk_stats_t before, after;
    hk_stats_get(&before);
    for (size_t i = 0; i < N; i++) hk_free(ptrs[i]);
    hk_free(ptrs);
    int r = hk_trim();
    CHECKF(r == 0 || r == 1, "hk_trim() = %d", r);
    hk_stats_get(&after);
    check_order("after trim", &after);
    CHECKF(after.resident + 32 * MiB <= before.resident, "resident %zu -> %zu: trim after freeing ~64 MiB gave back < 32 MiB",
           before.resident, after.resident);
    CHECKF(after.committed + 32 * MiB <= before.committed, "committed %zu -> %zu after trim", before.committed,
           after.committed);
    /* nothing was freed since: a second trim has nothing to release */
    r = hk_trim();
    CHECKF(r == 0, "second hk_trim() in a row = %d, want 0", r);
    /* and the allocator works after trimming */
    void *p = hk_malloc(1000);
    CHECK(p != NULL);
    memset(p, 4, 1000);
    hk_free(p);

    /* huge blocks freed into the cache go back too */
    char *h = hk_malloc(64 * MiB);
    REQUIRE(h);
    memset(h, 5, 64 * MiB);
    hk_free(h);
    hk_stats_get(&before);
    hk_trim();
    hk_stats_get(&after);
    CHECKF(after.huge_cached == 0, "huge_cached %zu after hk_trim", after.huge_cached);
    CHECKF(after.resident + 32 * MiB <= before.resident || before.resident < 32 * MiB,
           "resident %zu -> %zu: trim kept a freed 64 MiB block", before.resident, after.resident);
}

/* Braces and brackets outside strings must balance; also a full grammar check. */
static void test_json(void) {
    void *keep = hk_malloc(12345); /* something live so the report has content */
    size_t need = hk_stats_json(NULL, 0);
    CHECKF(need > 10, "hk_stats_json(NULL, 0) = %zu", need);
    size_t cap = need + 4096; /* the report may grow slightly between calls: leave room */
    char *buf = malloc(cap + 64);
    REQUIRE(buf);
    memset(buf, '#', cap + 64);
    size_t n = hk_stats_json(buf, cap);
    CHECKF(n < cap, "hk_stats_json needs %zu with a %zu buffer", n, cap);
    CHECKF(strlen(buf) == n, "hk_stats_json returned %zu but wrote %zu chars", n, strlen(buf));
    CHECK(buf[cap + 10] == '#');
    const char *err = hkt_json_error(buf);
    CHECKF(err == NULL, "hk_stats_json output is not valid JSON near offset %td: \"%.40s\"", err ? err - buf : 0,
           err ? err : "");
    static const char *keys[] = {"\"reserved\"", "\"committed\"", "\"resident\"", "\"live\""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECKF(strstr(buf, keys[i]) != NULL, "hk_stats_json output lacks %s", keys[i]);
    int depth = 0, min_depth = 0;
    bool in_str = false;
    for (const char *c = buf; *c; c++) {
        if (in_str) {
            if (*c == '\\' && c[1]) c++;
            else if (*c == '"') in_str = false;
            continue;
        }
        if (*c == '"') in_str = true;
        else if (*c == '{' || *c == '[') depth++;
        else if (*c == '}' || *c == ']') depth--;
        if (depth < min_depth) min_depth = depth;
    }
    CHECKF(depth == 0 && min_depth == 0 && !in_str, "unbalanced JSON: depth %d", depth);
    CHECKF(buf[0] == '{', "JSON does not start with an object: '%c'", buf[0]);

    /* small caps: snprintf semantics, exact length, no overrun */
    char full[1 << 16];
    size_t fn = hk_stats_json(full, sizeof full);
    REQUIRE(fn < sizeof full);
    static const size_t caps[] = {1, 2, 10, 50};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char small[64];
        memset(small, '#', sizeof small);
        size_t r = hk_stats_json(small, caps[i]);
        CHECKF(r >= fn - fn / 4 && r > caps[i], "hk_stats_json(buf, %zu) = %zu, full length %zu", caps[i], r, fn);
        CHECKF(small[caps[i] - 1] == '\0', "hk_stats_json(buf, %zu) did not NUL-terminate", caps[i]);
        CHECKF(strlen(small) == caps[i] - 1, "hk_stats_json(buf, %zu) wrote %zu chars", caps[i], strlen(small));
        CHECKF(small[caps[i]] == '#', "hk_stats_json(buf, %zu) wrote past cap", caps[i]);
        CHECKF(strncmp(small, full, caps[i] - 1) == 0, "truncated JSON is not a prefix of the full text");
    }
    /* cap 0 writes nothing */
    char none[4] = "###";
    CHECK(hk_stats_json(none, 0) > 0);
    CHECK(none[0] == '#');
    free(buf);
    hk_free(keep);
}

static void print_to_stderr(void *arg) {
    (void)arg;
    hk_stats_print();
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

typedef struct {
    int fd;
    char *buf;
    size_t cap, n;
} pipe_reader_t;

static void *read_pipe(void *arg) {
    pipe_reader_t *r = arg;
    for (;;) {
        char chunk[4096];
        ssize_t k = read(r->fd, chunk, sizeof chunk);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        size_t room = r->cap - 1 - r->n, take = (size_t)k < room ? (size_t)k : room;
        memcpy(r->buf + r->n, chunk, take);
        r->n += take;
    }
    r->buf[r->n] = '\0';
    return NULL;
}

static void test_print(void) {
    void *keep = hk_malloc(777);
    static char out[1 << 18];
    /* hk_stats_print_fd into a pipe, drained by a reader thread (the report may exceed the pipe buffer) */
    int p[2];
    REQUIRE(pipe(p) == 0);
    pipe_reader_t r = {p[0], out, sizeof out, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, read_pipe, &r) == 0);
    hk_stats_print_fd(p[1]);
    close(p[1]);
    pthread_join(t, NULL);
    close(p[0]);
    CHECKF(r.n > 20, "hk_stats_print_fd wrote %zu bytes to a pipe", r.n);
    CHECKF(contains_ci(out, "reserved"), "hk_stats_print_fd output lacks \"reserved\": %.200s", out);
    CHECKF(contains_ci(out, "resident"), "hk_stats_print_fd output lacks \"resident\"");
    /* hk_stats_print goes to fd 2 */
    size_t n = hkt_capture_fd(2, print_to_stderr, NULL, out, sizeof out);
    CHECKF(n > 20, "hk_stats_print wrote %zu bytes to stderr", n);
    CHECKF(contains_ci(out, "reserved"), "hk_stats_print output lacks \"reserved\"");
    /* a bad fd is an error to ignore, not a crash */
    hk_stats_print_fd(-1);
    hk_free(keep);
}

/* Stats from a thread that never allocated, and from many live threads' blocks. */
static void *stats_in_thread(void *arg) {
    hk_stats_t s;
    hk_stats_get(&s);
    check_order("in a new thread", &s);
    *(size_t *)arg = s.live;
    return NULL;
}

static void test_thread_view(void) {
    size_t seen = 0;
    char *p = hk_malloc(3 * MiB);
    REQUIRE(p);
    pthread_t t;
    pthread_create(&t, NULL, stats_in_thread, &seen);
    pthread_join(t, NULL);
    CHECKF(seen >= 3 * MiB, "another thread sees live %zu with 3 MiB allocated", seen);
    hk_free(p);
}

int main(void) {
    hkt_begin("api_stats", 120);
    test_live_moves();
    test_trim();
    test_json();
    test_print();
    test_thread_view();
    return hkt_done();
}
