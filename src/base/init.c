/* init.c — the process's moments: lazy start (the first allocation may come from the dynamic
 * loader, before any constructor), the constructor, exit, and fork. Each walks the subsystems and
 * locks that the layers registered (base.h), in rank order; none names a function above it. */
#define _GNU_SOURCE
#include "base.h"

#include <sched.h>
#include <sys/auxv.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

extern const hk_subsystem_t __start_hk_subsystems[] __attribute__((visibility("hidden")));
extern const hk_subsystem_t __stop_hk_subsystems[] __attribute__((visibility("hidden")));
extern const hk_lock_entry_t __start_hk_locks[] __attribute__((visibility("hidden")));
extern const hk_lock_entry_t __stop_hk_locks[] __attribute__((visibility("hidden")));

/* The tables lie between symbols the linker defines around each section: different objects as far
 * as C knows, so their entries are counted from the addresses, never compared as pointers. */
static size_t hk_table_count(const void *start, const void *stop, size_t entry_size) {
    return (size_t)((uintptr_t)stop - (uintptr_t)start) / entry_size;
}

/* Every entry of either table starts with its rank. */
_Static_assert(offsetof(hk_subsystem_t, rank) == 0 && offsetof(hk_lock_entry_t, rank) == 0, "rank first");
static uint32_t hk_entry_rank(const void *entry) { return *(const uint32_t *)entry; }

/* The rank the walk visits after *rank (the first one if `first`): the smallest above it, or going
 * backward the largest below it. False when there is none. */
static bool hk_next_rank(const void *table, size_t count, size_t entry_size, bool backward, bool first,
                         uint32_t *rank) {
    bool found = false;
    uint32_t best = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t r = hk_entry_rank((const char *)table + i * entry_size);
        bool after = first || (backward ? r < *rank : r > *rank);
        if (after && (!found || (backward ? r > best : r < best))) {
            best = r;
            found = true;
        }
    }
    if (found) *rank = best;
    return found;
}

/* Calls visit for every entry of a table in rank order (backward: the reverse), entries of one
 * rank in table order (backward: the reverse). The tables are a dozen entries long, so a scan per
 * rank costs nothing worth a sorted copy (which would need memory at the wrong time). */
static void hk_walk_by_rank(const void *table, size_t count, size_t entry_size, bool backward,
                            void (*visit)(const void *entry, void *arg), void *arg) {
    uint32_t rank = 0;
    for (bool more = hk_next_rank(table, count, entry_size, backward, true, &rank); more;
         more = hk_next_rank(table, count, entry_size, backward, false, &rank))
        for (size_t j = 0; j < count; j++) {
            const void *entry = (const char *)table + (backward ? count - 1 - j : j) * entry_size;
            if (hk_entry_rank(entry) == rank) visit(entry, arg);
        }
}

static void hk_each_subsystem(void (*visit)(const void *subsystem, void *arg), void *arg) {
    hk_walk_by_rank(__start_hk_subsystems,
                    hk_table_count(__start_hk_subsystems, __stop_hk_subsystems, sizeof(hk_subsystem_t)),
                    sizeof(hk_subsystem_t), false, visit, arg);
}

static void hk_each_lock(bool backward, void (*visit)(const void *lock, void *arg)) {
    hk_walk_by_rank(__start_hk_locks, hk_table_count(__start_hk_locks, __stop_hk_locks, sizeof(hk_lock_entry_t)),
                    sizeof(hk_lock_entry_t), backward, visit, NULL);
}

/* A bit every key has: never 0 (a zero key would make a NULL link look valid), and above the user
 * address space (HK_ADDRESS_BITS), so an encoded link is never a pointer the leak scan follows. */
#define HK_KEY_SET_BIT ((uintptr_t)1 << 62)
/* SplitMix64's first multiplier: with the shifts around it, it mixes the fallback seed's bits. */
#define HK_SPLITMIX_MUL 0xbf58476d1ce4e5b9ull

/* Before any constructor of the program's (priorities 0 to 100 are the implementation's; 101 is
 * the first a library may take): the allocator is up before anyone else's start-up code runs. */
#define HK_CONSTRUCTOR_PRIORITY 101

/* The free-list key: from getrandom, else mixed from the kernel's AT_RANDOM bytes. */
static uintptr_t hk_random_key(void) {
    uintptr_t key = 0;
    /* Hardened: the secret must be unguessable, so wait for the kernel's pool rather than fall
     * back, and refuse to run without it. */
    if (hk_state.options.secure && getrandom(&key, sizeof key, 0) != (ssize_t)sizeof key) {
        hk_message("HEAPKIT_SECURE=1: getrandom failed, the heap's secrets cannot be made; aborting");
        abort();
    }
    if (key == 0 && getrandom(&key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
        const uint64_t *r = (const uint64_t *)getauxval(AT_RANDOM);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (r ? r[0] ^ (r[1] * HK_GOLDEN_RATIO_64) : 0) ^ (uintptr_t)&key ^ (uint64_t)ts.tv_nsec;
        x ^= x >> 31;
        x *= HK_SPLITMIX_MUL;
        key = (uintptr_t)(x ^ (x >> 29));
    }
    return key | HK_KEY_SET_BIT;
}

static void hk_visit_init(const void *subsystem, void *arg) {
    const hk_subsystem_t *m = subsystem;
    (void)arg;
    if (m->init) m->init();
}

void hk_process_init(void) {
    if (hk_likely(hk_process_ready())) return;
    int expected = HK_INIT_NOT_STARTED;
    if (!atomic_compare_exchange_strong(&hk_state.init_state, &expected, HK_INIT_RUNNING)) {
        while (!hk_process_ready()) sched_yield();
        return;
    }
    hk_options_init(&hk_state.options);
    hk_key = hk_random_key();
    hk_each_subsystem(hk_visit_init, NULL);
    atomic_store_explicit(&hk_state.init_state, HK_INIT_DONE, memory_order_release);
}

typedef struct hk_stats_visit_s {
    hk_buf_t *b;
    bool json;
} hk_stats_visit_t;

static void hk_visit_stats(const void *subsystem, void *arg) {
    const hk_subsystem_t *m = subsystem;
    const hk_stats_visit_t *v = arg;
    void (*fn)(hk_buf_t *) = v->json ? m->stats_json : m->stats_text;
    if (fn) fn(v->b);
}

void hk_subsystems_stats(hk_buf_t *b, bool json) {
    hk_stats_visit_t v = {b, json};
    hk_each_subsystem(hk_visit_stats, &v);
}

static void hk_visit_thread_exit(const void *subsystem, void *arg) {
    const hk_subsystem_t *m = subsystem;
    (void)arg;
    if (m->thread_exit) m->thread_exit();
}

void hk_subsystems_thread_exit(void) { hk_each_subsystem(hk_visit_thread_exit, NULL); }

/* --------------------------------------------------------------------- fork */

/* Take every lock in rank order so the child does not inherit one held by a thread that does
 * not exist there. The other threads' heaps stay as they were (they were not locked and may be
 * mid-update): their live blocks can still be freed in the child, onto remote lists. */
static void hk_visit_lock(const void *lock, void *arg) {
    const hk_lock_entry_t *l = lock;
    (void)arg;
    if (l->mutex) pthread_mutex_lock(l->mutex);
    else l->acquire();
}

static void hk_visit_unlock(const void *lock, void *arg) {
    const hk_lock_entry_t *l = lock;
    (void)arg;
    if (l->mutex) pthread_mutex_unlock(l->mutex);
    else l->release();
}

static void hk_fork_prepare(void) { hk_each_lock(false, hk_visit_lock); }

/* In reverse rank order. */
static void hk_fork_release(void) { hk_each_lock(true, hk_visit_unlock); }

static void hk_visit_fork_child(const void *subsystem, void *arg) {
    const hk_subsystem_t *m = subsystem;
    (void)arg;
    if (m->fork_child) m->fork_child();
}

/* The forking thread holds every lock, so it can release them; threads other than it are gone. */
static void hk_fork_child(void) {
    hk_fork_release();
    hk_each_subsystem(hk_visit_fork_child, NULL);
}

/* ------------------------------------------------------------ start and exit */

static void hk_visit_start(const void *subsystem, void *arg) {
    const hk_subsystem_t *m = subsystem;
    (void)arg;
    if (m->start) m->start();
}

/* glibc's registration of fork handlers, what pthread_atfork is built on. pthread_atfork itself is
 * a two-line wrapper (it adds the caller's DSO handle) that the linker takes from libc_nonshared.a
 * and places at the very end of the library's text, beside the debug layer's code: calling it
 * made every process map that stretch of text (hk_plain_path in base.h). With no DSO handle, the handlers stay for the process's life, as the library does
 * (linked with -z nodelete). */
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso_handle);

/* The shared library's DT_FINI (linked with -Wl,-fini=hk_dt_fini, CMakeLists.txt), instead of the
 * empty _fini that crtn.o puts at the end of the text, which the loader called at every exit:
 * destructors run from .fini_array, and this has nothing to do. */
hk_plain_path void hk_dt_fini(void);
hk_plain_path void hk_dt_fini(void) {}

__attribute__((constructor(HK_CONSTRUCTOR_PRIORITY))) static void hk_on_load(void) {
    hk_process_init();
    hk_report_fd_take();
    __register_atfork(hk_fork_prepare, hk_fork_release, hk_fork_child, NULL);
    hk_each_subsystem(hk_visit_start, NULL);
}

static void hk_visit_at_exit(const void *subsystem, void *arg) {
    const hk_subsystem_t *m = subsystem;
    if (m->at_exit) m->at_exit(*(const uintptr_t *)arg);
}

/* glibc's registration of exit functions (what atexit is built on): with no DSO handle, no
 * library's __cxa_finalize runs the function early; exit runs it. */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso_handle);

/* The exit work proper: the leak check, then the statistics. This thread's stack is read from
 * our caller's frame up. */
static hk_noinline void hk_exit_work(void) {
    uintptr_t caller_sp = HK_CALLER_SP();
    hk_each_subsystem(hk_visit_at_exit, &caller_sp);
}

static hk_noinline void hk_on_late_exit(void *arg) {
    (void)arg;
    hk_exit_work();
}

/* The exit work must see the heap after every destructor has run, the program's and every
 * library's, including those loaded after us (a preloaded heapkit comes before the program's
 * libraries, so the loader runs its destructor before theirs; dlopen'ed plugins come later
 * still). This destructor runs inside the loader's exit handler (_dl_fini); an exit function
 * registered now is run by exit after that handler returns, once every destructor is done (glibc
 * restarts its walk of the exit functions when one registers another). Without exit (dlclose, or
 * exit functions already done), the work runs here. */
__attribute__((destructor)) static hk_noinline void hk_on_exit(void) {
    if (!hk_process_ready()) return;
    if (__cxa_atexit(hk_on_late_exit, NULL, NULL) == 0) return;
    hk_exit_work();
}
