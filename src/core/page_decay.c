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
/* Bytes the passes may purge beyond the curve's say (hk_page_decay_unusable); apart from
 * hk_purge_budget, which each refresh replaces. */
static _Atomic size_t hk_purge_granted;

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

/* Memory is being mapped fresh for a need no free page can serve (a block with a mapping of its
 * own) while free pages stay resident for the decay: a program that moved on from small blocks to
 * big ones (strings and vectors grown past the small sizes) would hold both at its peak for a
 * whole decay window. So as many bytes of the kept pages as are mapped may go at the next passes
 * (once they stayed free the purge delay): the resident total stays put instead of growing. */
void hk_page_decay_unusable(size_t bytes) {
    size_t dirty = atomic_load_explicit(&hk_free_dirty, memory_order_relaxed);
    size_t granted = atomic_load_explicit(&hk_purge_granted, memory_order_relaxed);
    if (granted >= dirty) return;
    if (bytes > dirty - granted) bytes = dirty - granted;
    atomic_fetch_add_explicit(&hk_purge_granted, bytes, memory_order_relaxed);
}

/* Take `bytes` from a budget; false if it is empty (the last page may overdraw it). */
static bool hk_page_decay_draw(_Atomic size_t *budget_of, size_t bytes) {
    size_t budget = atomic_load_explicit(budget_of, memory_order_relaxed);
    do {
        if (budget == 0) return false;
    } while (!atomic_compare_exchange_weak_explicit(budget_of, &budget, budget > bytes ? budget - bytes : 0,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* May a page of `bytes` be purged now? Takes it from what was granted, else from the curve's budget. */
bool hk_page_decay_take(size_t bytes) {
    return hk_page_decay_draw(&hk_purge_granted, bytes) || hk_page_decay_draw(&hk_purge_budget, bytes);
}

/* A forked child keeps the parent's counts (its pages too) and gets a free lock (purger.c calls it). */
void hk_page_decay_after_fork_child(void) { pthread_mutex_init(&hk_page_decay_lock, NULL); }
