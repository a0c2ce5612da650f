/* init.c — the process's moments: lazy start (the first allocation may come from the dynamic
 * loader, before any constructor), the constructor, exit, and fork. Each walks the subsystems and
 * locks that the layers registered (base.h), in rank order; none names a function above it. */
#define _GNU_SOURCE
#include "base.h"

#include <sched.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>

extern const hk_subsystem_t __start_hk_subsystems[] __attribute__((visibility("hidden")));
extern const hk_subsystem_t __stop_hk_subsystems[] __attribute__((visibility("hidden")));
extern const hk_lock_entry_t __start_hk_locks[] __attribute__((visibility("hidden")));
extern const hk_lock_entry_t __stop_hk_locks[] __attribute__((visibility("hidden")));

/* The registered entries in rank order. The tables are a dozen entries long, so a selection by
 * rank each time costs nothing worth a sorted copy (which would need memory at the wrong time). */
#define HK_FOR_EACH_BY_RANK(type, start, stop, var, body)                                          \
    do {                                                                                           \
        for (uint32_t hk_rank_ = 0, hk_next_; hk_rank_ != UINT32_MAX; hk_rank_ = hk_next_) {       \
            hk_next_ = UINT32_MAX;                                                                 \
            for (const type *var = (start); var < (stop); var++) {                                 \
                if (var->rank > hk_rank_ && var->rank < hk_next_) hk_next_ = var->rank;           \
                if (var->rank == hk_rank_) body                                                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define HK_EACH_SUBSYSTEM(var, body) HK_FOR_EACH_BY_RANK(hk_subsystem_t, __start_hk_subsystems, __stop_hk_subsystems, var, body)
#define HK_EACH_LOCK(var, body) HK_FOR_EACH_BY_RANK(hk_lock_entry_t, __start_hk_locks, __stop_hk_locks, var, body)

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
    if (getrandom(&key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
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

void hk_process_init(void) {
    if (hk_likely(hk_process_ready())) return;
    int expected = HK_INIT_NOT_STARTED;
    if (!atomic_compare_exchange_strong(&hk_state.init_state, &expected, HK_INIT_RUNNING)) {
        while (!hk_process_ready()) sched_yield();
        return;
    }
    hk_options_init(&hk_state.options);
    hk_key = hk_random_key();
    HK_EACH_SUBSYSTEM(m, { if (m->init) m->init(); });
    atomic_store_explicit(&hk_state.init_state, HK_INIT_DONE, memory_order_release);
}

void hk_subsystems_stats(hk_buf_t *b, bool json) {
    HK_EACH_SUBSYSTEM(m, {
        void (*fn)(hk_buf_t *) = json ? m->stats_json : m->stats_text;
        if (fn) fn(b);
    });
}

void hk_subsystems_thread_exit(void) {
    HK_EACH_SUBSYSTEM(m, { if (m->thread_exit) m->thread_exit(); });
}

/* --------------------------------------------------------------------- fork */

/* Take every lock in rank order so the child does not inherit one held by a thread that does
 * not exist there. The other threads' heaps stay as they were (they were not locked and may be
 * mid-update): their live blocks can still be freed in the child, onto remote lists. */
static void hk_fork_prepare(void) {
    HK_EACH_LOCK(l, {
        if (l->mutex) pthread_mutex_lock(l->mutex);
        else l->acquire();
    });
}

/* In reverse rank order: a rank's entries are few, so reversing the walk is a walk per rank. */
static void hk_fork_release(void) {
    uint32_t top = 0;
    for (const hk_lock_entry_t *l = __start_hk_locks; l < __stop_hk_locks; l++)
        if (l->rank > top) top = l->rank;
    for (uint32_t rank = top + 1; rank-- > 0;)
        for (const hk_lock_entry_t *l = __stop_hk_locks; l-- > __start_hk_locks;) {
            if (l->rank != rank) continue;
            if (l->mutex) pthread_mutex_unlock(l->mutex);
            else l->release();
        }
}

/* The forking thread holds every lock, so it can release them; threads other than it are gone. */
static void hk_fork_child(void) {
    hk_fork_release();
    HK_EACH_SUBSYSTEM(m, { if (m->fork_child) m->fork_child(); });
}

/* ------------------------------------------------------------ start and exit */

__attribute__((constructor(HK_CONSTRUCTOR_PRIORITY))) static void hk_on_load(void) {
    hk_process_init();
    pthread_atfork(hk_fork_prepare, hk_fork_release, hk_fork_child);
    HK_EACH_SUBSYSTEM(m, { if (m->start) m->start(); });
}

/* After the program's own exit handlers and destructors (they run first), so what they free is
 * not reported. A leak scan reads this thread's stack from our caller's frame up. */
__attribute__((destructor)) static hk_noinline void hk_on_exit(void) {
    uintptr_t caller_sp = HK_CALLER_SP();
    if (!hk_process_ready()) return;
    HK_EACH_SUBSYSTEM(m, { if (m->at_exit) m->at_exit(caller_sp); });
}
