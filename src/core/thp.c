/* thp.c — transparent huge pages for small and medium segments that pay for them (HEAPKIT_THP).
 * A 2 MiB page spares the TLB 512 entries, but the kernel has to find 2 MiB of contiguous memory
 * for it (compaction, which stalls the faulting thread when asked for at fault time), and giving
 * back one 64 KiB page inside it splits it again. So, by default (auto), a segment is advised
 * (madvise MADV_HUGEPAGE) only once it is dense and long-lived: all its pages committed, at least
 * 7 in 8 in use, for HK_THP_DENSE_MS without a purge. Its memory is then touched already, so no
 * fault in it asks for a huge page: khugepaged collapses it in the background, and the program
 * never waits for compaction; and where the background purger runs, it collapses the segment at
 * once (MADV_COLLAPSE) instead of leaving it to khugepaged, which looks at 16 MiB in 10 s and so
 * reaches a heap of some size only after minutes. A segment whose pages keep being purged (HK_THP_PURGES_MAX purges)
 * is never advised, and loses the advice if it had it. `always` advises every segment when it is
 * mapped (huge pages at first touch where a 2 MiB stretch is opened whole; faults may compact),
 * `off` never. The statistics count the advised segments (stats.c). Segments are looked at when
 * their heap takes or gives back a page and in its purge pass (segment.c), under the segment's lock. */
#include "core.h"

/* Some segment was advised since the purger last looked (hk_thp_collapse_advised). */
static _Atomic bool hk_thp_collapse_wanted;

/* A segment at least this full (in pages in use, eighths) is dense... */
#define HK_THP_DENSE_EIGHTHS 7
/* ...and worth huge pages after staying so this long with no page of it purged: a phase of the
 * program, not a burst (the purge decay's window, HEAPKIT_DECAY's default, is the same second). */
#define HK_THP_DENSE_MS 1000
/* Purges of a segment's pages after which huge pages are refused it for good: each purge inside a
 * huge page splits it, and a segment that keeps shrinking and growing would collapse and split
 * over and over. */
#define HK_THP_PURGES_MAX 4
/* Below this share of pages in use (halves), a segment is no longer dense: the clock restarts.
 * Between it and the dense mark the clock keeps running, so a segment that breathes a little
 * around 7/8 is not kept from ever qualifying. */
#define HK_THP_SPARSE_HALVES 1

static bool hk_thp_dense(const hk_segment_t *seg) {
    return seg->committed_pages == seg->page_count &&
           (size_t)seg->used_pages * 8 >= (size_t)seg->page_count * HK_THP_DENSE_EIGHTHS;
}

/* The advice covers the segment's whole 2 MiB stretches (a segment shortened under `ulimit -v`
 * may be smaller than one: nothing to advise). */
static bool hk_thp_advise(hk_segment_t *seg, bool huge) {
    size_t size = seg->size & ~(((size_t)2 << 20) - 1);
    if (size == 0) return false;
    return hk_os_advise_huge(seg, size, huge);
}

void hk_thp_segment_mapped(hk_segment_t *seg) {
    seg->thp_purges = 0;
    seg->thp_dense_since = 0;
    uint8_t state = HK_SEGMENT_THP_NONE;
    if (hk_state.options.thp == HK_THP_ALWAYS) state = hk_thp_advise(seg, true) ? HK_SEGMENT_THP_ADVISED : HK_SEGMENT_THP_REFUSED;
    else if (hk_state.options.thp == HK_THP_OFF) state = HK_SEGMENT_THP_REFUSED;
    atomic_store_explicit(&seg->thp, state, memory_order_relaxed);
}

void hk_thp_segment_busy(hk_segment_t *seg, uint64_t now) {
    if (hk_state.options.thp != HK_THP_AUTO || atomic_load_explicit(&seg->thp, memory_order_relaxed) != HK_SEGMENT_THP_NONE)
        return;
    /* Memory interleaved over the nodes page by page stays so: a collapse (ours or khugepaged's)
     * puts each 2 MiB on one node, the one holding most of its pages (node 0 on a tie). Seen in a
     * 4-node guest: 34% of the interleaved pages on node 0. */
    if (hk_numa_active() && seg->node == HK_NUMA_ANY) {
        atomic_store_explicit(&seg->thp, HK_SEGMENT_THP_REFUSED, memory_order_relaxed);
        return;
    }
    uint32_t clock = (uint32_t)now | 1; /* never 0, which means "not dense" */
    if (!hk_thp_dense(seg)) {
        if ((size_t)seg->used_pages * 2 <= (size_t)seg->page_count * HK_THP_SPARSE_HALVES) seg->thp_dense_since = 0;
        return;
    }
    if (seg->thp_dense_since == 0) {
        seg->thp_dense_since = clock;
        return;
    }
    if ((uint32_t)(clock - seg->thp_dense_since) < HK_THP_DENSE_MS) return;
    /* A kernel without THP refuses: the segment is not asked about again. */
    bool advised = hk_thp_advise(seg, true);
    atomic_store_explicit(&seg->thp, advised ? HK_SEGMENT_THP_ADVISED : HK_SEGMENT_THP_REFUSED, memory_order_relaxed);
    if (advised && hk_state.options.purge_thread) {
        atomic_store_explicit(&hk_thp_collapse_wanted, true, memory_order_release);
        hk_purger_notify();
    }
}

/* A segment is collapsed at once only if at most this fraction (1/16) of it is not resident. */
#define HK_THP_RESIDENT_SLACK 16
/* Segments collapsed per look at the list: the walk holds the segments lock, the collapses do not. */
#define HK_THP_COLLAPSE_BATCH 16

void hk_thp_collapse_advised(void) {
    if (!atomic_exchange_explicit(&hk_thp_collapse_wanted, false, memory_order_acq_rel)) return;
    for (;;) {
        hk_segment_t *batch[HK_THP_COLLAPSE_BATCH];
        size_t sizes[HK_THP_COLLAPSE_BATCH], n = 0;
        pthread_mutex_lock(&hk_state.segments_lock);
        for (hk_segment_t *seg = hk_state.all_segments; seg != NULL && n < HK_THP_COLLAPSE_BATCH; seg = seg->all_next) {
            if (seg->kind == HK_SEGMENT_HUGE || atomic_load_explicit(&seg->thp, memory_order_relaxed) != HK_SEGMENT_THP_ADVISED)
                continue;
            atomic_store_explicit(&seg->thp, HK_SEGMENT_THP_COLLAPSED, memory_order_relaxed);
            sizes[n] = seg->size & ~(((size_t)2 << 20) - 1);
            batch[n++] = seg;
        }
        pthread_mutex_unlock(&hk_state.segments_lock);
        /* Out of the lock: a segment unmapped meanwhile makes the kernel say ENOMEM, and one mapped
         * again at the address gets its memory collapsed, which is all the harm there is. A
         * collapse makes every 4 KiB page of the 2 MiB resident, so only a segment nearly all
         * resident already is collapsed now (RSS grows by at most 1/HK_THP_RESIDENT_SLACK of it);
         * the others keep the advice, for khugepaged. */
        for (size_t i = 0; i < n; i++)
            if (sizes[i] != 0 && hk_os_resident(batch[i], sizes[i]) >= sizes[i] - sizes[i] / HK_THP_RESIDENT_SLACK)
                hk_os_collapse_huge(batch[i], sizes[i]);
        if (n < HK_THP_COLLAPSE_BATCH) return;
    }
}

void hk_thp_segment_purged(hk_segment_t *seg) {
    if (hk_state.options.thp != HK_THP_AUTO) return; /* always means always */
    if (seg->thp_purges < UINT8_MAX) seg->thp_purges++;
    seg->thp_dense_since = 0; /* long-lived means without a purge */
    if (seg->thp_purges < HK_THP_PURGES_MAX) return;
    uint8_t state = atomic_load_explicit(&seg->thp, memory_order_relaxed);
    if (state == HK_SEGMENT_THP_REFUSED) return;
    if (state != HK_SEGMENT_THP_NONE) hk_thp_advise(seg, false);
    atomic_store_explicit(&seg->thp, HK_SEGMENT_THP_REFUSED, memory_order_relaxed);
}
