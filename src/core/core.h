/* core.h — the allocator core's types, constants, cross-file calls and inline fast paths.
 * Files, bottom up: os, thp, decay, segmap, meta, page, page_decay, segment, fit, hollow, heap_records, heap, purger, huge_cache, huge, stats, alloc;
 * the core calls only the base below it, and features above it only through hooks.h.
 * Glossary: a segment is a 4 MiB aligned region split into pages (reserved whole, committed as its
 * pages are first used; shorter when address space is short); a page holds blocks of one size.
 * A page whose blocks are all free goes back in steps, one verb each:
 *   retire  — its heap takes it out of its queues (heap.c, hk_heap_page_retire);
 *   release — it goes back to its segment, free, HK_PAGE_RELEASED (segment.c, hk_segment_page_release);
 *   purge   — after the purge delay its memory goes back to the OS (hk_segment_purge_due, hk_os_purge);
 *   unmap   — a segment with no page in use goes back to the OS whole (segment.c, hk_segment_unmap). */
#ifndef HK_CORE_H
#define HK_CORE_H

#include "base.h"
#include "numa.h"
#include "remote.h"

/* ------------------------------------------------------------------ geometry
 * Segments are 4 MiB and 4 MiB aligned, so the segment of any block is one mask away.
 * Small blocks (<= 8 KiB) live in 64 KiB pages, medium (<= 128 KiB) in 512 KiB pages;
 * bigger ("huge") blocks get a segment of their own, mapped to size. */
/* 4 MiB: 64 small or 8 medium pages share one header and one lock, and the segment map needs a
 * byte per 4 MiB of the address span the library maps (segmap.c). */
#define HK_SEGMENT_SHIFT 22
#define HK_SEGMENT_SIZE ((size_t)1 << HK_SEGMENT_SHIFT)
#define HK_SEGMENT_MASK (HK_SEGMENT_SIZE - 1)
/* Pages hold at least eight blocks of the biggest small size, four of the biggest medium one. */
#define HK_SMALL_PAGE_SHIFT 16
#define HK_MEDIUM_PAGE_SHIFT 19
#define HK_HUGE_PAGE_SHIFT 63 /* one page spanning the whole segment */
#define HK_SMALL_MAX ((size_t)8 * 1024)
/* Bigger blocks get a mapping of their own: glibc's default mmap threshold, where a block is big
 * enough that the system calls to map and unmap it are worth giving it back whole. */
#define HK_MEDIUM_MAX ((size_t)128 * 1024)
#define HK_ADDRESS_BITS 47 /* user space on x86-64 and arm64 with 4-level tables */

/* Every block is 16-byte aligned, as glibc's are: programs and compilers (GCC's
 * MALLOC_ABI_ALIGNMENT) count on it even for tiny sizes. So is the smallest block. */
#define HK_BLOCK_ALIGN_SHIFT 4
#define HK_BLOCK_ALIGN ((size_t)1 << HK_BLOCK_ALIGN_SHIFT)

/* Size classes: steps of 16 up to 128, then four classes per power of two up to 128 KiB, so a
 * block wastes less than 16 bytes, or than 20% of itself (rounded up to the 16-byte grain). The
 * last doubling's classes are instead a medium page split in 7, 6, 5 and 4 blocks: the evenly
 * spaced 112 KiB class would leave an eighth of its page unused, and a 100 KB block would cost
 * 131 KB of page where it now costs 105 KB (what `ulimit -v` lets a program have depends on it). */
#define HK_BIN_STEPPED_SHIFT 7 /* sizes up to 2^7 = 128 step by HK_BLOCK_ALIGN, */
#define HK_BIN_STEPPED ((size_t)1 << (HK_BIN_STEPPED_SHIFT - HK_BLOCK_ALIGN_SHIFT)) /* in 8 classes; */
#define HK_BIN_SPLITS_SHIFT 2  /* then each power of two is split */
#define HK_BIN_SPLITS ((size_t)1 << HK_BIN_SPLITS_SHIFT) /* in 4 classes */
#define HK_BIN_COUNT 48        /* 8 stepped, then 4 for each of the 10 doublings from 128 B to 128 KiB */
_Static_assert(HK_BIN_COUNT == HK_BIN_STEPPED + (__builtin_ctzll(HK_MEDIUM_MAX) - HK_BIN_STEPPED_SHIFT) * HK_BIN_SPLITS,
               "the last class is HK_MEDIUM_MAX");
/* Sizes up to HK_DIRECT_MAX are served straight from heap->direct, an entry per 8 bytes of size:
 * the sizes programs ask for most, in a table of 129 pointers per heap. */
#define HK_DIRECT_MAX 1024
#define HK_DIRECT_SHIFT 3
#define HK_DIRECT_STEP ((size_t)1 << HK_DIRECT_SHIFT)
#define HK_DIRECT_COUNT (HK_DIRECT_MAX / HK_DIRECT_STEP + 1)
#define HK_DIRECT_INDEX(size) (((size) + HK_DIRECT_STEP - 1) >> HK_DIRECT_SHIFT)

/* The tag in the segment map for each 4 MiB granule of the address space. */
enum { HK_MAP_NONE = 0, HK_MAP_SEGMENT = 1, HK_MAP_HUGE_ALIGNED = 2, HK_MAP_HUGE_TAIL = 3, HK_MAP_META = 4 };
/* HK_MAP_META: a granule wholly taken by the library's own metadata (tracking tables, the stack
 * depot): never a block, never a root of the leak scan. */

/* What a segment holds: small pages, medium pages, or one huge block. */
typedef enum { HK_SEGMENT_SMALL = 0, HK_SEGMENT_MEDIUM = 1, HK_SEGMENT_HUGE = 2 } hk_segment_kind_t;
#define HK_SEGMENT_PAGED_KINDS 2 /* small and medium: split into pages, listed per heap (heap->segments) */

/* page->flags: any bit set sends a local free to the slow path. */
#define HK_PAGE_IN_FULL 0x01     /* in heap->full; remote frees must notify the owner */
#define HK_PAGE_HAS_ALIGNED 0x02 /* some pointers into it are not block starts */
#define HK_PAGE_RELEASED 0x04    /* back in its segment, free: any free into it is a bad free */
#define HK_PAGE_OBSERVED 0x08    /* a hook is set, or the hardened mode: every free goes generic */

/* page->thread_free is the remote-free stack of remote.h (shared with the pools' chunks): the
 * blocks other threads freed, their count, and HK_REMOTE_NOTIFY (the owner wants to hear of the
 * next remote free: the page is in heap->full). */

/* --------------------------------------------------------------------- types */

/* A free block: its first word links to the next free block, xor-ed with hk_key so that a
 * stray write or a double free is noticed instead of silently followed. */
typedef struct hk_block_s {
    uintptr_t next;
} hk_block_t;

typedef struct hk_heap_s hk_heap_t;

/* Hardened mode: a freed block waits this many frees of its thread before it can be reused, so a
 * dangling pointer does not reach the next object of its size at once (secure.c). */
#define HK_QUARANTINE_SLOTS 64

typedef struct hk_segment_s hk_segment_t;

/* Two cache lines. The first holds everything the owner's malloc and free fast paths read or
 * write (one line per page touched, where the two lines cost a second miss on every free): the
 * owner's list and counts, and the read-mostly fields free checks a block with. The second is
 * written by remote frees (thread_free) and holds what only the slow paths read, so remote
 * traffic does not steal the line the owner allocates from. Remote frees read the first line's
 * fast_free_heap once (to find they are not the fast case): read sharing, a small price at the
 * few percent of frees that cross threads. */
typedef struct hk_page_s {
    /* -- the owner's line: its fast paths */
    hk_block_t *free;       /* the owner's free blocks: it allocates from and frees to this list */
    uint32_t used;          /* blocks handed out, including remote frees not yet collected */
    uint8_t is_zero;        /* every block on `free` is zero except its link word */
    uint8_t mem_dirty;      /* the part not yet carved may hold old contents (else fresh or purged: zero) */
    uint8_t is_purged;      /* free page whose memory was given back to the OS */
    /* Set while hk_page_collect holds the remote stack it took (on no list, counted as used): a
     * leak check that stopped its thread there cannot tell those blocks free (hk_page_free_bitmap).
     * Only the owner writes it, so it lives on the owner's line (in what was padding). */
    uint8_t collecting;
    uint32_t capacity;      /* blocks carved so far (carving is lazy, a few KiB at a time) */
    uint32_t carve_count;   /* blocks one carving adds: an empty kept page carved past them restarts */
    /* The heap whose thread may free into the page on the fast path: the segment's owner while
     * no flag is set, else NULL. hk_page_set_flags keeps it so and hk_segment_abandon clears it,
     * so one load and compare on free stands for the owner check and the test of the flags. */
    _Atomic(hk_heap_t *) fast_free_heap;
    uint8_t *start;         /* first block */
    uint64_t block_inverse; /* 2^64 / block_size, rounded up: block starts are checked by a multiply */
    struct hk_page_s *next, *prev; /* in a bin queue or heap->full */
    /* -- the shared line: thread_free, which other threads' frees push to (and the owner takes
     * from), and fields set when the page is carved or its flags change, read by remote frees */
    _Alignas(HK_CACHE_LINE) hk_remote_t thread_free; /* blocks freed by other threads (remote.h) */
    uint8_t flags;          /* HK_PAGE_*; read by other threads, so accessed atomically */
    uint8_t bin;
    uint8_t in_use;         /* page is carved for a size class (else free in its segment) */
    /* HK_TAIL_*: an empty page its heap kept was carved again from its start (hk_page_restart);
     * while this is not NONE, the memory past its carved blocks holds nothing and anyone holding
     * the segment lock may give it back (the purger, when the owner sleeps); the owner claims it
     * back under that lock before it carves there. */
    _Atomic uint8_t tail_state;
    uint32_t reserved;      /* blocks that fit */
    size_t block_size;
    uint64_t empty_since;   /* ms clock since it holds no block, for the purge delay; 0 = not empty */
} hk_page_t;
_Static_assert(offsetof(hk_page_t, prev) + sizeof(void *) <= HK_CACHE_LINE, "the fast paths' fields share one cache line");
_Static_assert(sizeof(hk_page_t) == 2 * (size_t)HK_CACHE_LINE, "a page record is two cache lines");

/* Room in a huge segment's header for the tracker's one record (track.h checks that it fits). */
#define HK_HUGE_TRACK_BYTES 16

struct hk_segment_s {
    _Atomic(hk_heap_t *) heap; /* owner; NULL when abandoned, or for huge segments */
    uint32_t page_shift; /* 32 bits: the header must stay within two cache lines (see pages[]) */
    hk_segment_kind_t kind;
    uint32_t page_count;
    uint32_t used_pages;
    size_t size;               /* bytes mapped, starting at the segment */
    hk_segment_t *next, *prev; /* heap->segments[kind], segments with free pages first */
    hk_segment_t *all_next, *all_prev; /* the list of all segments (hk_state.all_segments) */
    size_t block_offset;       /* huge: offset of the block from the segment */
    size_t block_size;         /* huge: bytes usable in the block */
    _Atomic uint8_t lock;      /* guards the free pages' state against the background purger */
    /* Huge: its free has begun (set before it waits for the segments lock to leave the list of all
     * segments): a leak check that stopped the freeing thread there tells the block free by it. */
    _Atomic uint8_t huge_freeing;
    int16_t node;              /* the NUMA node it was placed on, HK_NUMA_ANY if none (numa.h) */
    /* Small and medium: pages [0, committed_pages) are mapped for reading and writing, the rest only
     * reserved (segment.c commits more as pages are first handed out). */
    uint16_t committed_pages;
    /* Free pages whose memory is still resident (released, not purged yet): the owner takes one of
     * these before it touches fresh memory in another segment. Atomic: read without the lock. */
    _Atomic uint16_t dirty_pages;
    /* The tracker's (debug/track.c), opaque here: its table of a record per block, or NULL; in a
     * huge segment, room for the one record; and the bytes a huge block was asked for. */
    struct hk_track_rec_s *track;
    _Alignas(8) uint8_t huge_track[HK_HUGE_TRACK_BYTES];
    size_t huge_size;
    /* Transparent huge pages (thp.c): HK_SEGMENT_THP_*, purges counted toward refusing them, and
     * the low 32 bits of the ms clock since the segment is dense (0: it is not). */
    _Atomic uint8_t thp;
    uint8_t thp_purges;
    uint32_t thp_dense_since;
    hk_page_t pages[];
};

/* With the header at two cache lines, a page record's address folds into one scaled index on the
 * free fast path; a longer header costs it three instructions. */
_Static_assert(offsetof(hk_segment_t, pages) == 2 * (size_t)HK_CACHE_LINE, "segment header must stay at 128 bytes");

/* The heap's table of the segments it owns (heap->owned, hk_heap_owns_segment_of): slots by the
 * address's granule number modulo HK_OWNED_SLOTS. */
#define HK_OWNED_SLOTS 128

typedef struct hk_page_queue_s {
    hk_page_t *first, *last;
} hk_page_queue_t;

struct hk_heap_s {
    /* Bytes this thread may still allocate on the fast path before the sampling hook
     * (hk_hooks_t.sample) is owed a look; INT64_MAX when nothing samples. Beside direct[]: the
     * fast path reads both from one cache line. Signed, so that the fast path's whole cost is a
     * subtract from memory and a jump on the sign (the block that takes it below 0 is sampled). */
    int64_t sample_left;
    hk_page_t *direct[HK_DIRECT_COUNT]; /* by HK_DIRECT_INDEX(size): the page serving that size */
    /* Segments this heap owns, by HK_OWNED_SLOT of their address (see hk_heap_owns_segment_of):
     * free's fast path finds a block's segment here with one load, where the segment map takes four. */
    hk_segment_t *owned[HK_OWNED_SLOTS];
    hk_page_queue_t bins[HK_BIN_COUNT];
    hk_page_queue_t full; /* pages with no free block, out of the way of the search */
    _Atomic size_t full_freed; /* remote frees that landed in full pages since we last looked */
    hk_segment_t *segments[HK_SEGMENT_PAGED_KINDS];
    uint64_t purge_deadline; /* ms clock of the next purge pass; 0 = nothing to purge */
    uint64_t thp_deadline;   /* ms clock of the next look at dense segments for huge pages; 0 = none */
    uint32_t slow_calls;     /* allocation slow-path calls, to read the clock only now and then */
    hk_heap_t *next_heap, *prev_heap; /* the list of live heaps (hk_state.heaps), or of free records */
    pthread_t thread;
    uint64_t parked_at; /* ms clock when its thread exited and it was parked (heap_records.c) */
    uint32_t serial; /* 1 for the first thread heap of the process, then counting */
    struct hk_stack_cache_s *stack_cache; /* the tracker's: stacks this thread has seen (track.c) */
    int numa_node;   /* the node its new segments go on (HK_NUMA_ANY: not placed by node) */
    bool numa_fixed; /* a node heap of hk_malloc_node: numa_node never follows the thread */
    /* The hardened mode's quarantine (secure.c): blocks this thread freed, reused only after
     * HK_QUARANTINE_SLOTS more frees. A ring; NULL slots are empty. */
    hk_block_t *quarantine[HK_QUARANTINE_SLOTS];
    uint32_t quarantine_at;
    uint64_t quarantine_draws; /* random bits for the next slots, 6 at a time (quarantine.h) */
    /* hollow.c: bytes of free medium blocks given back beyond the fresh memory carved (the carve
     * that takes it below 0 looks for free blocks to hollow at once) */
    int64_t hollow_credit;
};

/* ----------------------------------------------------------------- globals */

/* The segment map (segmap.c): tags[i] is the tag of granule first + i; the current map is
 * replaced, never changed in place, when the span it covers grows. */
typedef struct hk_segmap_s {
    uintptr_t first; /* granule index (address >> HK_SEGMENT_SHIFT) of tags[0] */
    uintptr_t count; /* granules covered */
    uint8_t tags[];
} hk_segmap_t;
extern hk_internal hk_segmap_t *hk_segmap_current;
extern hk_internal hk_heap_t hk_heap_empty;
/* The thread's heap, &hk_heap_empty until it first needs one (hk_heap_thread_init). A real heap is
 * also the library's name for the thread: unique among live threads, and its record is reused
 * only after the thread's exit ran every subsystem's thread_exit (heap.c), so whatever a
 * subsystem keys by it (the pools' chunk owners) is handed over before the name can come back. */
extern __thread hk_heap_t *hk_heap_tls __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------- cross-file API
 * In layer order: a file calls only those listed before it (and the base). */

/* os.c — the only place that talks to the kernel about memory */
hk_internal size_t hk_os_page_size(void);
hk_internal void *hk_os_map_aligned(size_t size, size_t align, size_t *mapped);
hk_internal void *hk_os_map_aligned_flags(size_t size, size_t align, size_t *mapped, int extra_flags);
hk_internal void *hk_os_reserve_aligned(size_t size, size_t align, size_t *mapped);
hk_internal bool hk_os_commit(void *p, size_t size);
hk_internal void hk_os_unmap(void *p, size_t size);
hk_internal void hk_os_purge(void *p, size_t size);
hk_internal void hk_os_recommit(size_t size);
hk_internal bool hk_os_guard(void *p, size_t size);
hk_internal bool hk_os_unguard(void *p, size_t size);
hk_internal void hk_os_zero_pages(void *p, size_t size);
/* scrub.c: zero whole resident pages (of ps bytes; os.c knows the size, scrub.c calls nothing)
 * by the cheaper store for them (cached or non-temporal) */
hk_internal void hk_scrub_pages(void *p, size_t bytes, size_t ps);
/* scrub.c: the non-temporal way alone (bytes a multiple of 64, p 16-byte aligned) */
hk_internal void hk_scrub_stream(void *p, size_t bytes);
hk_internal void *hk_os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align);
/* Give back the pages of [p, p+size) (page-aligned) that stay committed: the inside of free blocks
 * (hollow.c), faulted in again as zeros when their block is reused. */
hk_internal void hk_os_hollow(void *p, size_t size);
hk_internal bool hk_os_resize_in_place(void *p, size_t old_size, size_t new_size);
hk_internal size_t hk_os_resident(const void *p, size_t size);
hk_internal uint64_t hk_clock_ms(void);
hk_internal void hk_os_account(intptr_t reserved, intptr_t committed); /* byte counts of the statistics */
hk_internal bool hk_os_advise_huge(void *p, size_t size, bool huge); /* MADV_HUGEPAGE or MADV_NOHUGEPAGE */
hk_internal bool hk_os_collapse_huge(void *p, size_t size);          /* MADV_COLLAPSE */

/* decay.c — the decay curve: how much freed memory may stay resident, given when it was freed. The
 * caller keeps one hk_decay_t per pool of retained memory (under its own lock), tells it how many
 * bytes are retained now, and purges what exceeds the limit. Time is the caller's `now` (ms). */
#define HK_DECAY_STEPS 20
#define HK_DECAY_ONE ((uint64_t)1 << 10) /* weights are in 1/1024 */
typedef struct hk_decay_s {
    int64_t window_ms;  /* <0: never purge; 0: purge at once; else bytes unused this long all go */
    uint64_t step_ms;   /* window_ms / HK_DECAY_STEPS */
    uint64_t epoch;     /* ms clock at which the current step began */
    size_t retained;    /* retained bytes at the last look */
    size_t backlog[HK_DECAY_STEPS]; /* bytes that joined in each step: [0] this one, [i] i steps back */
} hk_decay_t;
hk_internal void hk_decay_init(hk_decay_t *d, int64_t window_ms, uint64_t now);
hk_internal size_t hk_decay_limit(hk_decay_t *d, uint64_t now, size_t retained);
hk_internal size_t hk_decay_excess(hk_decay_t *d, uint64_t now, size_t retained);
hk_internal void hk_decay_purged(hk_decay_t *d, size_t retained);

/* thp.c — transparent huge pages for segments that stay dense (HEAPKIT_THP); the segment's
 * code tells it of each change, under the segment's lock. */
enum { HK_SEGMENT_THP_NONE = 0, HK_SEGMENT_THP_ADVISED = 1, HK_SEGMENT_THP_REFUSED = 2, HK_SEGMENT_THP_COLLAPSED = 3 };
/* Advised or collapsed: what the statistics count. */
static inline bool hk_thp_advised(const hk_segment_t *seg) {
    uint8_t state = atomic_load_explicit(&seg->thp, memory_order_relaxed);
    return state == HK_SEGMENT_THP_ADVISED || state == HK_SEGMENT_THP_COLLAPSED;
}
hk_internal void hk_thp_segment_mapped(hk_segment_t *seg);
hk_internal void hk_thp_segment_busy(hk_segment_t *seg, uint64_t now);
hk_internal void hk_thp_segment_purged(hk_segment_t *seg);
/* The background purger's share: collapse the segments auto advised since its last pass. */
hk_internal void hk_thp_collapse_advised(void);
/* A dense segment waiting out HK_THP_DENSE_MS (thp.c): its heap looks again this much later
 * (hk_segment_thp_look, from the allocation slow path), so a segment that filled up and then saw
 * no page change is still found. */
#define HK_THP_LOOK_MS 250
static inline bool hk_thp_waiting(const hk_segment_t *seg) {
    return hk_state.options.thp == HK_THP_AUTO &&
           atomic_load_explicit(&seg->thp, memory_order_relaxed) == HK_SEGMENT_THP_NONE && seg->thp_dense_since != 0;
}
/* Worth the clock read on a page taken: the mode looks at density and this segment is a candidate. */
static inline bool hk_thp_watching(const hk_segment_t *seg) {
    return hk_state.options.thp == HK_THP_AUTO &&
           atomic_load_explicit(&seg->thp, memory_order_relaxed) == HK_SEGMENT_THP_NONE &&
           seg->committed_pages == seg->page_count;
}

/* segmap.c — what lives in each 4 MiB granule of the address space (the map itself is above) */
hk_internal bool hk_segmap_cover(uintptr_t start, size_t size);
hk_internal void hk_segmap_set(uintptr_t start, size_t size, uint8_t tag);
hk_internal void hk_segmap_extent(uintptr_t *lo, uintptr_t *hi);

/* meta.c — memory for the library's own records: whole granules tagged HK_MAP_META */
hk_internal void *hk_meta_map(size_t size);
/* A region of up to `want` bytes, fewer under a tight ulimit -v, at least `least`; *got = its size. */
hk_internal void *hk_meta_map_most(size_t want, size_t least, size_t *got);
hk_internal void hk_meta_unmap(void *p, size_t size);

/* page.c — a page's blocks and free lists; the queues of pages */
/* Carve at most this many bytes of new blocks at a time, so untouched memory stays untouched. */
#define HK_EXTEND_BYTES 4096
#define HK_TAIL_NONE 0   /* the page's uncarved memory is the owner's alone */
#define HK_TAIL_IDLE 1   /* carving restarted on an empty kept page: its uncarved tail may be purged */
#define HK_TAIL_PURGED 2 /* ... and was (its bytes are out of the committed count until claimed) */
hk_internal void hk_page_init(hk_page_t *page, size_t bin);
hk_internal void hk_page_extend(hk_page_t *page);
hk_internal void hk_page_set_block_size(hk_page_t *page, size_t size);
hk_internal void hk_page_restart(hk_page_t *page);
hk_internal uint8_t *hk_page_tail(hk_page_t *page, size_t *size);
hk_internal size_t hk_page_collect(hk_page_t *page);
hk_internal bool hk_page_contains_free(hk_page_t *page, const hk_block_t *b);
hk_internal bool hk_page_free_bitmap(const hk_page_t *page, uint64_t *bits); /* the leak check's */
hk_internal void hk_queue_push_front(hk_page_queue_t *q, hk_page_t *page);
hk_internal void hk_queue_push_back(hk_page_queue_t *q, hk_page_t *page);
hk_internal void hk_queue_remove(hk_page_queue_t *q, hk_page_t *page);

/* A program is idle once nothing was freed or allocated for a purge delay and none of its threads
 * was preempted since (purger.c); for this many delays when one was: a busy thread that the
 * scheduler of a loaded machine kept waiting is not taken for idle. */
#define HK_IDLE_DELAYS 2

/* page_decay.c — the pace of purging free pages: the bytes of free unpurged pages, the decay's
 * budget for the passes of segment.c and the purger, the events that tell a busy program */
hk_internal void hk_page_decay_freed(size_t bytes);
hk_internal void hk_page_decay_reused(size_t bytes);
hk_internal void hk_page_decay_purged(size_t bytes);
hk_internal size_t hk_page_decay_free_dirty(void);
hk_internal uint64_t hk_page_decay_events(void);
hk_internal void hk_page_decay_refresh(uint64_t now);
hk_internal bool hk_page_decay_take(size_t bytes);
hk_internal void hk_page_decay_unusable(size_t bytes);
hk_internal void hk_page_decay_after_fork_child(void);

/* segment.c — segments: their pages' free/used state, the list of all segments, abandoned segments */
hk_internal hk_page_t *hk_segment_page_alloc(hk_heap_t *heap, hk_segment_kind_t kind);
hk_internal void hk_segment_page_release(hk_heap_t *heap, hk_page_t *page);
hk_internal void hk_segment_page_tail_claim(hk_page_t *page);
hk_internal void hk_segment_purge(hk_heap_t *heap, uint64_t now, bool force);
hk_internal void hk_all_segments_add(hk_segment_t *seg);
hk_internal void hk_all_segments_remove(hk_segment_t *seg);
hk_internal void hk_segment_abandon(hk_segment_t *seg);
hk_internal hk_segment_t *hk_segment_take_abandoned(hk_segment_kind_t kind, int node, bool empty_ok);
hk_internal void hk_segment_attach(hk_heap_t *heap, hk_segment_t *seg);
hk_internal void hk_segment_reap_abandoned(bool force);
hk_internal bool hk_segment_trylock(hk_segment_t *seg);
hk_internal void hk_segment_unlock(hk_segment_t *seg);
hk_internal uint64_t hk_segment_purge_due(hk_segment_t *seg, uint64_t now, bool force);
hk_internal void hk_segment_thp_look(hk_heap_t *heap, uint64_t now);

/* hollow.c — the inside of free medium blocks given back as a heap carves fresh medium memory */
hk_internal void hk_hollow_for_carve(hk_heap_t *heap, const hk_page_t *carving, size_t bytes);

/* heap_records.c — thread heap records: live, parked for the next thread when theirs exits, free */
hk_internal hk_heap_t *hk_heap_record_take(int node, bool parked_ok, bool *handed_on); /* a parked heap of node, else a clear one */
hk_internal void hk_heap_record_free(hk_heap_t *heap);                /* its segments were handed over */
hk_internal bool hk_heap_parking(void);                               /* are exiting threads' heaps parked? */
hk_internal bool hk_heap_park(hk_heap_t *heap, uint64_t now);         /* false: off, or no room */
hk_internal void hk_heap_abandon_segments(hk_heap_t *heap);
hk_internal void hk_heap_parked_expire(uint64_t now, bool all);       /* those parked a delay ago, or all */

/* secure.c — the hardened mode (HEAPKIT_SECURE=1): shuffled carving, guard pages, the quarantine */
static inline bool hk_secure(void) { return hk_state.options.secure; }
hk_internal hk_block_t *hk_secure_shuffle(uint8_t *first, size_t n, size_t block_size, hk_block_t *tail);
hk_internal void hk_secure_guard_segment(hk_segment_t *seg);
hk_internal size_t hk_secure_tail_guard(void);
hk_internal size_t hk_secure_huge_offset(size_t offset, bool big_aligned);
hk_internal void hk_secure_huge_guard(hk_segment_t *seg, bool on);
hk_internal void hk_secure_huge_scrub(hk_segment_t *seg);
hk_internal hk_block_t *hk_quarantine_take(hk_heap_t *heap); /* the swap and check: quarantine.h */

/* purger.c — the background thread that gives free memory back after the delay */
hk_internal void hk_purger_start_if_wanted(void);

/* fit.c — medium blocks under a capped address space (ulimit -v: RLIMIT_AS or RLIMIT_DATA), where
 * every byte reserved counts and a size class's rounding is memory the program cannot have.
 * hk_fit_own_mapping: a block of `size` bytes should have a mapping of its own (hk_huge_alloc),
 * which costs less than its size class; never below HK_FIT_OWN_MIN, so that a program does not run
 * into the kernel's limit on the number of mappings (65,530 by default) before it has 2 GiB in
 * such blocks. hk_fit_page_wanted: the new page of `bin` for a block of `size` bytes should be a
 * medium page fitted to that size (hk_fit_page sets it up after hk_page_init); otherwise the
 * caller makes a page of the class and says so with hk_fit_class_page_made. */
#define HK_FIT_OWN_MIN ((size_t)32 * 1024)
hk_internal bool hk_fit_own_mapping(size_t size);
hk_internal bool hk_fit_page_wanted(size_t bin, size_t size);
hk_internal void hk_fit_page(hk_page_t *page, size_t size);
hk_internal void hk_fit_class_page_made(size_t bin);

/* heap.c — thread heaps: the allocation slow path, thread exit, adoption */
hk_internal hk_heap_t *hk_heap_thread_init(void);
hk_internal hk_page_t *hk_heap_find_page(hk_heap_t *heap, size_t bin, size_t size);
hk_internal void hk_heap_page_retire(hk_heap_t *heap, hk_page_t *page);
hk_internal void hk_heap_page_unfull(hk_heap_t *heap, hk_page_t *page);
hk_internal void hk_heap_collect(hk_heap_t *heap, bool force);
hk_internal void hk_heap_maybe_collect(hk_heap_t *heap);

/* huge_cache.c — freed huge mappings kept for reuse, in at most HK_HUGE_CACHE_EXTENTS extents: few
 * enough to scan under the lock on every huge malloc and free; enough for the big buffers a
 * program juggles at once. */
#define HK_HUGE_CACHE_EXTENTS 16
hk_internal uint8_t *hk_huge_cache_take(size_t needed, size_t *size, size_t *dirty, int node);
hk_internal void hk_huge_cache_put(uint8_t *base, size_t size, int node);
/* Whether a freed mapping of `size` bytes would be kept by the cache (else put unmaps it). */
hk_internal bool hk_huge_cache_keeps(size_t size);
hk_internal void hk_huge_purge(bool force);
hk_internal size_t hk_huge_cached(void);
hk_internal uint64_t hk_huge_last_alloc(void);
hk_internal size_t hk_huge_cache_extents(uintptr_t *bases, size_t *sizes, size_t cap);

/* huge.c — blocks over 128 KiB, each in a mapping of its own */
hk_internal void *hk_huge_alloc(size_t size, size_t align, bool zero);
hk_internal void *hk_huge_alloc_node(size_t size, size_t align, bool zero, int node);
/* alloc.c: the allocator under heap checking's front (hk_hooks_t.front), which calls these for
 * the blocks it wraps: no front, the hooks as usual (a sampled profile still counts the blocks).
 * hk_core_alloc_plain: no front and no sampling, for the sampler's own allocation. */
hk_internal void *hk_core_alloc(size_t size, bool zero);
hk_internal void *hk_core_alloc_plain(size_t size, bool zero);
hk_internal void hk_core_free(void *p);
hk_internal size_t hk_core_usable(const void *p);
/* The same on heap checking's hot paths: hk_core_alloc_sized also tells the usable bytes (no
 * hk_core_usable after it); hk_core_free_block frees a block start known to be live. */
hk_internal void *hk_core_alloc_sized(size_t size, size_t *usable);
hk_internal void hk_core_free_block(void *p);
hk_internal void hk_huge_free(hk_segment_t *seg);
hk_internal void *hk_huge_realloc(hk_segment_t *seg, size_t size);
hk_internal hk_segment_t *hk_huge_segment_of(uintptr_t a);

/* numa_api.c — explicit placement (the hk_ calls are in heapkit.h): an aligned block on node
 * (HK_NUMA_ANY: the calling thread's), for pools and arenas created with HK_ON_NODE */
hk_internal void *hk_numa_aligned_alloc(size_t align, size_t size, int node);

/* ------------------------------------------------------------- inline helpers */

static inline uintptr_t hk_encode(const void *p) { return (uintptr_t)p ^ hk_key; }
static inline hk_block_t *hk_decode(uintptr_t w) { return (hk_block_t *)(w ^ hk_key); }

/* One unsigned compare both bounds-checks the map and rejects addresses beyond the 47 bits. */
static inline uint8_t hk_segmap_get(uintptr_t a) {
    const hk_segmap_t *m = __atomic_load_n(&hk_segmap_current, __ATOMIC_ACQUIRE);
    uintptr_t i = (a >> HK_SEGMENT_SHIFT) - m->first;
    if (i >= m->count) return HK_MAP_NONE;
    return __atomic_load_n(&m->tags[i], __ATOMIC_RELAXED);
}

/* The free fast path's test, "a granule of small or medium pages": a plain read of the tag, which
 * folds into one compare with memory where the atomic load takes a load and a compare. No race
 * for a valid pointer: its tag was stored before the block was handed out, and a segment is not
 * unmapped while a block in it is live; an invalid pointer racing with its granule's mapping
 * reads one tag or the other and the generic path checks it again. */
static inline bool hk_segmap_is_segment(uintptr_t a) {
    const hk_segmap_t *m = __atomic_load_n(&hk_segmap_current, __ATOMIC_ACQUIRE);
    uintptr_t i = (a >> HK_SEGMENT_SHIFT) - m->first;
    return i < m->count && m->tags[i] == HK_MAP_SEGMENT;
}

static inline hk_segment_t *hk_ptr_segment(const void *p) {
    return (hk_segment_t *)((uintptr_t)p & ~(uintptr_t)HK_SEGMENT_MASK);
}

static inline hk_page_t *hk_segment_page_of(hk_segment_t *seg, const void *p) {
    return &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift];
}

static inline hk_heap_t *hk_segment_owner(hk_segment_t *seg) {
    return atomic_load_explicit(&seg->heap, memory_order_relaxed);
}

/* The heap's table of the segments it owns (heap->owned): slot HK_OWNED_SLOT(a) holds
 * HK_OWNED_NONE or a segment whose owner is the heap (so mapped, small or medium). Empty is
 * HK_OWNED_NONE, not NULL, because an address below 4 MiB has no segment (NULL) and must not match
 * an empty slot; no segment is at address 1. Only the owner's thread reads and writes its table (a
 * parked heap's, which no thread runs, the thread that expires it). A slot is filled on free's
 * slow path, where the segment map and the segment's owner say so, and emptied when its segment
 * is abandoned or unmapped; two segments of one slot take turns. free's fast path so finds a
 * block's segment to be its own with one load (and a compare) where the segment map took four:
 * bench/RESULTS.md, "speed branch, third pass". */
#define HK_OWNED_SLOT(a) (((uintptr_t)(a) >> HK_SEGMENT_SHIFT) & (HK_OWNED_SLOTS - 1))
#define HK_OWNED_NONE ((hk_segment_t *)(uintptr_t)1)

/* Is p in a segment this heap owns (by its table; false may still be one not in it)? */
static inline bool hk_heap_owns_segment_of(const hk_heap_t *heap, const void *p) {
    return heap->owned[HK_OWNED_SLOT(p)] == hk_ptr_segment(p);
}

/* A heap record made or cleared: every slot empty. The value is hidden from the compiler, which
 * would otherwise load its vector of HK_OWNED_NONE from .rodata: every thread's first heap would
 * make a plain process map all of .rodata (56 KiB, see hk_plain_const in base.h). */
static inline void hk_heap_owned_init(hk_heap_t *heap) {
    hk_segment_t *none = HK_OWNED_NONE;
    __asm__("" : "+r"(none));
    for (size_t i = 0; i < HK_OWNED_SLOTS; i++) heap->owned[i] = none;
}

/* seg is the heap's (its owner, checked by the caller, the owner's thread): into its slot. */
static inline void hk_heap_owned_note(hk_heap_t *heap, hk_segment_t *seg) { heap->owned[HK_OWNED_SLOT(seg)] = seg; }

/* seg leaves the heap (abandoned or unmapped): out of its slot. */
static inline void hk_heap_owned_forget(hk_heap_t *heap, const hk_segment_t *seg) {
    if (heap->owned[HK_OWNED_SLOT(seg)] == seg) heap->owned[HK_OWNED_SLOT(seg)] = HK_OWNED_NONE;
}

static inline uint8_t hk_page_flags(const hk_page_t *page) {
    return __atomic_load_n(&page->flags, __ATOMIC_RELAXED);
}

/* Only the page's owner (or a thread adopting its segment) sets the flags. */
static inline void hk_page_set_flags(hk_page_t *page, uint8_t flags) {
    __atomic_store_n(&page->flags, flags, __ATOMIC_RELAXED);
    hk_heap_t *fast = flags == 0 ? hk_segment_owner(hk_ptr_segment(page)) : NULL;
    atomic_store_explicit(&page->fast_free_heap, fast, memory_order_relaxed);
}

/* The heap that frees into the page without a detour (hk_free's fast path), or NULL. */
static inline hk_heap_t *hk_page_fast_free_heap(hk_page_t *page) {
    return atomic_load_explicit(&page->fast_free_heap, memory_order_relaxed);
}

/* The index of the block p points into: offset / block_size by a multiply with the rounded-up
 * inverse, exact for every offset below 2^32 (pages are far smaller). */
static inline uint64_t hk_page_block_index(const hk_page_t *page, const void *p) {
    uint64_t offset = (uint64_t)((const uint8_t *)p - page->start);
    return (uint64_t)(((unsigned __int128)offset * page->block_inverse) >> 64);
}

/* Is p the start of a block of the page (at or after its first block)? The offset is a multiple of
 * the block size iff offset * block_inverse, modulo 2^64, is below block_inverse (Lemire, Kaser and
 * Kurz's divisibility test, exact for offsets below 2^32): one multiply and a compare, where the
 * index and back would take a wide multiply, a multiply and an add. */
static inline bool hk_page_is_block_start(const hk_page_t *page, const void *p) {
    uint64_t offset; /* the subtraction's borrow is the test p >= start */
    if (__builtin_sub_overflow((uintptr_t)p, (uintptr_t)page->start, &offset)) return false;
    return offset * page->block_inverse < page->block_inverse;
}

/* A block whose link word decodes to an address in its own segment (or to NULL) is, almost
 * surely, already free: live data xor-ed with a random key lands there with odds ~2^-40. */
static inline bool hk_block_looks_free(const hk_block_t *b, const hk_segment_t *seg) {
    uintptr_t w = b->next ^ hk_key;
    return w == 0 || hk_ptr_segment((void *)w) == seg;
}

/* The free fast path's form of the same test, one compare instead of two: the link word's
 * segment bits are a subset of seg's (0 and seg itself among them). It says "may be free" of a
 * few more live blocks (odds ~2^-29 for data that looks random: seg's address has ~29 zero bits
 * above the granule), which only take the slow path, where hk_block_looks_free decides; never
 * the other way, so every block hk_block_looks_free calls free is caught here too. */
static inline bool hk_block_may_be_free(const hk_block_t *b, const hk_segment_t *seg) {
    uintptr_t high = (b->next ^ hk_key) & ~(uintptr_t)HK_SEGMENT_MASK;
    return (high | (uintptr_t)seg) == (uintptr_t)seg;
}

/* corruption.c — what the core does when its own data does not add up: one line naming the page,
 * the size class and the likely cause, then abort (never a fault inside the library). */
hk_internal bool hk_page_link_valid(const hk_page_t *page, uintptr_t next);
hk_internal hk_block_t *hk_page_pop_checked(hk_page_t *page);
hk_internal hk_block_t *hk_page_link_checked(hk_page_t *page, const hk_block_t *b, uintptr_t next);
hk_internal _Noreturn void hk_corrupt_block(const hk_page_t *page, const void *block, const char *what,
                                            const char *cause);
hk_internal _Noreturn void hk_corrupt_page(const hk_page_t *page, const char *what);
hk_internal _Noreturn void hk_page_check_failed(const hk_page_t *page);

/* Pop a block (false: the link needs the exact check of hk_page_pop_checked, nothing was popped);
 * b is the head, page->free, known not to be empty. The link is checked before it becomes
 * the list's head, so a block written after it was freed (or overflowed into) stops the program
 * here with a message instead of handing out, or faulting on, whatever the stray write put there.
 * The fast check is "the next block is within the same 64 KiB as this one": one xor and a shift,
 * exact for small pages, which are 64 KiB aligned; NULL (the end of the list) and the blocks of
 * medium pages take the precise check in hk_page_pop_checked. */
static inline bool hk_page_pop_head(hk_page_t *page, hk_block_t *b, hk_block_t **out) {
    uintptr_t next = b->next ^ hk_key;
    if (hk_unlikely(((next ^ (uintptr_t)b) >> HK_SMALL_PAGE_SHIFT) != 0)) return false;
    page->free = (hk_block_t *)next;
    /* The next block's link is the next pop's first load, and its line the program's first write
     * after that malloc. Where a list is not in address order (the hardened mode's shuffled
     * carving and quarantine, blocks freed long ago) that line is a miss no prefetcher foresees;
     * asked for now, it arrives while the program works (hardened `frag`: 0.90x the time,
     * bench/RESULTS.md "Hardened mode: each protection's cost"). A prefetch never faults, so the
     * end of the list (NULL) needs no test. */
    __builtin_prefetch((const void *)next, 1);
    page->used++;
    b->next = 0; /* so a free of a block never written to does not look like a double free */
    *out = b;
    return true;
}

/* The same, reading the head: b = page->free, which must not be empty. */
static inline bool hk_page_pop_quick(hk_page_t *page, hk_block_t **out) { return hk_page_pop_head(page, page->free, out); }

/* The whole pop again, out of line, when the quick check fails: the fast paths then keep no
 * register across a call. */
static inline hk_block_t *hk_page_pop(hk_page_t *page) {
    hk_block_t *b;
    if (hk_likely(hk_page_pop_quick(page, &b))) return b;
    return hk_page_pop_checked(page);
}

/* The last doubling's classes: a medium page's share for 7, 6, 5 and 4 blocks, 16-byte aligned. */
#define HK_BIN_PAGE_SHARE(n) ((((size_t)1 << HK_MEDIUM_PAGE_SHIFT) / (n)) & ~(HK_BLOCK_ALIGN - 1))
#define HK_BIN_LAST_DOUBLING (HK_BIN_COUNT - HK_BIN_SPLITS)

/* Size classes: the bin of a size (see HK_BIN_STEPPED). */
static inline size_t hk_bin_of(size_t size) {
    if (size <= ((size_t)1 << HK_BIN_STEPPED_SHIFT))
        return size <= HK_BLOCK_ALIGN ? 0 : ((size + HK_BLOCK_ALIGN - 1) >> HK_BLOCK_ALIGN_SHIFT) - 1;
    if (size > HK_MEDIUM_MAX / 2)
        return HK_BIN_LAST_DOUBLING + (size > HK_BIN_PAGE_SHARE(7)) + (size > HK_BIN_PAGE_SHARE(6)) +
               (size > HK_BIN_PAGE_SHARE(5));
    size_t s = size - 1;
    size_t b = (8 * sizeof(unsigned long) - 1) - (size_t)__builtin_clzl(s); /* floor(log2(s)) */
    return HK_BIN_STEPPED + (b - HK_BIN_STEPPED_SHIFT) * HK_BIN_SPLITS +
           ((s >> (b - HK_BIN_SPLITS_SHIFT)) & (HK_BIN_SPLITS - 1));
}

/* Size classes: the block size of a bin. */
static inline size_t hk_bin_size(size_t bin) {
    if (bin < HK_BIN_STEPPED) return (bin + 1) * HK_BLOCK_ALIGN;
    if (bin >= HK_BIN_LAST_DOUBLING) return HK_BIN_PAGE_SHARE(HK_BIN_COUNT + 3 - bin); /* 7, 6, 5, 4 blocks */
    size_t i = bin - HK_BIN_STEPPED, b = HK_BIN_STEPPED_SHIFT + i / HK_BIN_SPLITS;
    return ((size_t)1 << b) + ((i % HK_BIN_SPLITS) + 1) * ((size_t)1 << (b - HK_BIN_SPLITS_SHIFT));
}

/* The numbers of a page record that must agree, checked on the slow paths before they are
 * trusted: its size class, that its blocks (by their size and number) lie in its own stretch of
 * the segment, and, for the owner (`owner`: the calling thread's heap owns the page), its carving
 * and its count of blocks handed out. A few compares, inline: it runs on
 * every generic call and every hardened free. Huge pages have nothing to compare. */
static inline void hk_page_check_at(const hk_segment_t *seg, const hk_page_t *page, uintptr_t lo, bool owner);
static inline void hk_page_check(const hk_page_t *page, bool owner) {
    hk_segment_t *seg = hk_ptr_segment(page);
    if (hk_unlikely(seg->kind == HK_SEGMENT_HUGE)) return;
    hk_page_check_at(seg, page, (uintptr_t)seg + ((uintptr_t)(page - seg->pages) << seg->page_shift), owner);
}

/* The same for a small or medium page of seg whose stretch of it starts at lo (known to a caller
 * that found the page from an address in it, without the division back from the record). */
static inline void hk_page_check_at(const hk_segment_t *seg, const hk_page_t *page, uintptr_t lo, bool owner) {
    uintptr_t start = (uintptr_t)page->start;
    if (hk_unlikely(page->bin >= HK_BIN_COUNT || start < lo ||
                    start - lo + (uintptr_t)page->reserved * page->block_size > ((uintptr_t)1 << seg->page_shift)))
        hk_page_check_failed(page);
    /* The counts are the owner's (its cache line, written without atomics): only it reads them. */
    if (owner && hk_unlikely(page->capacity > page->reserved || page->used > page->capacity))
        hk_page_check_failed(page);
}

/* ------------------------------------------------------------ segment geometry */

/* The header is rounded to the biggest small block (8 KiB) so that blocks of power-of-two sizes
 * up to it stay naturally aligned in page 0 too. */
static inline size_t hk_segment_header_size(uint32_t page_count) {
    return hk_align_up(sizeof(hk_segment_t) + page_count * sizeof(hk_page_t), HK_SMALL_MAX);
}

/* A huge segment's header (the segment and its one page record), to a whole cache line: the block
 * that follows it starts on a line of its own. */
static inline size_t hk_huge_header_size(void) {
    return hk_align_up(sizeof(hk_segment_t) + sizeof(hk_page_t), HK_CACHE_LINE);
}

static inline hk_segment_t *hk_page_segment(const hk_page_t *page) { return hk_ptr_segment(page); }

/* The memory of a page: its blocks (page 0 starts after the segment header). */
static inline uint8_t *hk_page_area(const hk_page_t *page, size_t *size) {
    hk_segment_t *seg = hk_page_segment(page);
    if (seg->kind == HK_SEGMENT_HUGE) {
        *size = seg->block_size;
        return (uint8_t *)seg + seg->block_offset;
    }
    size_t index = (size_t)(page - seg->pages);
    uint8_t *start = (uint8_t *)seg + (index << seg->page_shift);
    uint8_t *end = start + ((size_t)1 << seg->page_shift);
    if (index == 0) start = (uint8_t *)seg + hk_segment_header_size(seg->page_count);
    if (hk_unlikely(hk_state.options.secure) && index == seg->page_count - 1) end -= hk_secure_tail_guard();
    *size = (size_t)(end - start);
    return start;
}

/* Memory became free: wake the purger, or ask for it to be started at the next safe point
 * (starting a thread allocates, which must not happen in the middle of a heap update; see
 * hk_purger_start_if_wanted). Inline, so the layers that free memory need not call up into the
 * purger, which calls them. */
static inline void hk_purger_notify(void) {
    if (!hk_state.options.purge_thread || hk_state.options.purge_delay_ms <= 0) return;
    if (atomic_load_explicit(&hk_state.purger_pending, memory_order_relaxed)) return;
    atomic_store_explicit(&hk_state.purger_pending, true, memory_order_release);
    int state = atomic_load_explicit(&hk_state.purger_state, memory_order_acquire);
    if (state == HK_PURGER_NOT_STARTED) {
        atomic_compare_exchange_strong(&hk_state.purger_state, &state, HK_PURGER_WANTED);
    } else if (state == HK_PURGER_RUNNING) {
        pthread_mutex_lock(&hk_state.purger_lock);
        pthread_cond_signal(&hk_state.purger_wake);
        pthread_mutex_unlock(&hk_state.purger_lock);
    }
}

#endif /* HK_CORE_H */
