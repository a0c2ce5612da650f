/* page_decay.c — the pace at which free pages of segments go back to the OS.
 * A page freed in a busy program is likely taken again moments later: purging it at once costs a
 * system call now and page faults then. So free pages are kept at least the purge delay
 * (HEAPKIT_PURGE_DELAY), and beyond it they go only as fast as the decay curve over the free,
 * unpurged bytes of the whole process says (decay.c, HEAPKIT_DECAY): what stayed unused long goes
 * first and, a window after the last page was freed, all of it. When the program goes idle (no
 * page freed or taken for HK_IDLE_DELAYS purge delays) the purger gives back everything at once. */
#include "core.h"

static pthread_mutex_t hk_page_decay_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the curve */
static hk_decay_t hk_page_decay;
static bool hk_page_decay_ready;
static _Atomic size_t hk_free_dirty;    /* bytes of free pages not purged (nor fresh) */
static _Atomic size_t hk_purge_budget;  /* bytes the passes may purge before the curve is asked again */
static _Atomic uint64_t hk_page_events; /* pages freed or taken: the purger's sign of a busy program */

void hk_page_decay_freed(size_t bytes) {
    atomic_fetch_add_explicit(&hk_free_dirty, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&hk_page_events, 1, memory_order_relaxed);
}

void hk_page_decay_reused(size_t bytes) {
    atomic_fetch_sub_explicit(&hk_free_dirty, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&hk_page_events, 1, memory_order_relaxed);
}

void hk_page_decay_purged(size_t bytes) { atomic_fetch_sub_explicit(&hk_free_dirty, bytes, memory_order_relaxed); }

size_t hk_page_decay_free_dirty(void) { return atomic_load_explicit(&hk_free_dirty, memory_order_relaxed); }

uint64_t hk_page_decay_events(void) { return atomic_load_explicit(&hk_page_events, memory_order_relaxed); }

/* Ask the curve how much is over now: that is what the next passes may purge. A pass that finds
 * the lock taken uses the budget the other one sets. */
void hk_page_decay_refresh(uint64_t now) {
    if (pthread_mutex_trylock(&hk_page_decay_lock) != 0) return;
    if (!hk_page_decay_ready) {
        hk_decay_init(&hk_page_decay, hk_state.options.decay_ms, now);
        hk_page_decay_ready = true;
    }
    size_t dirty = atomic_load_explicit(&hk_free_dirty, memory_order_relaxed);
    atomic_store_explicit(&hk_purge_budget, hk_decay_excess(&hk_page_decay, now, dirty), memory_order_relaxed);
    pthread_mutex_unlock(&hk_page_decay_lock);
}

/* May a page of `bytes` be purged now? Takes it from the budget (the last page may overdraw it). */
bool hk_page_decay_take(size_t bytes) {
    size_t budget = atomic_load_explicit(&hk_purge_budget, memory_order_relaxed);
    do {
        if (budget == 0) return false;
    } while (!atomic_compare_exchange_weak_explicit(&hk_purge_budget, &budget, budget > bytes ? budget - bytes : 0,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* A forked child keeps the parent's counts (its pages too) and gets a free lock (purger.c calls it). */
void hk_page_decay_after_fork_child(void) { pthread_mutex_init(&hk_page_decay_lock, NULL); }
