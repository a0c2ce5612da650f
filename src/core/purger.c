/* purger.c — the background thread that gives free memory back to the OS after the delay.
 * Without it, free pages are purged only when the owning thread calls the allocator again, so an
 * idle process keeps its peak RSS. It starts on first need, sleeps while nothing is pending. */
#define _GNU_SOURCE
#include "core.h"

#include <time.h>

/* Its work is a loop over segments with a few locals: a small stack is plenty. */
#define HK_PURGER_STACK ((size_t)64 * 1024)

static void hk_sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Page events (pages freed or taken) at the previous pass, and how many passes in a row saw none. */
static uint64_t hk_purger_last_events;
static unsigned hk_purger_quiet_passes;

/* One pass over every segment: purge free pages that are due, or, if no page was freed or taken
 * for HK_IDLE_DELAYS passes (the program went idle), every free page. Segments whose owner holds
 * the lock are skipped (the owner purges them itself). Returns the next due time, 0 if none. */
static uint64_t hk_purger_pass(void) {
    uint64_t now = hk_clock_ms(), next_due = 0, events = hk_page_decay_events();
    hk_purger_quiet_passes = events == hk_purger_last_events ? hk_purger_quiet_passes + 1 : 0;
    hk_purger_last_events = events;
    bool idle = hk_purger_quiet_passes >= HK_IDLE_DELAYS;
    if (!idle) hk_page_decay_refresh(now);
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        if (seg->kind == HK_SEGMENT_HUGE || !hk_segment_trylock(seg)) continue;
        uint64_t due = hk_segment_purge_due(seg, now, idle);
        hk_segment_unlock(seg);
        if (due != 0 && (next_due == 0 || due < next_due)) next_due = due;
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    hk_segment_reap_abandoned(false);
    hk_huge_purge(false);
    hk_thp_collapse_advised();
    return next_due;
}

static void *hk_purger_main(void *arg) {
    (void)arg;
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

/* Called where the heap is consistent (the entry of the allocation slow path). */
void hk_purger_start_if_wanted(void) {
    int wanted = HK_PURGER_WANTED;
    if (hk_likely(atomic_load_explicit(&hk_state.purger_state, memory_order_relaxed) != HK_PURGER_WANTED)) return;
    if (!atomic_compare_exchange_strong(&hk_state.purger_state, &wanted, HK_PURGER_RUNNING)) return;
    if (hk_own_thread_start("heapkit-purge", hk_purger_main, HK_PURGER_STACK) != 0) {
        hk_state.options.purge_thread = false; /* purge on allocator calls instead */
        atomic_store_explicit(&hk_state.purger_state, HK_PURGER_NOT_STARTED, memory_order_release);
    }
}

/* The thread does not exist in a forked child; it is started again when needed. */
static void hk_purger_after_fork_child(void) {
    hk_page_decay_after_fork_child();
    pthread_mutex_init(&hk_state.purger_lock, NULL);
    pthread_cond_init(&hk_state.purger_wake, NULL);
    atomic_store_explicit(&hk_state.purger_state, HK_PURGER_NOT_STARTED, memory_order_relaxed);
    atomic_store_explicit(&hk_state.purger_pending, false, memory_order_relaxed);
}

HK_SUBSYSTEM(purger, HK_SUBSYSTEM_PURGER, .fork_child = hk_purger_after_fork_child);
HK_LOCK(purger, HK_LOCK_PURGER, &hk_state.purger_lock);
