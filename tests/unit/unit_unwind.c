/* unit_unwind.c — the tracker's cached stack walker (src/debug/unwind_cached.c) tells the very frames
 * libgcc's _Unwind_Backtrace tells: return address and CFA of every frame, to the end of the stack,
 * through deep recursion, frames whose CFA is rbp-based (alloca), C library frames (qsort's
 * comparator), a thread's stack down to clone, and on a second walk from the rules it cached; and it
 * says it cannot (rather than walking wrongly) through a signal frame. */
#define _GNU_SOURCE
#include "unit.h"
#include "unwind_cached.h"

#include <alloca.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unwind.h>

#define MAX_FRAMES 256

typedef struct {
    uintptr_t ip[MAX_FRAMES], cfa[MAX_FRAMES];
    size_t n;
} frames_t;

static bool take(uintptr_t ip, uintptr_t cfa, void *arg) {
    frames_t *f = arg;
    if (f->n == MAX_FRAMES) return false;
    f->ip[f->n] = ip;
    f->cfa[f->n++] = cfa;
    return true;
}

static _Unwind_Reason_Code take_libgcc(struct _Unwind_Context *ctx, void *arg) {
    return take(_Unwind_GetIP(ctx), _Unwind_GetCFA(ctx), arg) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

static hk_unwind_cache_t *cache;

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    *(unsigned long long *)arg = info->dlpi_adds + info->dlpi_subs;
    return 1;
}

/* what hk_module_history_note gives the tracker's walks */
static unsigned long long loader_generation(void) {
    unsigned long long generation = 0;
    dl_iterate_phdr(count_loads, &generation);
    return generation;
}
static int walks_compared, walks_refused;

/* Both walks from here: the first frame each tells is a return address into this function (at two
 * call sites), then the same frames. Returns whether the cached walker walked. */
static __attribute__((noinline)) bool walk_both(const char *where) {
    static frames_t mine, theirs;
    mine.n = theirs.n = 0;
    bool walked = hk_unwind_cached(cache, loader_generation(), take, &mine);
    _Unwind_Backtrace(take_libgcc, &theirs);
    if (!walked) {
        walks_refused++;
        return false;
    }
    walks_compared++;
    if (getenv("UNIT_UNWIND_SHOW") != NULL)
        for (size_t i = 0; i < mine.n || i < theirs.n; i++)
            fprintf(stderr, "%s #%zu %#lx/%#lx %#lx/%#lx\n", where, i, i < mine.n ? (unsigned long)mine.ip[i] : 0UL,
                    i < mine.n ? (unsigned long)mine.cfa[i] : 0UL, i < theirs.n ? (unsigned long)theirs.ip[i] : 0UL,
                    i < theirs.n ? (unsigned long)theirs.cfa[i] : 0UL);
    CHECK(mine.n == theirs.n, "%s: %zu frames against libgcc's %zu", where, mine.n, theirs.n);
    CHECK(mine.n > 0 && mine.cfa[0] == theirs.cfa[0], "%s: the first frame's CFA", where);
    for (size_t i = 1; i < mine.n && i < theirs.n; i++) {
        CHECK(mine.ip[i] == theirs.ip[i] && mine.cfa[i] == theirs.cfa[i], "%s: frame %zu: %#lx/%#lx against %#lx/%#lx",
              where, i, (unsigned long)mine.ip[i], (unsigned long)mine.cfa[i], (unsigned long)theirs.ip[i],
              (unsigned long)theirs.cfa[i]);
        if (mine.ip[i] != theirs.ip[i]) break;
    }
    return true;
}

static __attribute__((noinline)) int recurse(int depth, const char *where) {
    volatile char pad[24];
    pad[depth % 24] = (char)depth;
    if (depth == 0) {
        CHECK(walk_both(where), "%s: the cached walker refused a plain stack", where);
        return pad[0];
    }
    return recurse(depth - 1, where) + pad[depth % 24];
}

/* alloca makes the compiler keep a frame pointer: the CFA rule is rbp-based here. */
static __attribute__((noinline)) int with_alloca(int n, int depth) {
    volatile char *buf = alloca((size_t)n); /* cppcheck-suppress allocaCalled ; a frame of variable size on purpose */
    buf[0] = 1;
    if (depth > 0) return with_alloca(n + 16, depth - 1) + buf[0];
    return recurse(5, "under alloca frames") + buf[0];
}

static int compare_ints(const void *a, const void *b) {
    static bool walked;
    if (!walked) {
        walked = true;
        CHECK(walk_both("in qsort's comparator"), "the cached walker refused a walk through libc");
    }
    return *(const int *)a - *(const int *)b;
}

static void *thread_main(void *arg) {
    (void)arg;
    recurse(3, "in a thread");
    recurse(3, "in a thread, rules cached");
    return NULL;
}

static volatile sig_atomic_t in_handler;

static void handler(int sig) {
    (void)sig;
    frames_t f = {.n = 0};
    /* the signal frame's rule is not modelled: the walker must refuse, not walk on wrongly */
    in_handler = hk_unwind_cached(cache, loader_generation(), take, &f) ? 1 : 2;
}

int main(void) {
    cache = mmap(NULL, sizeof *cache, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(cache != MAP_FAILED, "map the rule table");
    if (cache == MAP_FAILED) return unit_done("unit_unwind");
    recurse(0, "shallow");
    recurse(40, "40 frames deep");
    recurse(40, "40 frames deep, rules cached");
    with_alloca(32, 4);
    int v[64];
    for (int i = 0; i < 64; i++) v[i] = (i * 37) % 64;
    qsort(v, 64, sizeof v[0], compare_ints);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "start a thread");
    pthread_join(t, NULL);
    signal(SIGUSR1, handler);
    raise(SIGUSR1);
    CHECK(in_handler == 2, "a walk through a signal frame is refused (got %d)", (int)in_handler);
    CHECK(walks_compared >= 6 && walks_refused == 0, "%d walks compared, %d refused", walks_compared, walks_refused);
    return unit_done("unit_unwind");
}
