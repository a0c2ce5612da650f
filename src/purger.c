/* purger.c — the background thread that gives free memory back to the OS after the delay.
 * Without it, free pages are purged only when the owning thread calls the allocator again, so an
 * idle process keeps its peak RSS. It starts on first need, sleeps while nothing is pending. */
#define _GNU_SOURCE
#include "internal.h"
#include "stop_world.h"

#include <time.h>

static void hk_sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One pass over every segment: purge free pages that are due. Segments whose owner holds the
 * lock are skipped (the owner purges them itself). Returns the next due time, 0 if none. */
static uint64_t hk_purger_pass(void) {
    uint64_t now = hk_clock_ms(), next_due = 0;
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        if (seg->kind == HK_KIND_HUGE || !hk_segment_trylock(seg)) continue;
        uint64_t due = hk_segment_purge_due(seg, now, false);
        hk_segment_unlock(seg);
        if (due != 0 && (next_due == 0 || due < next_due)) next_due = due;
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    hk_segment_reap_abandoned();
    hk_huge_purge(false);
    return next_due;
}

static void *hk_purger_main(void *arg) {
    (void)arg;
    hk_stop_signal_unblock(); /* a leak check must be able to pause us */
    int64_t delay = hk_state.options.purge_delay_ms;
    for (;;) {
        pthread_mutex_lock(&hk_state.purger_lock);
        while (!atomic_exchange_explicit(&hk_state.purger_pending, false, memory_order_acq_rel))
            pthread_cond_wait(&hk_state.purger_wake, &hk_state.purger_lock);
        pthread_mutex_unlock(&hk_state.purger_lock);
        /* Let the delay pass, then purge until nothing is left waiting. */
        uint64_t due;
        do {
            hk_sleep_ms(delay);
            due = hk_purger_pass();
        } while (due != 0 || hk_huge_cached() != 0 ||
                 atomic_load_explicit(&hk_state.abandoned_count, memory_order_relaxed) != 0);
    }
    return NULL;
}

/* Memory became free: wake the purger, or ask for it to be started at the next safe point
 * (starting a thread allocates, which must not happen in the middle of a heap update). */
void hk_purger_notify(void) {
    if (!hk_state.options.purge_thread || hk_state.options.purge_delay_ms <= 0) return;
    if (atomic_load_explicit(&hk_state.purger_pending, memory_order_relaxed)) return;
    atomic_store_explicit(&hk_state.purger_pending, true, memory_order_release);
    int state = atomic_load_explicit(&hk_state.purger_state, memory_order_acquire);
    if (state == 0) {
        atomic_compare_exchange_strong(&hk_state.purger_state, &state, 1);
    } else if (state == 2) {
        pthread_mutex_lock(&hk_state.purger_lock);
        pthread_cond_signal(&hk_state.purger_wake);
        pthread_mutex_unlock(&hk_state.purger_lock);
    }
}

/* Called where the heap is consistent (the entry of the allocation slow path). */
void hk_purger_start_if_wanted(void) {
    int wanted = 1;
    if (hk_likely(atomic_load_explicit(&hk_state.purger_state, memory_order_relaxed) != 1)) return;
    if (!atomic_compare_exchange_strong(&hk_state.purger_state, &wanted, 2)) return;
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)64 * 1024);
    bool tracking_was = hk_track_suspend(); /* its thread descriptor's TLS vector is ours */
    int err = pthread_create(&thread, &attr, hk_purger_main, NULL);
    hk_track_resume(tracking_was);
    if (err != 0) {
        hk_state.options.purge_thread = false; /* purge on allocator calls instead */
        atomic_store_explicit(&hk_state.purger_state, 0, memory_order_release);
    } else {
        pthread_setname_np(thread, "heapkit-purge");
    }
    pthread_attr_destroy(&attr);
}

/* The thread does not exist in a forked child; it is started again when needed. */
void hk_purger_after_fork_child(void) {
    pthread_mutex_init(&hk_state.purger_lock, NULL);
    pthread_cond_init(&hk_state.purger_wake, NULL);
    atomic_store_explicit(&hk_state.purger_state, 0, memory_order_relaxed);
    atomic_store_explicit(&hk_state.purger_pending, false, memory_order_relaxed);
}
