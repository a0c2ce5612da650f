/* pool_handles.c — every hk_pool_* and hk_arena_* call given a handle that is not a live pool or
 * arena: NULL, one already destroyed, an arena where a pool is expected and the reverse, a malloc
 * block, a stack variable. Each call must be refused (NULL, 0 or -1 with errno = EINVAL; void
 * calls return) with one line naming the call and, where known, the pool's or arena's name, and
 * the process must go on with a working heap. Each kind of handle runs in a child process; with
 * HEAPKIT_ON_ERROR=abort the first misuse aborts and its line does not claim it was refused. A pool
 * and an arena used before they were destroyed, by this thread and another, are refused after.
 * Also hk_pool_create with an alignment that is not a power of two is refused. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <errno.h>
#include <semaphore.h>

/* The calls, in the order the child makes them; the parent looks for one line per call. */
static const char *const k_pool_calls[] = {"hk_pool_alloc", "hk_pool_free", "hk_pool_trim", "hk_pool_stats",
                                           "hk_pool_destroy"};
static const char *const k_arena_calls[] = {
    "hk_arena_alloc",  "hk_arena_calloc", "hk_arena_aligned_alloc", "hk_arena_strdup", "hk_arena_strndup",
    "hk_arena_printf", "hk_arena_on_cleanup", "hk_arena_create", "hk_arena_mark", "hk_arena_rewind",
    "hk_arena_set_owner", "hk_arena_stats", "hk_arena_reset", "hk_arena_destroy"};
#define N_POOL_CALLS (sizeof k_pool_calls / sizeof k_pool_calls[0])
#define N_ARENA_CALLS (sizeof k_arena_calls / sizeof k_arena_calls[0])

static void noop(void *arg) { (void)arg; }

static int g_bad; /* the child's count of wrong answers: its exit status */
#define EXPECT(cond)                                                                                                  \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            fprintf(stderr, "child: line %d: %s\n", __LINE__, #cond);                                                 \
            g_bad++;                                                                                                  \
        }                                                                                                             \
    } while (0)

static void pool_calls(hk_pool_t *p) {
    errno = 0;
    EXPECT(hk_pool_alloc(p) == NULL && errno == EINVAL);
    int obj;
    hk_pool_free(p, &obj);
    errno = 0;
    EXPECT(hk_pool_trim(p) == 0 && errno == EINVAL);
    hk_pool_stats_t s;
    memset(&s, 0x55, sizeof s);
    hk_pool_stats(p, &s);
    EXPECT(s.name == NULL && s.live == 0 && s.bytes == 0);
    hk_pool_destroy(p); /* hk_pool_destroy(NULL) is a no-op, like free(NULL): no line */
}

static void arena_calls(hk_arena_t *a) {
    errno = 0;
    EXPECT(hk_arena_alloc(a, 10) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_calloc(a, 2, 10) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_aligned_alloc(a, 64, 10) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_strdup(a, "x") == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_strndup(a, "xyz", 2) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_printf(a, "%d", 1) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_on_cleanup(a, noop, NULL) == -1 && errno == EINVAL);
    if (a != NULL) { /* a NULL parent makes a root arena */
        errno = 0;
        EXPECT(hk_arena_create("child", a, 0) == NULL && errno == EINVAL);
    }
    hk_arena_mark_t m = hk_arena_mark(a);
    EXPECT(m.chunk_ == NULL);
    hk_arena_rewind(a, m);
    hk_arena_set_owner(a);
    hk_arena_stats_t s;
    memset(&s, 0x55, sizeof s);
    hk_arena_stats(a, &s);
    EXPECT(s.name == NULL && s.used == 0);
    hk_arena_reset(a);
    hk_arena_destroy(a); /* NULL: a no-op, no line */
}

/* After the misuse: pools and arenas still work. */
static void still_works(void) {
    hk_pool_t *p = hk_pool_create("after", 40, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    EXPECT(p != NULL);
    void *o[100];
    for (int i = 0; i < 100; i++) EXPECT((o[i] = hk_pool_alloc(p)) != NULL);
    for (int i = 0; i < 100; i++) hk_pool_free(p, o[i]);
    hk_pool_destroy(p);
    hk_arena_t *a = hk_arena_create("after", NULL, 0);
    char *s = hk_arena_printf(a, "%s-%d", "ok", 7);
    EXPECT(s != NULL && strcmp(s, "ok-7") == 0);
    hk_arena_destroy(a);
}

/* A thread that used the pool and the arena before another thread destroyed them: its calls
 * after the destroy must be refused too (each thread remembers the last live handle it saw). */
typedef struct used_s {
    hk_pool_t *pool;
    hk_arena_t *arena;
    sem_t used, destroyed;
} used_t;

static void *use_then_call_again(void *arg) {
    used_t *u = arg;
    void *obj = hk_pool_alloc(u->pool);
    EXPECT(obj != NULL && hk_arena_alloc(u->arena, 10) != NULL);
    hk_pool_free(u->pool, obj);
    sem_post(&u->used);
    sem_wait(&u->destroyed);
    errno = 0;
    EXPECT(hk_pool_alloc(u->pool) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(hk_arena_alloc(u->arena, 10) == NULL && errno == EINVAL);
    return NULL;
}

static int child(const char *name) {
    int on_stack[64] = {0};
    if (!strcmp(name, "null")) {
        pool_calls(NULL);
        arena_calls(NULL);
    } else if (!strcmp(name, "destroyed")) {
        hk_pool_t *p = hk_pool_create("gone-pool", 32, 0, HK_POOL_SHARED, NULL, NULL, NULL);
        hk_arena_t *a = hk_arena_create("gone-arena", NULL, 0);
        hk_arena_t *kid = hk_arena_create("gone-child", a, 0);
        EXPECT(p != NULL && a != NULL && kid != NULL);
        void *obj = hk_pool_alloc(p); /* used here and in another thread first */
        EXPECT(obj != NULL && hk_arena_alloc(a, 10) != NULL && hk_arena_alloc(kid, 10) != NULL);
        hk_pool_free(p, obj);
        used_t u = {.pool = p, .arena = a};
        sem_init(&u.used, 0, 0);
        sem_init(&u.destroyed, 0, 0);
        pthread_t t;
        EXPECT(pthread_create(&t, NULL, use_then_call_again, &u) == 0);
        sem_wait(&u.used);
        hk_pool_destroy(p);
        hk_arena_destroy(a); /* and its child with it */
        sem_post(&u.destroyed);
        pthread_join(t, NULL);
        pool_calls(p);
        arena_calls(a);
        errno = 0;
        EXPECT(hk_arena_alloc(kid, 10) == NULL && errno == EINVAL);
    } else if (!strcmp(name, "swapped")) { /* an arena given as a pool, a pool as an arena */
        hk_pool_t *p = hk_pool_create("real-pool", 32, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
        hk_arena_t *a = hk_arena_create("real-arena", NULL, 0);
        pool_calls((hk_pool_t *)a);
        arena_calls((hk_arena_t *)p);
        hk_pool_destroy(p);
        hk_arena_destroy(a);
    } else if (!strcmp(name, "malloc")) {
        void *m = hk_calloc(1, 4096);
        pool_calls(m);
        arena_calls(m);
        hk_free(m);
    } else if (!strcmp(name, "stack")) {
        pool_calls((hk_pool_t *)on_stack);
        arena_calls((hk_arena_t *)on_stack);
    } else if (!strcmp(name, "abort")) {
        hk_pool_t *p = hk_pool_create("gone-pool", 32, 0, HK_POOL_SHARED, NULL, NULL, NULL);
        hk_pool_destroy(p);
        void *volatile got = hk_pool_alloc(p);
        (void)got;
        return 3; /* not reached: HEAPKIT_ON_ERROR=abort */
    } else {
        return 2;
    }
    still_works();
    return g_bad;
}

typedef struct hcase_s {
    const char *name;
    const char *pool_says, *arena_says; /* what each refusal line holds */
} hcase_t;

static const hcase_t k_cases[] = {
    {"null", "(NULL): no pool given; refused", "(NULL): no arena given; refused"},
    {"destroyed", "pool 'gone-pool' 0x", "arena 'gone-arena' 0x"},
    {"swapped", "arena 'real-arena', not a pool; refused", "pool 'real-pool', not an arena; refused"},
    {"malloc", "not a pool (heapkit memory, but no live pool starts there); refused",
     "not an arena (heapkit memory, but no live arena starts there); refused"},
    {"stack", "not a pool (not memory heapkit handed out); refused",
     "not an arena (not memory heapkit handed out); refused"},
};

/* Calls that take NULL without complaint: destroy is a no-op like free(NULL), a NULL parent
 * makes a root arena. */
static bool null_is_fine(const char *call) {
    return !strcmp(call, "hk_pool_destroy") || !strcmp(call, "hk_arena_destroy") || !strcmp(call, "hk_arena_create");
}
#define N_NULL_FINE 3

/* One line per call, starting "heapkit: CALL(" and holding `says`. */
static void check_lines(const char *kase, const char *out, const char *const *calls, size_t n, const char *says) {
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(kase, "null") && null_is_fine(calls[i])) {
            char needle[64];
            snprintf(needle, sizeof needle, "heapkit: %s(", calls[i]);
            CHECKF(strstr(out, needle) == NULL, "null: %s(NULL) should say nothing; output:\n%s", calls[i], out);
            continue;
        }
        char needle[64], line[1024];
        snprintf(needle, sizeof needle, "heapkit: %s(", calls[i]);
        bool found = false;
        for (const char *s = strstr(out, needle); s != NULL && !found; s = strstr(s + 1, needle)) {
            const char *end = strchr(s, '\n');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len >= sizeof line) len = sizeof line - 1;
            memcpy(line, s, len);
            line[len] = '\0';
            found = strstr(line, says) != NULL;
        }
        CHECKF(found, "%s: no line \"%s...%s\"; output:\n%s", kase, needle, says, out);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("pool_handles", 300);
    static char out[64 * 1024];
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        const hcase_t *c = &k_cases[i];
        hkt_note("case %s", c->name);
        char *args[] = {(char *)"self", (char *)"child", (char *)c->name, NULL};
        int status = hkt_run_self(args, NULL, 120, out, sizeof out);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status %#x; output:\n%s", c->name,
               (unsigned)status, out);
        check_lines(c->name, out, k_pool_calls, N_POOL_CALLS, c->pool_says);
        check_lines(c->name, out, k_arena_calls, N_ARENA_CALLS, c->arena_says);
        /* one line per refused call, no more: each misuse is reported once */
        size_t lines = pt_count(out, "heapkit: ");
        size_t want = N_POOL_CALLS + N_ARENA_CALLS + (!strcmp(c->name, "destroyed") ? 3 : 0) -
                      (!strcmp(c->name, "null") ? N_NULL_FINE : 0);
        CHECKF(lines == want, "%s: %zu heapkit lines, want %zu; output:\n%s", c->name, lines, want, out);
    }
    hkt_note("case abort");
    char *args[] = {(char *)"self", (char *)"child", (char *)"abort", NULL};
    int status = hkt_run_self(args, "HEAPKIT_ON_ERROR=abort", 120, out, sizeof out);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "abort: child status %#x; output:\n%s",
           (unsigned)status, out);
    CHECKF(strstr(out, "heapkit: hk_pool_alloc(pool 'gone-pool' 0x") != NULL && strstr(out, "refused") == NULL,
           "abort: want the line without 'refused'; output:\n%s", out);

    /* an alignment that is not a power of two is refused, not rounded to 8 */
    errno = 0;
    CHECK(hk_pool_create("bad-align", 32, 3, HK_POOL_SHARED, NULL, NULL, NULL) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(hk_pool_create("bad-align", 32, 24, HK_POOL_LOCAL, NULL, NULL, NULL) == NULL && errno == EINVAL);
    hk_pool_t *ok = hk_pool_create("align-4", 32, 4, HK_POOL_LOCAL, NULL, NULL, NULL);
    CHECK(ok != NULL);
    hk_pool_destroy(ok);
    return hkt_done();
}
