/* init.c — process start and end, thread registration, fork handling, and hk_trim.
 * Initialisation is lazy (the first allocation may come from the dynamic loader, before our
 * constructor runs) and never allocates; at exit HEAPKIT_STATS prints the statistics. */
#define _GNU_SOURCE
#include "internal.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <unistd.h>

hk_internal hk_state_t hk_state = {
    .heaps_lock = PTHREAD_MUTEX_INITIALIZER,
    .segments_lock = PTHREAD_MUTEX_INITIALIZER,
    .huge_lock = PTHREAD_MUTEX_INITIALIZER,
    .purger_lock = PTHREAD_MUTEX_INITIALIZER,
    .purger_wake = PTHREAD_COND_INITIALIZER,
};
hk_internal uintptr_t hk_key;

/* The free-list key: from getrandom, else mixed from the kernel's AT_RANDOM bytes. */
static uintptr_t hk_random_key(void) {
    uintptr_t key = 0;
    if (getrandom(&key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
        const uint64_t *r = (const uint64_t *)getauxval(AT_RANDOM);
        uint64_t x = (r ? r[0] ^ (r[1] * 0x9e3779b97f4a7c15ull) : 0) ^ (uintptr_t)&key ^ hk_clock_ms();
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ull;
        key = (uintptr_t)(x ^ (x >> 29));
    }
    return key | ((uintptr_t)1 << 62); /* never 0: a zero key would make a NULL link look valid */
}

void hk_process_init(void) {
    if (hk_likely(atomic_load_explicit(&hk_state.init_state, memory_order_acquire) == 2)) return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&hk_state.init_state, &expected, 1)) {
        while (atomic_load_explicit(&hk_state.init_state, memory_order_acquire) != 2) sched_yield();
        return;
    }
    hk_options_init(&hk_state.options);
    hk_key = hk_random_key();
    if (pthread_key_create(&hk_state.thread_key, hk_heap_thread_done) != 0)
        hk_message("cannot create the thread key: memory of exiting threads will not be handed over");
    atomic_store_explicit(&hk_state.init_state, 2, memory_order_release);
}

/* --------------------------------------------------------------------- fork */

/* Take every lock in one fixed order so the child does not inherit one held by a thread that
 * no longer exists there. The other threads' heaps stay as they were (they were not locked and
 * may be mid-update): their live blocks can still be freed in the child, onto remote lists. */
void hk_fork_prepare(void) {
    pthread_mutex_lock(&hk_state.heaps_lock);
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next)
        if (seg->kind != HK_KIND_HUGE) hk_segment_lock(seg);
    pthread_mutex_lock(&hk_state.huge_lock);
    pthread_mutex_lock(&hk_state.purger_lock);
}

static void hk_fork_release(void) {
    pthread_mutex_unlock(&hk_state.huge_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next)
        if (seg->kind != HK_KIND_HUGE) hk_segment_unlock(seg);
    pthread_mutex_unlock(&hk_state.segments_lock);
    pthread_mutex_unlock(&hk_state.heaps_lock);
}

void hk_fork_parent(void) {
    pthread_mutex_unlock(&hk_state.purger_lock);
    hk_fork_release();
}

/* The forking thread holds every lock, so it can release them; the purger thread is gone. */
void hk_fork_child(void) {
    hk_purger_after_fork_child();
    hk_fork_release();
}

/* ------------------------------------------------------------ start and exit */

__attribute__((constructor(101))) static void hk_on_load(void) {
    hk_process_init();
    pthread_atfork(hk_fork_prepare, hk_fork_parent, hk_fork_child);
    hk_leak_signal_setup();
}

static bool hk_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static hk_noinline void hk_stats_at_exit(void) {
    const char *file = hk_state.options.stats_file;
    if (file != NULL) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            hk_message("cannot write statistics to %s (errno %d)", file, errno);
            return;
        }
        if (hk_ends_with(file, ".json")) {
            char buf[32 * 1024];
            size_t n = hk_stats_json(buf, sizeof buf);
            hk_write_all(fd, buf, n < sizeof buf ? n : sizeof buf - 1);
            hk_write_all(fd, "\n", 1);
        } else {
            hk_stats_print_fd(fd);
        }
        close(fd);
    } else if (hk_state.options.stats) {
        hk_stats_print_fd(2);
    }
}

/* After the program's own exit handlers and destructors (they run first), so what they free is
 * not reported. The leak scan reads this thread's stack from our caller's frame up. */
__attribute__((destructor)) static hk_noinline void hk_on_exit(void) {
    hk_leak_at_exit((uintptr_t)__builtin_frame_address(0) + 2 * sizeof(void *));
    hk_stats_at_exit();
}

/* -------------------------------------------------------------------- trim */

HK_API int hk_trim(void) {
    size_t before = atomic_load_explicit(&hk_state.committed, memory_order_relaxed);
    hk_segment_reap_abandoned(); /* what exited threads left and others since freed */
    hk_heap_t *heap = hk_heap_tls;
    if (heap != &hk_heap_empty) hk_heap_collect(heap, true);
    hk_huge_purge(true);
    return atomic_load_explicit(&hk_state.committed, memory_order_relaxed) < before ? 1 : 0;
}

HK_API const char *hk_version(void) { return "0.1.0"; }
