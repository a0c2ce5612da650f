/* conf_limits.c — requests the machine cannot back fail with NULL and errno ENOMEM through every
 * entry point (malloc, calloc, realloc, reallocarray, the aligned ones and, in the hk_ build,
 * pools and arenas): sizes beyond RAM + swap (the kernel's overcommit heuristic must get the
 * chance to say no, so no MAP_NORESERVE), overflowing sizes, and requests over RLIMIT_AS and
 * RLIMIT_DATA in a child. Built as api_limits and std_limits. */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

static void expect_enomem(const char *what, size_t n, void *p, int e) {
    CHECKF(p == NULL, "%s(%#zx) returned %p, want NULL", what, n, p);
    CHECKF(e == ENOMEM, "%s(%#zx): errno %d, want ENOMEM (%d)", what, n, e, ENOMEM);
}

/* Every entry point with a request of n bytes, which must fail. */
static void every_entry_fails(size_t n) {
    void *p;
    n = hkt_launder_size(n);
#define TRY(what, expr)                                                                                    \
    do {                                                                                                   \
        errno = 0;                                                                                         \
        p = (expr);                                                                                        \
        int e_ = errno;                                                                                    \
        expect_enomem(what, n, p, e_);                                                                     \
        if (p) T_free(p);                                                                                  \
    } while (0)
    TRY("malloc", T_malloc(n));
    TRY("calloc(n, 1)", T_calloc(n, 1));
    TRY("calloc(n / 16, 16)", T_calloc(n / 16, 16));
    TRY("aligned_alloc(64)", T_aligned_alloc(64, n));
    TRY("aligned_alloc(4 MiB)", T_aligned_alloc((size_t)4 << 20, n));
    TRY("memalign(4096)", T_memalign(4096, n));
    TRY("valloc", T_valloc(n));
    TRY("pvalloc", T_pvalloc(n));
    void *out = NULL;
    int rc = T_posix_memalign(&out, 256, n);
    CHECKF(rc == ENOMEM && out == NULL, "posix_memalign(256, %#zx) = %d, %p; want ENOMEM, untouched", n, rc, out);
    char *old = T_malloc(100);
    REQUIRE(old != NULL);
    hkt_fill(old, 100, 9);
    TRY("realloc", T_realloc(hkt_launder(old), n));
    TRY("reallocarray(n / 8, 8)", T_reallocarray(hkt_launder(old), n / 8, 8));
    CHECKF(hkt_verify(old, 100, 9) == (size_t)-1, "a failed realloc of %#zx changed the old block", n);
    T_free(old);
    /* a huge block grows by mremap, in place or moved: the growth is committed too */
    size_t hn = (size_t)1 << 20;
    char *huge = T_malloc(hn);
    REQUIRE(huge != NULL);
    hkt_fill(huge, hn, 4);
    TRY("realloc of a huge block", T_realloc(hkt_launder(huge), n));
    CHECKF(hkt_verify(huge, hn, 4) == (size_t)-1, "a failed realloc of a huge block to %#zx changed it", n);
    T_free(huge);
#ifdef HKT_API
    hk_arena_t *a = hk_arena_create("limits", NULL, 0);
    REQUIRE(a != NULL);
    TRY("hk_arena_alloc", hk_arena_alloc(a, n));
    TRY("hk_arena_calloc", hk_arena_calloc(a, n / 16, 16));
    TRY("hk_arena_aligned_alloc", hk_arena_aligned_alloc(a, 4096, n));
    char *small = hk_arena_alloc(a, 64);
    CHECK(small != NULL); /* the arena still works */
    hk_arena_destroy(a);
    /* A pool of objects too big for any pool: refused at creation. */
    errno = 0;
    hk_pool_t *pool = hk_pool_create("limits", n, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    int e = errno;
    CHECKF(pool == NULL && (e == EINVAL || e == ENOMEM), "hk_pool_create(size %#zx) = %p, errno %d", n, (void *)pool,
           e);
    if (pool) hk_pool_destroy(pool);
#endif
#undef TRY
    /* and the heap goes on */
    void *ok = T_malloc(1 << 20);
    CHECK(ok != NULL);
    T_free(ok);
}

/* More than the machine has (RAM + swap), as the kernel's heuristic overcommit counts it; 0 when
 * the kernel is set to grant anything (vm.overcommit_memory=1). */
static size_t beyond_the_machine(void) {
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1) mode = 0;
        fclose(f);
    }
    if (mode == 1) return 0;
    struct sysinfo si;
    if (sysinfo(&si) != 0) return 0;
    unsigned long long total = ((unsigned long long)si.totalram + si.totalswap) * si.mem_unit;
    return (size_t)(total + total / 4 + ((size_t)1 << 30));
}

/* Run fn in a child under the given limit on resource; the child's failed checks are its exit code. */
static void in_child_with_limit(const char *what, int resource, size_t headroom, void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        struct rlimit rl;
        /* the limit: what the process has now (address space or data) plus headroom */
        size_t now = 0;
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        const char *key = resource == RLIMIT_AS ? "VmSize:" : "VmData:";
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, key, strlen(key)) == 0) now = (size_t)strtoull(line + strlen(key), NULL, 10) << 10;
        if (f) fclose(f);
        rl.rlim_cur = rl.rlim_max = now + headroom;
        if (now == 0 || setrlimit(resource, &rl) != 0) _exit(100);
        hkt_failures = 0;
        fn();
        _exit(hkt_failures > 100 ? 100 : hkt_failures);
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] child: %s %d failed checks", what,
           WIFEXITED(st) ? "exited with" : "killed, signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Under a limit of (now + 96 MiB): 256 MiB requests fail cleanly, 16 MiB ones still work. */
static void under_limit(void) {
    every_entry_fails((size_t)256 << 20);
    void *p = T_malloc((size_t)16 << 20);
    CHECK(p != NULL);
    if (p) memset(p, 1, (size_t)16 << 20);
    T_free(p);
    for (int i = 0; i < 1000; i++) {
        void *q = T_malloc((size_t)(i % 50) * 16 + 1);
        CHECK(q != NULL);
        T_free(q);
    }
}

int main(void) {
    hkt_begin("conf_limits", 120);
    size_t big = beyond_the_machine();
    if (big != 0) {
        every_entry_fails(big);
        every_entry_fails(big * 4);
    } else {
        printf("vm.overcommit_memory=1: the kernel grants any size; sizes beyond the machine not checked\n");
    }
    every_entry_fails((size_t)1 << 46); /* 64 TiB */
    every_entry_fails((size_t)1 << 47);
    every_entry_fails(SIZE_MAX);
    every_entry_fails(SIZE_MAX - 4096);
    every_entry_fails((size_t)PTRDIFF_MAX + 1);
    /* overflowing products */
    errno = 0;
    void *p = T_calloc(hkt_launder_size(SIZE_MAX / 2), 3);
    int e = errno;
    expect_enomem("calloc(SIZE_MAX / 2, 3)", 0, p, e);
    char *old = T_malloc(16);
    errno = 0;
    p = T_reallocarray(hkt_launder(old), hkt_launder_size((size_t)1 << 33), (size_t)1 << 33);
    e = errno;
    expect_enomem("reallocarray(2^33, 2^33)", 0, p, e);
    T_free(old);
#ifdef HKT_API
    hk_arena_t *a = hk_arena_create("limits", NULL, 0);
    REQUIRE(a != NULL);
    errno = 0;
    p = hk_arena_calloc(a, hkt_launder_size(SIZE_MAX / 2), 3);
    e = errno;
    expect_enomem("hk_arena_calloc(SIZE_MAX / 2, 3)", 0, p, e);
    hk_arena_destroy(a);
#endif
    in_child_with_limit("RLIMIT_AS", RLIMIT_AS, (size_t)96 << 20, under_limit);
    in_child_with_limit("RLIMIT_DATA", RLIMIT_DATA, (size_t)96 << 20, under_limit);
    return hkt_done();
}
