/* purger.c — the background thread that gives free memory back to the OS after the delay.
 * Without it, free pages are purged only when the owning thread calls the allocator again, so an
 * idle process keeps its peak RSS. It starts on first need, sleeps while nothing is pending. */
#define _GNU_SOURCE
#include "core.h"

#include <sys/resource.h>
#include <time.h>

/* Its work is a loop over segments with a few locals: a small stack is plenty. */
#define HK_PURGER_STACK ((size_t)64 * 1024)

static void hk_sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ----------------------------------------------------------- going idle
 * The purger samples the program HK_IDLE_SAMPLES times per purge delay. It is idle once nothing
 * happened (no page freed or taken, no huge block allocated) for a purge delay and no thread of
 * the program was preempted since its last allocator event: every thread that ran after it gave
 * the CPU up of its own accord (sleep, I/O, a lock), so the program waits; it is not a busy thread
 * the scheduler of a loaded machine kept from running. A program that was preempted counts as idle
 * only after HK_IDLE_DELAYS quiet delays. */
#define HK_IDLE_SAMPLES 4

static uint64_t hk_idle_events;      /* page events at the last sample */
static uint64_t hk_idle_since;       /* ms clock of the sample that last saw an event */
static long hk_idle_preempt_prev;    /* preemptions at the previous sample */
static long hk_idle_preempt_mark;    /* preemptions before the last event */
static bool hk_idle_reported;        /* this quiet stretch already ended a sleep early */

/* Involuntary context switches of the program's threads (the purger's own left out). */
static long hk_preemptions(void) {
    struct rusage all, mine;
    if (getrusage(RUSAGE_SELF, &all) != 0 || getrusage(RUSAGE_THREAD, &mine) != 0) return -1;
    return all.ru_nivcsw - mine.ru_nivcsw;
}

/* A new stretch of activity begins now (the purger was woken: memory was just freed). */
static void hk_idle_restart(uint64_t now) {
    hk_idle_events = hk_page_decay_events();
    hk_idle_since = now;
    hk_idle_preempt_prev = hk_idle_preempt_mark = hk_preemptions();
    hk_idle_reported = false;
}

/* One sample: is the program idle now? */
static bool hk_idle_sample(int64_t delay) {
    uint64_t now = hk_clock_ms(), events = hk_page_decay_events();
    long preempted = hk_preemptions();
    if (events != hk_idle_events || hk_huge_last_alloc() > hk_idle_since) {
        hk_idle_events = events;
        hk_idle_since = now;
        hk_idle_preempt_mark = hk_idle_preempt_prev; /* the last event came after the previous sample */
        hk_idle_reported = false;
    }
    hk_idle_preempt_prev = preempted;
    uint64_t quiet = now - hk_idle_since;
    if (quiet >= HK_IDLE_DELAYS * (uint64_t)delay) return true;
    return quiet >= (uint64_t)delay && preempted >= 0 && preempted == hk_idle_preempt_mark;
}

/* Sleep a purge delay, sampling; returns early, with true, when the program goes idle (once per
 * quiet stretch: an idle program then wakes the purger once a delay, as before). */
static bool hk_purger_sleep(int64_t delay) {
    int64_t step = delay / HK_IDLE_SAMPLES > 0 ? delay / HK_IDLE_SAMPLES : 1;
    bool idle = false;
    for (int64_t slept = 0; slept < delay; slept += step) {
        hk_sleep_ms(step);
        idle = hk_idle_sample(delay);
        if (idle && !hk_idle_reported) break;
    }
    if (idle) hk_idle_reported = true;
    return idle;
}

/* One pass over every segment: purge free pages that are due, or, when the program went idle,
 * every free page and the whole huge cache. Segments whose owner holds the lock are skipped (the
 * owner purges them itself). Returns the next due time, 0 if none. */
static uint64_t hk_purger_pass(bool idle) {
    uint64_t now = hk_clock_ms(), next_due = 0;
    if (!idle) hk_page_decay_refresh(now);
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        if (seg->kind == HK_SEGMENT_HUGE || !hk_segment_trylock(seg)) continue;
        uint64_t due = hk_segment_purge_due(seg, now, idle);
        hk_segment_unlock(seg);
        if (due != 0 && (next_due == 0 || due < next_due)) next_due = due;
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    hk_heap_parked_expire(now, false); /* heaps no new thread took: their segments join the abandoned */
    hk_segment_reap_abandoned(false);
    hk_huge_purge(idle);
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
            hk_idle_restart(hk_clock_ms());
        /* Let the delay pass (or the program go idle), then purge until nothing is left waiting. */
        uint64_t due;
        do {
            due = hk_purger_pass(hk_purger_sleep(delay));
        } while (due != 0 || hk_huge_cached() != 0 ||
                 atomic_load_explicit(&hk_state.abandoned_count, memory_order_relaxed) != 0 ||
                 (delay > 0 && atomic_load_explicit(&hk_state.parked_count, memory_order_relaxed) != 0));
    }
    return NULL;
}

/* Called where the heap is consistent (the entry of the allocation slow path). */
void hk_purger_start_if_wanted(void) {
    int wanted = HK_PURGER_WANTED;
    if (hk_likely(atomic_load_explicit(&hk_state.purger_state, memory_order_relaxed) != HK_PURGER_WANTED)) return;
    if (!atomic_compare_exchange_strong(&hk_state.purger_state, &wanted, HK_PURGER_RUNNING)) return;
    static const char name[] hk_plain_const = "heapkit-purge";
    if (hk_own_thread_start(name, hk_purger_main, HK_PURGER_STACK) != 0) {
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
