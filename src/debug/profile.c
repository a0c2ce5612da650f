/* profile.c — the heap profiler (HEAPKIT_PROFILE=exact|sampled): per allocation site, the calls,
 * bytes, temporaries (blocks freed before their thread allocated again, as heaptrack counts them),
 * live bytes now, their peak and its time, and the live bytes of each site when the whole heap
 * was at its peak; a size histogram. profile_timeline.c adds the timeline and the heap map, and
 * profile_write.c writes it all as one file that grows with sites and time, not with allocations.
 *
 * Exact mode is an observer of the tracker (track.c): every block has its record and its stack in
 * the depot, so a free knows its site exactly, and leak checking can be on at the same time.
 * Sampled mode leaves the fast paths on: a byte-weighted Poisson sampler (as tcmalloc's and
 * jemalloc's profilers) has each thread count down a random exponential number of bytes (the
 * core keeps the count, heap->sample_left, beside its fast path; sampler.c shares it with the
 * sampled guard slots) and samples the block that
 * crosses zero, so a block of s bytes is taken with probability 1 - exp(-s/R) and stands for
 * s / that probability bytes: unbiased. A sampled block's page is flagged so its frees take the
 * generic path, where the block is found again in a small table keyed by its address.
 *
 * The peak snapshot: when the heap's live bytes pass the last snapshot's by 1/64 (and 1 KiB),
 * the thread that made it so copies every site's live bytes and takes the heap map (a trylock:
 * never waits), so the "at peak" figures are those of a moment within 1/64 of the true peak. */
#define _GNU_SOURCE
#include "profile.h"
#include "sampler.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>


/* A snapshot is taken when live bytes exceed the last one's by this fraction (1/64) and bytes
 * (the first one at the first allocation), so a small program's peak has its sites too; while the
 * heap is small a snapshot is cheap (few sites, one segment), and the 1/64 rule soon takes over. */
#define HK_SNAPSHOT_STEP_SHIFT 6
#define HK_SNAPSHOT_STEP_MIN ((int64_t)1 << 10)

/* Sampled blocks live at once: enough for 8 GiB of heap at the default rate; more are dropped
 * (and counted). Keys apart from values: a free looks at the keys only, 256 KiB, cache-friendly. */
#define HK_SAMPLES_SHIFT 15
#define HK_SAMPLES ((size_t)1 << HK_SAMPLES_SHIFT)
#define HK_SAMPLES_MAX (HK_SAMPLES / 2)
#define HK_SAMPLE_GONE ((uintptr_t)1) /* a key whose sample was freed: probes go on past it */

typedef struct hk_profile_sample_s {
    hk_profile_site_t *site;
    uint64_t bytes, calls; /* what the sample stands for */
} hk_profile_sample_t;

/* Pages flagged because they hold sampled blocks, with how many: the flag comes off with the
 * last one (when the thread that frees it owns the page: only the owner writes a page's flags),
 * so frees into the page take the fast path again. A full table leaves further pages flagged. */
#define HK_SAMPLE_PAGES_SHIFT 14
#define HK_SAMPLE_PAGES ((size_t)1 << HK_SAMPLE_PAGES_SHIFT)

/* A counting filter in front of the keys: how many live samples' keys hash to each of 4,096
 * counters (the keys' slot hash, its top 12 bits), so a free into a flagged page (one that holds a
 * sample, where every free takes the generic path) reads one byte of a 4 KiB table, which stays in
 * the cache, instead of probing the 256 KiB of keys: that probe was a cache miss nearly every time,
 * 98% of hk_sampled_free's time and ~1.5% of lua5.4's under sampling. A counter at its top stays
 * there (a lookup then probes, as before). */
#define HK_SAMPLE_FILTER_SHIFT 12
#define HK_SAMPLE_FILTER ((size_t)1 << HK_SAMPLE_FILTER_SHIFT)
#define HK_SAMPLE_FILTER_STUCK UINT8_MAX

static struct {
    _Atomic uint8_t *filter; /* HK_SAMPLE_FILTER counters, moved under the lock, read without it */
    _Atomic uintptr_t *keys; /* block addresses of the sampled live blocks */
    pthread_mutex_t lock;    /* adding and removing samples and page counts; lookups take none */
    uintptr_t *pages;        /* page records (addresses) ever flagged; never removed */
    uint32_t *page_samples;  /* sampled blocks live in each */
} hk_samples = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The page count's slot (under hk_samples.lock), or NULL when the table is full. */
static uint32_t *hk_sample_page_count(const hk_page_t *page) {
    uintptr_t key = (uintptr_t)page;
    size_t i = (size_t)(((uint64_t)key * HK_GOLDEN_RATIO_64) >> (64 - HK_SAMPLE_PAGES_SHIFT));
    for (size_t n = 0; n < HK_SAMPLE_PAGES; n++, i = (i + 1) & (HK_SAMPLE_PAGES - 1)) {
        if (hk_samples.pages[i] == key) return &hk_samples.page_samples[i];
        if (hk_samples.pages[i] == 0) {
            hk_samples.pages[i] = key;
            return &hk_samples.page_samples[i];
        }
    }
    return NULL;
}

/* The small or medium page of a block, or NULL (a huge block: its frees are always seen). */
static hk_page_t *hk_sample_page(uintptr_t block) {
    if (hk_segmap_get(block) != HK_MAP_SEGMENT || hk_ptr_segment((void *)block)->kind == HK_SEGMENT_HUGE) return NULL;
    return hk_segment_page_of(hk_ptr_segment((void *)block), (void *)block);
}

/* The block the thread allocated last (its record in exact mode, its address in sampled mode):
 * freed while it is still the last, the allocation was a temporary. */
static __thread uintptr_t hk_profile_last __attribute__((tls_model("initial-exec")));
/* Sampled mode: the sampler's look count at the thread's last sample; with the countdown still
 * as that look set it at the sampled block's free, nothing was allocated in between (the block
 * was a temporary). */
static __thread uint64_t hk_profile_last_look __attribute__((tls_model("initial-exec")));

static uint64_t hk_profile_now(void) { return atomic_load_explicit(&hk_profile.now_ms, memory_order_relaxed); }

/* The calling thread's serial (its heap's), to tell the owner of a half: 0, no owner's, for a
 * thread without a heap (several may be so at once). */
static inline uint32_t hk_profile_me(void) { return hk_heap_tls->serial; }

/* ------------------------------------------------------------------- sites */

static size_t hk_index_slot(uint32_t stack) {
    return (size_t)(((uint64_t)stack * HK_GOLDEN_RATIO_64) >> (64 - HK_PROFILE_INDEX_SHIFT));
}

static hk_profile_site_t *hk_index_find(uint32_t stack, size_t *free_slot) {
    for (size_t i = hk_index_slot(stack), n = 0; n < HK_PROFILE_INDEX; i = (i + 1) & (HK_PROFILE_INDEX - 1), n++) {
        uint64_t v = atomic_load_explicit(&hk_profile.index[i], memory_order_acquire);
        if (v == 0) {
            *free_slot = i;
            return NULL;
        }
        if ((uint32_t)(v >> 32) == stack) return &hk_profile.sites[(uint32_t)v - 1];
    }
    *free_slot = HK_PROFILE_INDEX;
    return NULL;
}

/* The site of a stack that has none yet (or the unknown stack's, or none: profiling is off). */
static hk_noinline hk_profile_site_t *hk_profile_site_new(uint32_t stack) {
    if (hk_profile.index == NULL) return NULL;
    _Atomic uint32_t *tag = hk_stack_depot_tag(stack);
    size_t slot = HK_PROFILE_INDEX;
    hk_profile_site_t *site = hk_index_find(stack, &slot);
    if (hk_likely(site != NULL)) return site;
    pthread_mutex_lock(&hk_profile.sites_lock);
    site = hk_index_find(stack, &slot);
    size_t n = atomic_load_explicit(&hk_profile.site_count, memory_order_relaxed);
    if (site == NULL && slot < HK_PROFILE_INDEX && n < HK_PROFILE_SITES_MAX) {
        site = &hk_profile.sites[n];
        site->stack = stack;
        /* live 0 at every snapshot so far: at_peak's 0 stands */
        atomic_store_explicit(&site->snap_epoch, atomic_load_explicit(&hk_profile.snap_epoch, memory_order_relaxed),
                              memory_order_relaxed);
        /* the creating thread owns the plain half; one without a heap (serial 0) owns nothing */
        uint32_t me = hk_profile_me();
        site->owner = me != 0 ? me : UINT32_MAX;
        atomic_store_explicit(&hk_profile.site_count, n + 1, memory_order_release);
        atomic_store_explicit(&hk_profile.index[slot], (uint64_t)stack << 32 | (n + 1), memory_order_release);
    }
    if (site != NULL && tag != NULL) atomic_store_explicit(tag, (uint32_t)(site - hk_profile.sites) + 1, memory_order_release);
    pthread_mutex_unlock(&hk_profile.sites_lock);
    /* Full: counted under the unknown stack, which then is (or was made) a site of its own. */
    return site != NULL || stack == HK_STACK_UNKNOWN ? site : hk_profile_site(HK_STACK_UNKNOWN);
}

/* Inline, with the search apart (hk_profile_site_new): every tracked malloc and free asks, and a
 * call that saved the search's registers cost python3 under exact mode ~35 instructions each time.
 * The site's number is kept with its stack in the depot (a tag is set only once the site
 * exists): found in one load, no search. */
static inline hk_profile_site_t *hk_profile_site_of(uint32_t stack) {
    _Atomic uint32_t *tag = hk_stack_depot_tag(stack);
    uint32_t number = tag != NULL ? atomic_load_explicit(tag, memory_order_acquire) : 0;
    if (hk_likely(number != 0)) return &hk_profile.sites[number - 1];
    return hk_profile_site_new(stack);
}

hk_profile_site_t *hk_profile_site(uint32_t stack) { return hk_profile_site_of(stack); }

/* Class of the size histogram: the bit length of the size. */
static unsigned hk_hist_class(size_t size) {
    unsigned k = size == 0 ? 0 : 64 - (unsigned)__builtin_clzll((unsigned long long)size);
    return k < HK_PROFILE_HIST ? k : HK_PROFILE_HIST - 1;
}

/* A snapshot copies no site's figures: it starts a new epoch, and each site keeps its live bytes
 * and blocks as they were at its first call after that (hk_site_snap_due), or has them still.
 * Copying every site at every snapshot was python3's 6,200 sites 320 times over (20 M
 * instructions under exact mode), and grew with sites x snapshots. */
void hk_profile_snapshot(int64_t live) {
    atomic_fetch_add_explicit(&hk_profile.snap_epoch, 1, memory_order_release);
    atomic_store_explicit(&hk_profile.snap_live, live, memory_order_relaxed);
    int64_t step = live >> HK_SNAPSHOT_STEP_SHIFT;
    atomic_store_explicit(&hk_profile.snap_next, live + (step > HK_SNAPSHOT_STEP_MIN ? step : HK_SNAPSHOT_STEP_MIN),
                          memory_order_relaxed);
    hk_profile.snap_ms = hk_profile_now();
}

/* The heap's live bytes passed its last peak, and the last snapshot's by the step: a new snapshot.
 * Apart from the counting: a growing heap passes its peak at nearly every malloc, the step far
 * less often (the test is inline, hk_profile_grew). A malloc never waits for the lock: when the
 * timeline's tick holds it, the snapshot is owed and the tick takes it as it lets go, or else a
 * heap that stopped growing during a tick would keep a snapshot of an earlier, smaller moment.
 * The second try closes the gap between the tick's look at the debt and its unlock. */
static hk_noinline void hk_profile_snapshot_try(void) {
    if (pthread_mutex_trylock(&hk_profile.lock) != 0) {
        atomic_store(&hk_profile.snap_owed, true);
        if (pthread_mutex_trylock(&hk_profile.lock) != 0) return;
        atomic_store(&hk_profile.snap_owed, false);
    }
    int64_t live = hk_profile_live();
    if (live > atomic_load_explicit(&hk_profile.snap_live, memory_order_relaxed)) { /* an owed one may come late */
        hk_profile_snapshot(live);
        (void)hk_profile_map_take(false); /* the pages as they are at this peak, not later */
    }
    pthread_mutex_unlock(&hk_profile.lock);
}

/* A peak half: its owner raises it with a plain store, the other threads with a compare-exchange.
 * Whether it was raised. */
static inline __attribute__((always_inline)) bool hk_peak_raise(_Atomic int64_t *peak, _Atomic uint64_t *peak_ms,
                                                                int64_t live, bool owner) {
    int64_t old = atomic_load_explicit(peak, memory_order_relaxed);
    if (hk_likely(live <= old)) return false;
    if (owner) {
        atomic_store_explicit(peak, live, memory_order_relaxed);
    } else {
        while (live > old &&
               !atomic_compare_exchange_weak_explicit(peak, &old, live, memory_order_relaxed, memory_order_relaxed)) {
        }
        if (live <= old) return false;
    }
    atomic_store_explicit(peak_ms, hk_profile_now(), memory_order_relaxed);
    return true;
}

static inline __attribute__((always_inline)) void hk_profile_grew(int64_t live) {
    if (live > atomic_load_explicit(&hk_profile.snap_next, memory_order_relaxed)) hk_profile_snapshot_try();
}

/* A counter of the owner's half: no other thread writes it, so no locked instruction. */
static inline __attribute__((always_inline)) void hk_own_add(_Atomic uint64_t *c, uint64_t by) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by, memory_order_relaxed);
}

/* The whole heap's live bytes moved by `bytes` (up: a malloc), in this thread's half. */
static inline __attribute__((always_inline)) void hk_profile_total_add(int64_t bytes, bool owner, size_t size, uint64_t calls) {
    unsigned k = hk_hist_class(size);
    int64_t live;
    if (owner) {
        hk_own_add(&hk_profile.own_hist_calls[k], calls);
        hk_own_add(&hk_profile.own_hist_bytes[k], (uint64_t)bytes);
        live = atomic_load_explicit(&hk_profile.own_live, memory_order_relaxed) + bytes;
        atomic_store_explicit(&hk_profile.own_live, live, memory_order_relaxed);
        live += atomic_load_explicit(&hk_profile.shared_live, memory_order_relaxed);
        if (hk_peak_raise(&hk_profile.own_peak, &hk_profile.own_peak_ms, live, true)) hk_profile_grew(live);
    } else {
        atomic_fetch_add_explicit(&hk_profile.hist_calls[k], calls, memory_order_relaxed);
        atomic_fetch_add_explicit(&hk_profile.hist_bytes[k], (uint64_t)bytes, memory_order_relaxed);
        live = atomic_fetch_add_explicit(&hk_profile.shared_live, bytes, memory_order_relaxed) + bytes;
        live += atomic_load_explicit(&hk_profile.own_live, memory_order_relaxed);
        if (hk_peak_raise(&hk_profile.shared_peak, &hk_profile.shared_peak_ms, live, false)) hk_profile_grew(live);
    }
}

static inline __attribute__((always_inline)) void hk_profile_total_remove(int64_t bytes, bool owner) {
    if (owner)
        atomic_store_explicit(&hk_profile.own_live, atomic_load_explicit(&hk_profile.own_live, memory_order_relaxed) - bytes,
                              memory_order_relaxed);
    else atomic_fetch_sub_explicit(&hk_profile.shared_live, bytes, memory_order_relaxed);
}

/* The site's figures at the last snapshot, kept before its first change since (any thread: two
 * at once keep values that differ only by calls made at that very moment, as a snapshot that
 * read the sites while others allocate did). The figures first, then the epoch, released: the
 * profile writer reads the epoch, then the figures. */
static hk_noinline void hk_site_snap_keep(hk_profile_site_t *site) {
    uint32_t epoch = atomic_load_explicit(&hk_profile.snap_epoch, memory_order_acquire);
    atomic_store_explicit(&site->at_peak, hk_site_live(site), memory_order_relaxed);
    atomic_store_explicit(&site->blocks_at_peak, hk_site_live_blocks(site), memory_order_relaxed);
    atomic_store_explicit(&site->snap_epoch, epoch, memory_order_release);
}

/* Before a site's counters move: a snapshot was taken since its last call, keep its figures. */
static inline __attribute__((always_inline)) void hk_site_snap_due(hk_profile_site_t *site) {
    if (hk_unlikely(!hk_site_snap_current(site))) hk_site_snap_keep(site);
}

/* `calls` allocations of `bytes` in all (size: the size asked for, for the histogram) at the site,
 * by the thread of serial `me`; the site has kept its figures of the last snapshot. */
static inline __attribute__((always_inline)) void hk_site_count_add(hk_profile_site_t *site, uint64_t bytes, uint64_t calls,
                                                                    size_t size, uint32_t me) {
    if (hk_likely(me == site->owner)) {
        hk_own_add(&site->own_calls, calls);
        uint64_t total = atomic_load_explicit(&site->own_bytes, memory_order_relaxed) + bytes;
        atomic_store_explicit(&site->own_bytes, total, memory_order_relaxed);
        int64_t live = (int64_t)(total - atomic_load_explicit(&site->own_freed_bytes, memory_order_relaxed)) +
                       atomic_load_explicit(&site->shared_live, memory_order_relaxed);
        hk_peak_raise(&site->own_peak, &site->own_peak_ms, live, true);
    } else {
        atomic_fetch_add_explicit(&site->shared_calls, calls, memory_order_relaxed);
        atomic_fetch_add_explicit(&site->shared_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&site->shared_live_blocks, (int64_t)calls, memory_order_relaxed);
        int64_t live = atomic_fetch_add_explicit(&site->shared_live, (int64_t)bytes, memory_order_relaxed) + (int64_t)bytes +
                       hk_site_own_live(site);
        hk_peak_raise(&site->shared_peak, &site->shared_peak_ms, live, false);
    }
    hk_profile_total_add((int64_t)bytes, me == hk_profile.owner, size, calls);
}

static inline __attribute__((always_inline)) void hk_site_add(hk_profile_site_t *site, uint64_t bytes, uint64_t calls,
                                                              size_t size, uint32_t me) {
    hk_site_snap_due(site);
    hk_site_count_add(site, bytes, calls, size, me);
}

static inline __attribute__((always_inline)) void hk_site_count_remove(hk_profile_site_t *site, uint64_t bytes,
                                                                       uint64_t calls, bool temporary, uint32_t me) {
    if (hk_likely(me == site->owner)) {
        hk_own_add(&site->own_freed_bytes, bytes);
        hk_own_add(&site->own_freed_calls, calls);
        if (temporary) {
            hk_own_add(&site->own_temp_calls, calls);
            hk_own_add(&site->own_temp_bytes, bytes);
        }
    } else {
        atomic_fetch_sub_explicit(&site->shared_live, (int64_t)bytes, memory_order_relaxed);
        atomic_fetch_sub_explicit(&site->shared_live_blocks, (int64_t)calls, memory_order_relaxed);
        if (temporary) {
            atomic_fetch_add_explicit(&site->shared_temp_calls, calls, memory_order_relaxed);
            atomic_fetch_add_explicit(&site->shared_temp_bytes, bytes, memory_order_relaxed);
        }
    }
    hk_profile_total_remove((int64_t)bytes, me == hk_profile.owner);
}

static inline __attribute__((always_inline)) void hk_site_remove(hk_profile_site_t *site, uint64_t bytes, uint64_t calls,
                                                                 bool temporary, uint32_t me) {
    hk_site_snap_due(site);
    hk_site_count_remove(site, bytes, calls, temporary, me);
}

/* -------------------------------------------------------------- exact mode */

/* The site of a stack that has one, and no snapshot since its last call (else NULL): the common
 * case of every exact malloc and free, which then calls nothing before its end and so saves no
 * registers; the rest (a first call, a site to keep its figures) goes out of line. */
static inline __attribute__((always_inline)) hk_profile_site_t *hk_exact_site(uint32_t stack) {
    _Atomic uint32_t *tag = hk_stack_depot_tag(stack);
    uint32_t number = tag != NULL ? atomic_load_explicit(tag, memory_order_acquire) : 0;
    if (hk_unlikely(number == 0)) return NULL;
    hk_profile_site_t *site = &hk_profile.sites[number - 1];
    if (hk_unlikely(!hk_site_snap_current(site))) return NULL;
    return site;
}

static hk_noinline void hk_exact_alloc_rare(const hk_track_rec_t *rec, size_t size) {
    hk_profile_site_t *site = hk_profile_site_of(rec->stack);
    if (site != NULL) hk_site_add(site, size, 1, size, rec->thread);
}

static hk_noinline void hk_exact_free_rare(const hk_track_rec_t *rec, size_t size, bool temporary) {
    hk_profile_site_t *site = hk_profile_site_of(rec->stack);
    if (site != NULL) hk_site_remove(site, size, 1, temporary, hk_profile_me());
}

static void hk_exact_alloc(const hk_track_rec_t *rec, size_t size) {
    hk_profile_last = (uintptr_t)rec;
    hk_profile_site_t *site = hk_exact_site(rec->stack);
    if (hk_unlikely(site == NULL)) hk_exact_alloc_rare(rec, size);
    else hk_site_count_add(site, size, 1, size, rec->thread); /* rec->thread: this thread's serial */
}

static void hk_exact_free(const hk_track_rec_t *rec, size_t size) {
    bool temporary = hk_profile_last == (uintptr_t)rec;
    hk_profile_last = 0;
    hk_profile_site_t *site = hk_exact_site(rec->stack);
    if (hk_unlikely(site == NULL)) hk_exact_free_rare(rec, size, temporary);
    else hk_site_count_remove(site, size, 1, temporary, hk_profile_me());
}

static const hk_track_observer_t hk_exact_observer = {.alloc = hk_exact_alloc, .free = hk_exact_free};

/* ------------------------------------------------------------ sampled mode */

/* Bytes to the next sample: exponential with mean HEAPKIT_PROFILE_RATE. */
static int64_t hk_sample_interval(void) { return hk_sampler_exponential((double)hk_state.options.profile_rate); }

static size_t hk_sample_slot(uintptr_t block) {
    return (size_t)(((uint64_t)block * HK_GOLDEN_RATIO_64) >> (64 - HK_SAMPLES_SHIFT));
}

/* The filter's counter for the keys whose home slot is `home`: the slot hash's top bits. */
_Static_assert(HK_SAMPLE_FILTER_SHIFT <= HK_SAMPLES_SHIFT, "the filter is coarser than the table");
static _Atomic uint8_t *hk_sample_filter_at(size_t home) {
    return &hk_samples.filter[home >> (HK_SAMPLES_SHIFT - HK_SAMPLE_FILTER_SHIFT)];
}

/* A sample's key was added (+1) or removed (-1): under hk_samples.lock, before the key is
 * published and after it is gone, so a lookup that finds the counter at 0 has nothing to find. */
static void hk_sample_filter_move(uintptr_t block, int by) {
    _Atomic uint8_t *c = hk_sample_filter_at(hk_sample_slot(block));
    uint8_t n = atomic_load_explicit(c, memory_order_relaxed);
    if (n == HK_SAMPLE_FILTER_STUCK || (by < 0 && n == 0)) return;
    atomic_store_explicit(c, (uint8_t)(n + by), memory_order_release);
}

/* The start of the block the pointer handed out lies in (an aligned pointer may be inside it). */
static uintptr_t hk_block_of(void *p) {
    if (hk_segmap_get((uintptr_t)p) == HK_MAP_SEGMENT && hk_ptr_segment(p)->kind != HK_SEGMENT_HUGE) {
        hk_segment_t *seg = hk_ptr_segment(p);
        hk_page_t *page = hk_segment_page_of(seg, p);
        return (uintptr_t)(page->start + hk_page_block_index(page, p) * page->block_size);
    }
    hk_segment_t *seg = hk_huge_segment_of((uintptr_t)p);
    return seg != NULL ? (uintptr_t)seg + seg->block_offset : (uintptr_t)p;
}

/* The fast paths stay on in sampled mode: a sampled block's page is flagged observed, so its frees
 * take the generic path, where the free hook sees them (huge blocks' frees always do). The
 * allocating thread owns the page. Under hk_samples.lock. */
static void hk_sample_watch_page(uintptr_t block) {
    hk_page_t *page = hk_sample_page(block);
    if (page == NULL) return;
    uint32_t *count = hk_sample_page_count(page);
    if (count != NULL) ++*count;
    uint8_t flags = hk_page_flags(page);
    if (!(flags & HK_PAGE_OBSERVED)) hk_page_set_flags(page, flags | HK_PAGE_OBSERVED);
}

/* A sampled block of the page was freed (under hk_samples.lock): the last one unflags the page,
 * if this thread owns it. */
static void hk_sample_unwatch_page(uintptr_t block) {
    hk_page_t *page = hk_sample_page(block);
    if (page == NULL) return;
    uint32_t *count = hk_sample_page_count(page);
    if (count == NULL || *count == 0 || --*count != 0) return;
    if (hk_segment_owner(hk_ptr_segment((void *)block)) != hk_heap_tls) {
        ++*count; /* left flagged: only its owner may write the flags; counted so it stays so */
        return;
    }
    hk_page_set_flags(page, hk_page_flags(page) & (uint8_t)~HK_PAGE_OBSERVED);
}

static void hk_sample_take(void *p, size_t size) {
    double rate = (double)hk_state.options.profile_rate;
    double probability = 1.0 - hk_sampler_exp_neg((double)size / rate);
    double weight = size == 0 ? rate : (double)size / probability;
    uint64_t calls = size == 0 ? (uint64_t)rate : (uint64_t)(weight / (double)size + 0.5);
    uint64_t bytes = size == 0 ? 0 : (uint64_t)(weight + 0.5);
    if (calls == 0) calls = 1;
    uintptr_t block = hk_block_of(p);
    uint32_t me = hk_profile_me();
    hk_profile_site_t *site = hk_profile_site(hk_track_stack_here());
    if (site == NULL) return;
    pthread_mutex_lock(&hk_samples.lock);
    bool kept = false;
    if (atomic_load_explicit(&hk_profile.sample_count, memory_order_relaxed) < HK_SAMPLES_MAX) {
        size_t i = hk_sample_slot(block);
        uintptr_t k;
        while ((k = atomic_load_explicit(&hk_samples.keys[i], memory_order_relaxed)) > HK_SAMPLE_GONE && k != block)
            i = (i + 1) & (HK_SAMPLES - 1);
        /* k == block: a block sampled again while live (realloc in place): its old sample goes */
        if (k == block)
            hk_site_remove(hk_profile.samples[i].site, hk_profile.samples[i].bytes, hk_profile.samples[i].calls, false, me);
        hk_profile.samples[i] = (hk_profile_sample_t){site, bytes, calls};
        if (k != block) {
            atomic_fetch_add_explicit(&hk_profile.sample_count, 1, memory_order_relaxed);
            hk_sample_filter_move(block, 1);
            hk_sample_watch_page(block);
        }
        atomic_store_explicit(&hk_samples.keys[i], block, memory_order_release);
        kept = true;
    } else {
        atomic_fetch_add_explicit(&hk_profile.samples_dropped, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&hk_samples.lock);
    if (!kept) return;
    hk_site_add(site, bytes, calls, size, me);
    hk_profile_last = block;
}

/* The sampler's look found this consumer's sample in the block at p. */
static void hk_sampled_take(void *p, size_t size) {
    if (hk_own_work) return; /* the library's own blocks are not the program's */
    hk_sample_take(p, size);
    hk_profile_last_look = hk_sampler_looks();
}

static const hk_sample_consumer_t hk_profile_consumer = {.interval = hk_sample_interval, .take = hk_sampled_take};

static bool hk_sampled_free(hk_segment_t *seg, hk_page_t *page, void *block) {
    if (hk_likely(atomic_load_explicit(&hk_profile.sample_count, memory_order_relaxed) == 0)) return true;
    /* A sampled block's page carries HK_PAGE_OBSERVED (hk_sample_watch_page, set by the thread
     * that allocated it, before the block was handed out): the frees of other pages that come this
     * way (full pages, other threads' blocks) need no probe of the sample table, a cache miss or
     * two each (~1% of lua5.4's time). Huge blocks are not flagged: always probed. */
    if (seg->kind != HK_SEGMENT_HUGE && !(hk_page_flags(page) & HK_PAGE_OBSERVED)) return true;
    uintptr_t b = (uintptr_t)block;
    size_t i = hk_sample_slot(b);
    if (atomic_load_explicit(hk_sample_filter_at(i), memory_order_acquire) == 0) return true;
    uintptr_t k;
    while ((k = atomic_load_explicit(&hk_samples.keys[i], memory_order_acquire)) != 0 && k != b)
        i = (i + 1) & (HK_SAMPLES - 1);
    if (hk_likely(k == 0)) return true;
    bool temporary = hk_profile_last == b && hk_sampler_looks() == hk_profile_last_look &&
                     hk_heap_tls->sample_left == hk_sampler_last_set();
    hk_profile_last = 0;
    pthread_mutex_lock(&hk_samples.lock);
    if (atomic_load_explicit(&hk_samples.keys[i], memory_order_relaxed) == b) {
        hk_profile_sample_t s = hk_profile.samples[i];
        atomic_store_explicit(&hk_samples.keys[i], HK_SAMPLE_GONE, memory_order_release);
        hk_sample_filter_move(b, -1);
        atomic_fetch_sub_explicit(&hk_profile.sample_count, 1, memory_order_relaxed);
        hk_sample_unwatch_page(b);
        hk_site_remove(s.site, s.bytes, s.calls, temporary, hk_profile_me());
    }
    pthread_mutex_unlock(&hk_samples.lock);
    return true;
}

/* ------------------------------------------------------------------ thread
 * A thread of the library's own wakes every HK_PROFILE_TICK_MS: it keeps the clock the
 * allocation path reads (hk_profile.now_ms), adds to the timeline, and writes a profile when HEAPKIT_PROFILE_SIGNAL came (its handler only posts
 * the thread's semaphore). */

static void hk_profile_signal_handler(int sig) {
    (void)sig;
    int saved = errno;
    atomic_store_explicit(&hk_profile.dump_wanted, true, memory_order_relaxed);
    sem_post(&hk_profile.wake); /* async-signal-safe; the thread writes the profile */
    errno = saved;
}

static void *hk_profile_main(void *arg) {
    (void)arg;
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += HK_PROFILE_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)sem_timedwait(&hk_profile.wake, &until);
        uint64_t now = hk_clock_ms() - hk_profile.start_ms;
        atomic_store_explicit(&hk_profile.now_ms, now, memory_order_relaxed);
        pthread_mutex_lock(&hk_profile.lock);
        hk_profile_timeline_tick(now);
        pthread_mutex_unlock(&hk_profile.lock);
        if (atomic_exchange(&hk_profile.snap_owed, false)) hk_profile_snapshot_try();
        if (atomic_exchange_explicit(&hk_profile.dump_wanted, false, memory_order_relaxed)) (void)hk_profile_write("signal");
    }
    return NULL;
}

/* In the library's constructor (and a forked child): the timeline thread, and the signal. */
hk_plain_path static void hk_profile_thread_start(void) {
    if (!hk_profiling() || atomic_exchange(&hk_profile.thread_started, true)) return;
    sem_init(&hk_profile.wake, 0, 0);
    int err = hk_own_thread_start("heapkit-profile", hk_profile_main, 0);
    if (err != 0) hk_message("heap profile: cannot start the timeline thread (error %d); the profile has no timeline", err);
    int sig = (int)hk_state.options.profile_signal;
    if (sig == 0 || err != 0) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hk_profile_signal_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, NULL);
}

/* ------------------------------------------------------------------- start */

static bool hk_profile_tables(void) {
    hk_profile.sites = hk_meta_map(HK_PROFILE_SITES_MAX * sizeof(hk_profile_site_t));
    hk_profile.index = hk_meta_map(HK_PROFILE_INDEX * sizeof(uint64_t));
    if (hk_state.options.profile == HK_PROFILE_SAMPLED) {
        hk_samples.filter = hk_meta_map(HK_SAMPLE_FILTER);
        hk_samples.keys = hk_meta_map(HK_SAMPLES * sizeof(uintptr_t));
        hk_profile.samples = hk_meta_map(HK_SAMPLES * sizeof(hk_profile_sample_t));
        hk_samples.pages = hk_meta_map(HK_SAMPLE_PAGES * sizeof(uintptr_t));
        hk_samples.page_samples = hk_meta_map(HK_SAMPLE_PAGES * sizeof(uint32_t));
        if (hk_samples.filter == NULL || hk_samples.keys == NULL || hk_profile.samples == NULL || hk_samples.pages == NULL ||
            hk_samples.page_samples == NULL)
            return false;
    }
    return hk_profile.sites != NULL && hk_profile.index != NULL;
}

/* In process init, before the first allocation: the hooks. */
hk_plain_path static void hk_profile_init(void) {
    if (!hk_profiling()) return;
    hk_profile.buckets = hk_meta_map(HK_PROFILE_BUCKETS * sizeof *hk_profile.buckets);
    if (hk_profile.buckets == NULL) hk_message("cannot map the heap profile's timeline: profiles will have none");
    hk_profile.start_ms = hk_clock_ms();
    hk_profile.bucket_width_ms = HK_PROFILE_TICK_MS;
    const char *dir = hk_state.options.profile_dir;
    size_t len = dir != NULL ? strnlen(dir, sizeof hk_profile.dir) : 0;
    if (len == sizeof hk_profile.dir) {
        hk_message("HEAPKIT_PROFILE_DIR is too long: profiles go to the current directory");
        len = 0;
    }
    if (len > 0) memcpy(hk_profile.dir, dir, len);
    hk_profile.dir[len] = '\0';
    if (!hk_profile_tables()) {
        hk_message("cannot reserve memory for the heap profile: profiling is off");
        hk_state.options.profile = HK_PROFILE_OFF;
        return;
    }
    if (hk_state.options.profile == HK_PROFILE_EXACT) {
        hk_track_enable(&hk_exact_observer);
        return;
    }
    if (hk_state.hooks.alloc != NULL) { /* the tracker's already (HEAPKIT_LEAKS=1): sample on its records */
        hk_message("HEAPKIT_PROFILE=sampled with HEAPKIT_LEAKS=1: every block is tracked anyway, so the profile is exact");
        hk_state.options.profile = HK_PROFILE_EXACT;
        hk_track_enable(&hk_exact_observer);
        return;
    }
    /* Not `observed`: the fast paths stay on, counting bytes down to the next sample. */
    hk_sampler_add(&hk_profile_consumer);
    hk_state.hooks.free = hk_sampled_free;
}

HK_API int hk_profile_dump(void) {
    if (!hk_profiling()) {
        errno = ENOTSUP;
        return -1;
    }
    return hk_profile_write("call");
}

hk_plain_path static void hk_profile_at_exit(uintptr_t caller_sp) {
    (void)caller_sp;
    if (hk_profiling() && hk_process_ready()) (void)hk_profile_write("exit");
}

/* A forked child profiles on its own: same sites and live blocks (it has them too), its own
 * clock, timeline and files. */
hk_plain_path static void hk_profile_fork_child(void) {
    if (!hk_profiling()) return;
    hk_profile.buckets = hk_meta_map(HK_PROFILE_BUCKETS * sizeof *hk_profile.buckets);
    if (hk_profile.buckets == NULL) hk_message("cannot map the heap profile's timeline: profiles will have none");
    hk_profile.start_ms = hk_clock_ms();
    atomic_store_explicit(&hk_profile.now_ms, 0, memory_order_relaxed);
    hk_profile.bucket_count = 0;
    hk_profile.bucket_width_ms = HK_PROFILE_TICK_MS;
    hk_profile.dumps = 0;
    /* the child's one thread owns the whole heap's plain half: the parent's owner is not in it */
    uint32_t me = hk_profile_me();
    hk_profile.owner = me != 0 ? me : UINT32_MAX;
    atomic_store_explicit(&hk_profile.thread_started, false, memory_order_relaxed);
    if (hk_profile.statm_fd >= 0) close(hk_profile.statm_fd); /* it names the parent's /proc entry */
    hk_profile.statm_fd = -1;
    hk_profile_thread_start();
}

HK_SUBSYSTEM(profile, HK_SUBSYSTEM_PROFILE, .init = hk_profile_init, .start = hk_profile_thread_start,
             .at_exit = hk_profile_at_exit, .fork_child = hk_profile_fork_child);
HK_LOCK(profile_samples, HK_LOCK_PROFILE, &hk_samples.lock);
