/* heap_records.c — the records of thread heaps and how they pass from thread to thread.
 * A record is on the list of live heaps while its thread runs. When the thread exits, its heap is
 * parked whole (segments, page queues, free pages still resident) and the next thread to start
 * takes it over as its own, as a thread cache is handed on: thread churn then costs no purge and no
 * page faults. A parked heap expires once the purge delay passed with no thread started: its segments go
 * to the abandoned queue (the purger gives back what they do not hold, or a thread adopts them)
 * and the record becomes free. Records are made in batches and never unmapped. */
#include "hooks.h"

/* Heap records are made this many bytes' worth at a time, in a metadata mapping (which takes a
 * whole segment-sized granule of address space; the rest of it is never touched). */
#define HK_HEAP_RECORDS_BYTES ((size_t)64 * 1024)
/* The first records are in the library's own data instead: a program with a few threads then
 * pays no 4 MiB granule of address space for them, which matters under `ulimit -v`. */
#define HK_HEAP_STATIC_RECORDS 16
static _Alignas(hk_heap_t) uint8_t hk_heap_static_bytes[HK_HEAP_STATIC_RECORDS * sizeof(hk_heap_t)];
/* Handed out in order, one at a time: a record is touched only when a thread needs it, so a
 * program with one thread keeps ~3 KiB of them resident, not all 54 KiB. */
static size_t hk_heap_static_used;

/* Parked heaps kept at most: enough for the threads a server starts and ends at once; a burst of
 * exits beyond it gives its memory back at once, as without parking. */
#define HK_PARKED_MAX 16

/* ms clock of the last thread start. Parked heaps wait out the purge delay from it as well as from their
 * own parking: while threads keep starting, the heaps they will take are not expired one by one (a
 * program whose threads start more than the delay apart, e.g. one slowed by a sanitizer, otherwise
 * scattered its live blocks over ever more segments, each adopted by a fresh heap). */
static _Atomic uint64_t hk_heap_last_start;
/* But a heap no starting thread took in this many delays is more than the program's threads need
 * (the newest are taken first), and expires however often threads start. */
#define HK_PARKED_SURPLUS_DELAYS 10

/* A record nobody uses: the free list, a static one, or a new batch; the caller holds heaps_lock. */
static hk_heap_t *hk_heap_record_new(void) {
    hk_heap_t *heap = hk_state.free_heaps;
    if (heap != NULL) {
        hk_state.free_heaps = heap->next_heap;
    } else if (hk_heap_static_used < HK_HEAP_STATIC_RECORDS) {
        heap = &((hk_heap_t *)(void *)hk_heap_static_bytes)[hk_heap_static_used++];
    } else {
        /* Heap records are never unmapped: a remote freer may still bump full_freed on a
         * record whose thread is gone, which must stay harmless. */
        size_t chunk = HK_HEAP_RECORDS_BYTES, n = chunk / sizeof(hk_heap_t);
        hk_heap_t *records = hk_meta_map(chunk);
        if (records == NULL) return NULL;
        for (size_t i = 1; i < n; i++) {
            records[i].next_heap = hk_state.free_heaps;
            hk_state.free_heaps = &records[i];
        }
        heap = &records[0];
    }
    /* Cleared around full_freed, which a remote freer may still bump on a reused record (see
     * above): that word is cleared atomically, and a late bump only makes a rescan. */
    size_t at = offsetof(hk_heap_t, full_freed), after = at + sizeof heap->full_freed;
    memset(heap, 0, at);
    memset((uint8_t *)heap + after, 0, sizeof *heap - after);
    atomic_store_explicit(&heap->full_freed, 0, memory_order_relaxed);
    hk_heap_owned_init(heap);
    return heap;
}

/* The most recently parked heap of the node (HK_NUMA_ANY: when memory is not placed by node,
 * every heap is of it), out of the parked list; the caller holds heaps_lock. Newest first: its
 * pages are the likeliest to be in the cache still. */
static hk_heap_t *hk_heap_unpark(int node) {
    for (hk_heap_t *heap = hk_state.parked; heap != NULL; heap = heap->next_heap) {
        if (heap->numa_node != node) continue;
        if (heap->prev_heap) heap->prev_heap->next_heap = heap->next_heap;
        else hk_state.parked = heap->next_heap;
        if (heap->next_heap) heap->next_heap->prev_heap = heap->prev_heap;
        atomic_fetch_sub_explicit(&hk_state.parked_count, 1, memory_order_relaxed);
        return heap;
    }
    return NULL;
}

hk_heap_t *hk_heap_record_take(int node, bool parked_ok, bool *handed_on) {
    atomic_store_explicit(&hk_heap_last_start, hk_clock_ms(), memory_order_relaxed);
    pthread_mutex_lock(&hk_state.heaps_lock);
    hk_heap_t *heap = NULL;
    if (parked_ok && atomic_load_explicit(&hk_state.parked_count, memory_order_relaxed) != 0) heap = hk_heap_unpark(node);
    *handed_on = heap != NULL;
    if (heap == NULL) heap = hk_heap_record_new();
    if (heap != NULL) {
        heap->serial = ++hk_state.heap_serial;
        heap->prev_heap = NULL;
        heap->next_heap = hk_state.heaps;
        if (hk_state.heaps) hk_state.heaps->prev_heap = heap;
        hk_state.heaps = heap;
        hk_state.heap_count++;
    }
    pthread_mutex_unlock(&hk_state.heaps_lock);
    return heap;
}

/* Off the live list; the caller holds heaps_lock. */
static void hk_heap_unlink_live(hk_heap_t *heap) {
    if (heap->prev_heap) heap->prev_heap->next_heap = heap->next_heap;
    else hk_state.heaps = heap->next_heap;
    if (heap->next_heap) heap->next_heap->prev_heap = heap->prev_heap;
    hk_state.heap_count--;
}

static void hk_heap_push_free(hk_heap_t *heap) {
    heap->prev_heap = NULL;
    heap->next_heap = hk_state.free_heaps;
    hk_state.free_heaps = heap;
}

void hk_heap_record_free(hk_heap_t *heap) {
    pthread_mutex_lock(&hk_state.heaps_lock);
    hk_heap_unlink_live(heap);
    hk_heap_push_free(heap);
    pthread_mutex_unlock(&hk_state.heaps_lock);
}

/* Not when purging at once, and not while heap checking serves the API (hk_hooks_t.front):
 * std_threads_mainfree_checked saw blocks freed by the main thread stay counted live in a
 * handed-on heap, not yet understood. Leak tracking and the exact profiler park: their records
 * are the blocks', whichever heap holds the page, and without parking every short thread's freed
 * pages were given back and faulted in again by the next (std_leak_thread_churn: ~9 faults a thread). */
bool hk_heap_parking(void) {
    return hk_state.options.purge_delay_ms != 0 && (!hk_observed() || hk_state.hooks.front == NULL);
}

bool hk_heap_park(hk_heap_t *heap, uint64_t now) {
    if (!hk_heap_parking()) return false; /* purging at once: nothing is kept */
    pthread_mutex_lock(&hk_state.heaps_lock);
    bool room = atomic_load_explicit(&hk_state.parked_count, memory_order_relaxed) < HK_PARKED_MAX;
    if (room) {
        hk_heap_unlink_live(heap);
        heap->parked_at = now;
        heap->prev_heap = NULL;
        heap->next_heap = hk_state.parked;
        if (hk_state.parked) hk_state.parked->prev_heap = heap;
        hk_state.parked = heap;
        atomic_fetch_add_explicit(&hk_state.parked_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&hk_state.heaps_lock);
    if (room) hk_purger_notify(); /* the purger expires it if nobody takes it */
    return room;
}

/* Leave every segment of a heap whose thread is gone to the abandoned queue. */
void hk_heap_abandon_segments(hk_heap_t *heap) {
    for (int kind = 0; kind < HK_SEGMENT_PAGED_KINDS; kind++) {
        hk_segment_t *seg = heap->segments[kind], *next;
        heap->segments[kind] = NULL;
        for (; seg != NULL; seg = next) {
            next = seg->next;
            seg->next = seg->prev = NULL;
            hk_segment_abandon(seg);
        }
    }
}

/* Expire the parked heaps that waited the purge delay (all of them for hk_trim): each record is
 * taken off the list, its segments are abandoned and the record goes to the free ones, all under
 * heaps_lock (the abandoned queue's lock ranks after it). The page queues need no
 * emptying: adoption rebuilds them from the page records, and the record is cleared on reuse. */
void hk_heap_parked_expire(uint64_t now, bool all) {
    int64_t delay = hk_state.options.purge_delay_ms;
    if (!all && delay < 0) return; /* never purge: kept until taken or trimmed */
    for (;;) {
        if (atomic_load_explicit(&hk_state.parked_count, memory_order_relaxed) == 0) return;
        pthread_mutex_lock(&hk_state.heaps_lock);
        hk_heap_t *heap = hk_state.parked, *oldest = NULL;
        for (; heap != NULL; heap = heap->next_heap) oldest = heap;
        uint64_t last_start = atomic_load_explicit(&hk_heap_last_start, memory_order_relaxed);
        uint64_t since = oldest != NULL && oldest->parked_at > last_start ? oldest->parked_at : last_start;
        bool expired = oldest != NULL && (since + (uint64_t)delay <= now ||
                                          oldest->parked_at + HK_PARKED_SURPLUS_DELAYS * (uint64_t)delay <= now);
        if (oldest != NULL && (all || expired)) {
            if (oldest->prev_heap) oldest->prev_heap->next_heap = NULL;
            else hk_state.parked = NULL;
            atomic_fetch_sub_explicit(&hk_state.parked_count, 1, memory_order_relaxed);
            /* Under the lock, so that an hk_trim that finds the list empty knows every segment of
             * an expired heap is in the abandoned queue, for its reaping (segments_lock ranks after). */
            hk_heap_abandon_segments(oldest);
            hk_heap_push_free(oldest);
        } else {
            oldest = NULL;
        }
        pthread_mutex_unlock(&hk_state.heaps_lock);
        if (oldest == NULL) return;
    }
}
