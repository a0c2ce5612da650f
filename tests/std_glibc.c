/* std_glibc.c — the glibc extras and libc-internal allocations under heapkit: mallinfo2,
 * malloc_trim (RSS must fall), malloc_stats, malloc_info, and memory that libc itself allocates
 * (strdup, asprintf, getline, open_memstream, realpath, scandir...) freed with free(). */
#define _GNU_SOURCE
#include "hkt.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, res = 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
    return (size_t)res * hkt_page_size();
}

static void test_mallinfo2(void) {
    enum { N = 10 * 1024 };
    void **p = malloc(N * sizeof(void *));
    REQUIRE(p);
    struct mallinfo2 a = mallinfo2();
    for (size_t i = 0; i < N; i++) {
        p[i] = malloc(1024);
        REQUIRE(p[i]);
        memset(p[i], 1, 1024);
    }
    struct mallinfo2 b = mallinfo2();
    CHECKF(b.uordblks >= a.uordblks + 9 * MiB, "mallinfo2().uordblks %zu -> %zu after allocating 10 MiB",
           a.uordblks, b.uordblks);
    for (size_t i = 0; i < N; i++) free(p[i]);
    struct mallinfo2 c = mallinfo2();
    CHECKF(c.uordblks + 9 * MiB <= b.uordblks, "mallinfo2().uordblks %zu -> %zu after freeing 10 MiB", b.uordblks,
           c.uordblks);
    free(p);
}

static void test_malloc_trim(void) {
    enum { N = 64 * 1024 };
    void **p = malloc(N * sizeof(void *));
    REQUIRE(p);
    for (size_t i = 0; i < N; i++) {
        p[i] = malloc(1000);
        REQUIRE(p[i]);
        memset(p[i], 2, 1000);
    }
    size_t before = rss_bytes();
    for (size_t i = 0; i < N; i++) free(p[i]);
    free(p);
    int r = malloc_trim(0);
    CHECKF(r == 0 || r == 1, "malloc_trim(0) = %d", r);
    size_t after = rss_bytes();
    hkt_note("RSS %zu MiB with 64 MiB of blocks, %zu MiB after free + malloc_trim", before / MiB, after / MiB);
    CHECKF(after + 32 * MiB <= before, "RSS %zu -> %zu: malloc_trim after freeing ~64 MiB gave back < 32 MiB",
           before, after);
    r = malloc_trim(0); /* glibc may say 1 again here: it re-advises pages it already gave back */
    CHECKF(r == 0 || r == 1, "a second malloc_trim(0) = %d", r);
    r = malloc_trim(1 << 20); /* a pad argument is accepted */
    CHECKF(r == 0 || r == 1, "malloc_trim(1 MiB) = %d", r);
    /* still works */
    char *q = malloc(5000);
    CHECK(q != NULL);
    memset(q, 3, 5000);
    free(q);
}

static void call_malloc_stats(void *arg) {
    (void)arg;
    malloc_stats();
}

static void test_malloc_stats_info(void) {
    static char out[1 << 16];
    void *keep = malloc(4321);
    size_t n = hkt_capture_fd(2, call_malloc_stats, NULL, out, sizeof out);
    CHECKF(n > 0, "malloc_stats() wrote nothing to stderr");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    REQUIRE(f);
    int rc = malloc_info(0, f);
    fclose(f);
    CHECKF(rc == 0, "malloc_info(0, f) = %d", rc);
    CHECKF(buf && len > 10, "malloc_info wrote %zu bytes", len);
    if (buf) {
        const char *s = buf;
        while (*s == ' ' || *s == '\n') s++;
        CHECKF(strncmp(s, "<malloc", 7) == 0 || strncmp(s, "<?xml", 5) == 0,
               "malloc_info output does not start like XML: %.40s", s);
        CHECKF(strstr(buf, "</malloc>") != NULL || strstr(buf, "/>") != NULL, "malloc_info XML not closed");
    }
    free(buf);
    /* options != 0 is invalid: glibc returns EINVAL, its manual says -1 with errno EINVAL */
    f = fopen("/dev/null", "w");
    REQUIRE(f);
    errno = 0;
    rc = malloc_info(1, f);
    CHECKF(rc == EINVAL || (rc == -1 && errno == EINVAL), "malloc_info(1, f) = %d errno %d, want EINVAL", rc,
           errno);
    fclose(f);
    free(keep);
}

static int name_filter(const struct dirent *d) {
    return d->d_name[0] != '.';
}

static void test_libc_allocations(void) {
    const hkt_heapkit_t *hk = hkt_heapkit();
    char *s = strdup("hello heapkit");
    REQUIRE(s);
    if (hk->present) CHECK(hk->owns(s));
    CHECK(strcmp(s, "hello heapkit") == 0);
    free(s);
    s = strndup("abcdefghij", 4);
    REQUIRE(s);
    CHECK(strcmp(s, "abcd") == 0);
    free(s);
    char *a = NULL;
    int n = asprintf(&a, "%d-%s-%0100d", 42, "x", 7);
    CHECK(n == 105 && a && strncmp(a, "42-x-000", 8) == 0);
    free(a);

    /* getline grows its buffer with realloc */
    char *mem = NULL;
    size_t memlen = 0;
    FILE *w = open_memstream(&mem, &memlen);
    REQUIRE(w);
    for (int i = 0; i < 2000; i++) fprintf(w, "line %d %0*d\n", i, i % 300, i);
    fclose(w);
    FILE *r = fmemopen(mem, memlen, "r");
    REQUIRE(r);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, r) > 0) {
        int num = -1;
        if (sscanf(line, "line %d", &num) != 1 || num != lines) break;
        lines++;
    }
    CHECKF(lines == 2000, "read back %d of 2000 lines", lines);
    free(line);
    fclose(r);
    free(mem);

    char *rp = realpath("/proc/self", NULL);
    CHECK(rp != NULL);
    free(rp);
    char *cwd = getcwd(NULL, 0);
    CHECK(cwd != NULL);
    free(cwd);
    struct dirent **list = NULL;
    int cnt = scandir("/proc/self", &list, name_filter, alphasort);
    CHECK(cnt > 5);
    for (int i = 0; i < cnt; i++) free(list[i]);
    free(list);
    /* stdio buffers come from malloc as well */
    for (int i = 0; i < 200; i++) {
        FILE *t = tmpfile();
        REQUIRE(t);
        fprintf(t, "%d", i);
        fclose(t);
    }
}

int main(void) {
    hkt_begin("std_glibc", 120);
    hkt_check_running_on_heapkit();
    test_mallinfo2();
    test_malloc_trim();
    test_malloc_stats_info();
    test_libc_allocations();
    return hkt_done();
}
