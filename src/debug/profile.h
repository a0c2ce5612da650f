/* profile.h — the heap profiler's shared state (HEAPKIT_PROFILE=exact|sampled): per allocation
 * site counters (profile.c), the timeline and the heap map at the peak (profile_timeline.c), and
 * the profile file (profile_write.c, docs/profile-format.md). One process-wide record, hk_profile. */
#ifndef HK_PROFILE_H
#define HK_PROFILE_H

#include "parse.h" /* HK_PROFILE_* */
#include "track.h"

#include <semaphore.h>

/* Distinct allocation sites (stacks) counted; more are counted under the unknown stack. A
 * program's sites are thousands to tens of thousands; address space only, touched as used. */
#define HK_PROFILE_SITES_MAX ((size_t)1 << 18)
/* The lookup table from stack id to site: twice the sites, so probes stay short. */
#define HK_PROFILE_INDEX_SHIFT 19
#define HK_PROFILE_INDEX ((size_t)1 << HK_PROFILE_INDEX_SHIFT)
/* Size histogram: class k holds sizes in [2^(k-1), 2^k), class 0 the size 0. */
#define HK_PROFILE_HIST 48
/* Timeline buckets: when they are all used, neighbours merge and buckets get twice as wide, so
 * the file holds at most this many whatever the run's length. */
#define HK_PROFILE_BUCKETS 512
/* The first bucket width, and how often the timeline thread looks (ms). */
#define HK_PROFILE_TICK_MS 10
/* Pages of the heap map at the peak: 4096 segments of 64 pages, a 16 GiB heap; more are left out. */
#define HK_PROFILE_MAP_PAGES ((size_t)1 << 18)
#define HK_PROFILE_MAP_SEGMENTS ((size_t)1 << 14)

/* Counters in two halves (profile.c): the thread that owns them (a site's creating thread; the
 * whole heap's first thread) moves its half with plain loads and stores, any other thread the
 * shared half with atomic adds, and a value is the sum of the two. A locked add costs ~8 cycles
 * here (AMD EPYC; more where it must wait for earlier stores that miss the cache, such as the
 * tracker's record just written) and an allocation moved seven of them (lua5.4 under exact mode:
 * 8% of its time in the site counters); a one-thread program now moves none. The owner's half
 * counts frees apart (own_freed_*): live = bytes - freed bytes, so a malloc moves two of its
 * counters, not four.
 *
 * One allocation site. In sampled mode the counts are estimates (each sample stands for the bytes
 * and calls its weight says). Its peak is the larger of the halves' peaks, each the most live
 * bytes the site had (both halves summed) just after a call of that half's threads. Laid out so
 * that the owner's malloc and free touch one cache line: the first, with the shared half's live
 * bytes, which the owner's malloc reads for the peak. */
typedef struct hk_profile_site_s {
    /* line 0 */
    _Atomic uint32_t snap_epoch; /* the snapshot that at_peak is of: see hk_site_snap_due */
    uint32_t owner;              /* serial of the thread that owns the plain half */
    _Atomic uint64_t own_calls, own_bytes;           /* allocations made here, and their bytes */
    _Atomic uint64_t own_freed_calls, own_freed_bytes;
    _Atomic int64_t own_peak; /* the most live seen by the owner's calls */
    _Atomic uint64_t own_peak_ms;
    _Atomic int64_t shared_live; /* moved atomically: an exact sum among the other threads */
    /* line 1 */
    _Atomic uint64_t own_temp_calls, own_temp_bytes; /* of the frees, temporaries */
    _Atomic uint64_t shared_calls, shared_bytes;
    _Atomic int64_t shared_live_blocks;
    _Atomic uint64_t shared_temp_calls, shared_temp_bytes;
    _Atomic int64_t shared_peak; /* the most live seen by the other threads' calls */
    /* line 2 */
    _Atomic uint64_t shared_peak_ms;
    /* live when the whole heap was at its peak: the last snapshot's, kept by the site's first
     * call after it (while snap_epoch is hk_profile.snap_epoch; before, the site's live now) */
    _Atomic int64_t at_peak, blocks_at_peak;
    uint32_t stack;
} __attribute__((aligned(64))) hk_profile_site_t;
_Static_assert(offsetof(hk_profile_site_t, shared_live) < 64 && offsetof(hk_profile_site_t, own_temp_calls) == 64,
               "the owner's malloc and free (but a temporary's) move and read the first cache line only");

/* A site's figures, the halves summed (read while others allocate: each part read once). */
static inline uint64_t hk_site_calls(const hk_profile_site_t *s) {
    return atomic_load_explicit(&s->own_calls, memory_order_relaxed) + atomic_load_explicit(&s->shared_calls, memory_order_relaxed);
}
static inline uint64_t hk_site_bytes(const hk_profile_site_t *s) {
    return atomic_load_explicit(&s->own_bytes, memory_order_relaxed) + atomic_load_explicit(&s->shared_bytes, memory_order_relaxed);
}
static inline uint64_t hk_site_temp_calls(const hk_profile_site_t *s) {
    return atomic_load_explicit(&s->own_temp_calls, memory_order_relaxed) +
           atomic_load_explicit(&s->shared_temp_calls, memory_order_relaxed);
}
static inline uint64_t hk_site_temp_bytes(const hk_profile_site_t *s) {
    return atomic_load_explicit(&s->own_temp_bytes, memory_order_relaxed) +
           atomic_load_explicit(&s->shared_temp_bytes, memory_order_relaxed);
}
/* The owner's half of live bytes and blocks (allocated minus freed by the owner). */
static inline int64_t hk_site_own_live(const hk_profile_site_t *s) {
    return (int64_t)(atomic_load_explicit(&s->own_bytes, memory_order_relaxed) -
                     atomic_load_explicit(&s->own_freed_bytes, memory_order_relaxed));
}
static inline int64_t hk_site_live(const hk_profile_site_t *s) {
    return hk_site_own_live(s) + atomic_load_explicit(&s->shared_live, memory_order_relaxed);
}
static inline int64_t hk_site_live_blocks(const hk_profile_site_t *s) {
    return (int64_t)(atomic_load_explicit(&s->own_calls, memory_order_relaxed) -
                     atomic_load_explicit(&s->own_freed_calls, memory_order_relaxed)) +
           atomic_load_explicit(&s->shared_live_blocks, memory_order_relaxed);
}
/* The site's peak and its time: the larger half's. */
/* The larger of two halves' peaks, and when it was reached. */
static inline int64_t hk_peak_of_halves(const _Atomic int64_t *own_peak, const _Atomic uint64_t *own_ms,
                                        const _Atomic int64_t *shared_peak, const _Atomic uint64_t *shared_ms,
                                        uint64_t *ms) {
    int64_t own = atomic_load_explicit(own_peak, memory_order_relaxed);
    int64_t shared = atomic_load_explicit(shared_peak, memory_order_relaxed);
    *ms = atomic_load_explicit(own >= shared ? own_ms : shared_ms, memory_order_relaxed);
    return own >= shared ? own : shared;
}
static inline int64_t hk_site_peak(const hk_profile_site_t *s, uint64_t *ms) {
    return hk_peak_of_halves(&s->own_peak, &s->own_peak_ms, &s->shared_peak, &s->shared_peak_ms, ms);
}

/* One timeline bucket: the largest values seen in it, the counts at its end. */
typedef struct hk_profile_bucket_s {
    uint64_t ms; /* its end, since the profile started */
    int64_t live;
    uint64_t committed, resident, calls, bytes;
} hk_profile_bucket_t;

/* One page of the heap map: its size class and how full it is (used blocks of those that fit). */
typedef struct hk_profile_map_page_s {
    uint8_t in_use, bin;
    uint16_t unused;
    uint32_t used, reserved;
} hk_profile_map_page_t;

typedef struct hk_profile_map_segment_s {
    uintptr_t address;
    uint32_t kind, page_count;
    size_t page_bytes, huge_bytes; /* huge_bytes: a huge segment's block */
} hk_profile_map_segment_t;

typedef struct hk_profile_s {
    uint64_t start_ms;       /* hk_clock_ms when profiling started (or the fork that made this process) */
    _Atomic uint64_t now_ms; /* ms since start, kept by the timeline thread: the allocation path's clock */
    /* sites */
    pthread_mutex_t sites_lock; /* adding a site */
    hk_profile_site_t *sites;   /* dense, in order of creation */
    _Atomic uint64_t *index;    /* stack id << 32 | site number + 1; 0 = empty */
    _Atomic size_t site_count;
    /* the whole heap: in two halves as a site's counters, the owner's (hk_profile.owner, the
     * process's first thread) moved with plain loads and stores; live bytes are the halves' sum */
    uint32_t owner;
    _Atomic int64_t own_live, shared_live; /* hk_profile_live(); calls, bytes and live blocks: hk_profile_total_calls() and the others */
    _Atomic int64_t own_peak, shared_peak; /* exact mode: the peak of live bytes over the calls in the order the halves saw them (a call at the very moment of another thread's may be missed); sampled: of the estimate */
    _Atomic uint64_t own_peak_ms, shared_peak_ms;
    _Atomic uint64_t own_hist_calls[HK_PROFILE_HIST], own_hist_bytes[HK_PROFILE_HIST];
    _Atomic uint64_t hist_calls[HK_PROFILE_HIST], hist_bytes[HK_PROFILE_HIST]; /* the other threads' */
    /* the peak snapshot: every site's live bytes copied when the heap grew past the last one */
    pthread_mutex_t lock;     /* the snapshot, the timeline, the map and writing a profile */
    _Atomic int64_t snap_live;
    _Atomic uint32_t snap_epoch; /* snapshots taken: a site whose snap_epoch differs has not yet kept its figures of the last */
    _Atomic int64_t snap_next; /* live bytes past which the next snapshot is due (0: the first allocation's) */
    _Atomic bool snap_owed;    /* a snapshot found the lock held: the timeline thread takes it once it lets go */
    uint64_t snap_ms;
    /* timeline (profile_timeline.c) */
    hk_profile_bucket_t *buckets; /* HK_PROFILE_BUCKETS, mapped when profiling starts (no static data
                                     for a program that does not profile: it costs address space) */
    size_t bucket_count;
    uint64_t bucket_width_ms;
    int statm_fd;
    sem_t wake;
    _Atomic bool dump_wanted, thread_started;
    /* heap map at the last snapshot */
    int64_t map_live;
    uint64_t map_ms;
    hk_profile_map_segment_t *map_segments;
    hk_profile_map_page_t *map_pages;
    size_t map_segment_count, map_page_count;
    /* sampled mode */
    struct hk_profile_sample_s *samples;
    _Atomic size_t sample_count;
    _Atomic uint64_t samples_dropped;
    unsigned dumps; /* profiles written by this process */
    /* HEAPKIT_PROFILE_DIR copied at start: the option points into the environment, which programs
     * that set their process title (redis-server) overwrite. Empty: the current directory. */
    char dir[4096];
} hk_profile_t;

extern hk_internal hk_profile_t hk_profile;

static inline bool hk_profiling(void) { return hk_state.options.profile != HK_PROFILE_OFF; }

/* The whole heap's calls and bytes are the size histogram's sums, and its live blocks the sites'
 * sum: added up when read (the timeline, the profile file) instead of kept in three more shared
 * counters moved on every malloc and free (each a locked instruction). Read while others
 * allocate, they are as exact as such counters were: each part is read once. Inline here, so the
 * profiler's files need not call each other in a loop. */
static inline uint64_t hk_profile_hist_calls(unsigned k) {
    return atomic_load_explicit(&hk_profile.own_hist_calls[k], memory_order_relaxed) +
           atomic_load_explicit(&hk_profile.hist_calls[k], memory_order_relaxed);
}

static inline uint64_t hk_profile_hist_bytes(unsigned k) {
    return atomic_load_explicit(&hk_profile.own_hist_bytes[k], memory_order_relaxed) +
           atomic_load_explicit(&hk_profile.hist_bytes[k], memory_order_relaxed);
}

static inline uint64_t hk_profile_total_calls(void) {
    uint64_t sum = 0;
    for (unsigned k = 0; k < HK_PROFILE_HIST; k++) sum += hk_profile_hist_calls(k);
    return sum;
}

static inline uint64_t hk_profile_total_bytes(void) {
    uint64_t sum = 0;
    for (unsigned k = 0; k < HK_PROFILE_HIST; k++) sum += hk_profile_hist_bytes(k);
    return sum;
}

static inline int64_t hk_profile_live_blocks(void) {
    int64_t sum = 0;
    size_t n = atomic_load_explicit(&hk_profile.site_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++) sum += hk_site_live_blocks(&hk_profile.sites[i]);
    return sum;
}

static inline int64_t hk_profile_live(void) {
    return atomic_load_explicit(&hk_profile.own_live, memory_order_relaxed) +
           atomic_load_explicit(&hk_profile.shared_live, memory_order_relaxed);
}

/* A site's live bytes and blocks at the last peak snapshot (read with hk_profile.lock held, which
 * snapshots take): kept by its first call after the snapshot, or, with no call since, what it
 * has now. */
/* Whether the site's at_peak figures are of the last snapshot (its epoch is the profile's). The
 * site's epoch is read relaxed: a reader of the figures fences after it (hk_site_at_peak); the
 * allocation paths only count. */
static inline bool hk_site_snap_current(const hk_profile_site_t *s) {
    return atomic_load_explicit(&s->snap_epoch, memory_order_relaxed) ==
           atomic_load_explicit(&hk_profile.snap_epoch, memory_order_acquire);
}

static inline int64_t hk_site_at_peak(const hk_profile_site_t *s, int64_t *blocks) {
    if (hk_site_snap_current(s)) {
        atomic_thread_fence(memory_order_acquire); /* the figures kept before the epoch was released */
        *blocks = atomic_load_explicit(&s->blocks_at_peak, memory_order_relaxed);
        return atomic_load_explicit(&s->at_peak, memory_order_relaxed);
    }
    *blocks = hk_site_live_blocks(s);
    return hk_site_live(s);
}

/* The whole heap's peak and its time: the larger half's. */
static inline int64_t hk_profile_peak(uint64_t *ms) {
    return hk_peak_of_halves(&hk_profile.own_peak, &hk_profile.own_peak_ms, &hk_profile.shared_peak,
                             &hk_profile.shared_peak_ms, ms);
}

/* profile.c */
hk_internal hk_profile_site_t *hk_profile_site(uint32_t stack); /* found or added; NULL: full */
hk_internal void hk_profile_snapshot(int64_t live);             /* with hk_profile.lock held */
/* profile_timeline.c */
hk_internal void hk_profile_timeline_tick(uint64_t now_ms);  /* with hk_profile.lock held */
/* With hk_profile.lock held. wait false: give up (false) if the segment lock is taken, as it may
 * be by this very thread (an allocation inside a leak check, which holds it). */
hk_internal bool hk_profile_map_take(bool wait);
hk_internal uint64_t hk_profile_resident(void);
/* profile_write.c: the profile file; reason "exit", "signal" or "call". 0, or -1 with errno. */
hk_internal int hk_profile_write(const char *reason);

#endif /* HK_PROFILE_H */
