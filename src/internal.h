/* internal.h — heapkit's internal types, constants and the inline fast paths.
 * Layers (bottom up): os, segment, page, heap, huge, alloc; plus format, options, stats, init.
 * Glossary: a segment is a 4 MiB aligned region split into pages; a page holds blocks of one size. */
#ifndef HK_INTERNAL_H
#define HK_INTERNAL_H

#include "heapkit.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define hk_likely(x) __builtin_expect(!!(x), 1)
#define hk_unlikely(x) __builtin_expect(!!(x), 0)
#define hk_internal __attribute__((visibility("hidden")))
#define hk_noinline __attribute__((noinline))
#define hk_cold __attribute__((cold, noinline))

/* ------------------------------------------------------------------ geometry
 * Segments are 4 MiB and 4 MiB aligned, so the segment of any block is one mask away.
 * Small blocks (<= 8 KiB) live in 64 KiB pages, medium (<= 128 KiB) in 512 KiB pages;
 * bigger ("huge") blocks get a segment of their own, mapped to size. */
#define HK_SEGMENT_SHIFT 22
#define HK_SEGMENT_SIZE ((size_t)1 << HK_SEGMENT_SHIFT)
#define HK_SEGMENT_MASK (HK_SEGMENT_SIZE - 1)
#define HK_SMALL_PAGE_SHIFT 16
#define HK_MEDIUM_PAGE_SHIFT 19
#define HK_HUGE_PAGE_SHIFT 63 /* one page spanning the whole segment */
#define HK_SMALL_MAX ((size_t)8 * 1024)
#define HK_MEDIUM_MAX ((size_t)128 * 1024)
#define HK_MAX_PAGES (HK_SEGMENT_SIZE >> HK_SMALL_PAGE_SHIFT)
#define HK_ADDRESS_BITS 47 /* user space on x86-64 and arm64 with 4-level tables */

/* Size classes: steps of 16 up to 128, then four classes per power of two up to 128 KiB, so a
 * block wastes less than 16 bytes, or than 20% of itself. Every block is 16-byte aligned, as glibc's are: programs
 * and compilers (GCC's MALLOC_ABI_ALIGNMENT) count on it even for tiny sizes. */
#define HK_BIN_COUNT 48
#define HK_DIRECT_MAX 1024 /* sizes served straight from heap->direct */
#define HK_DIRECT_COUNT (HK_DIRECT_MAX / 8 + 1)

/* The tag in the segment map for each 4 MiB granule of the address space. */
enum { HK_MAP_NONE = 0, HK_MAP_SEGMENT = 1, HK_MAP_HUGE_ALIGNED = 2, HK_MAP_HUGE_TAIL = 3, HK_MAP_META = 4 };
/* HK_MAP_META: a granule wholly taken by the library's own metadata (tracking tables, the stack
 * depot): never a block, never a root of the leak scan. */

typedef enum { HK_KIND_SMALL = 0, HK_KIND_MEDIUM = 1, HK_KIND_HUGE = 2 } hk_kind_t;
#define HK_SEGMENTED_KINDS 2

/* page->flags: any bit set sends a local free to the slow path. */
#define HK_PAGE_IN_FULL 0x01     /* in heap->full; remote frees must notify the owner */
#define HK_PAGE_HAS_ALIGNED 0x02 /* some pointers into it are not block starts */
#define HK_PAGE_RETIRED 0x04     /* free in its segment: any free into it is a bad free */
#define HK_PAGE_TRACKED 0x08     /* leak tracking is on: every free goes where the tracker sees it */

/* page->thread_free packs three things in a word: the head of the remote-free stack (a user-space
 * block address, below 2^47 and 16-byte aligned), in the low bit HK_NOTIFY (the owner wants to
 * hear of the next remote free), and in the top 16 bits the number of blocks on the stack, so
 * the owner can take the whole stack without walking it (a page holds at most 4096 blocks). */
#define HK_NOTIFY ((uintptr_t)1)
#define HK_TF_COUNT_SHIFT 48
#define HK_TF_HEAD(tf) ((hk_block_t *)((tf) & (((uintptr_t)1 << HK_TF_COUNT_SHIFT) - 1) & ~HK_NOTIFY))
#define HK_TF_COUNT(tf) ((size_t)((tf) >> HK_TF_COUNT_SHIFT))

/* --------------------------------------------------------------------- types */

/* A free block: its first word links to the next free block, xor-ed with hk_key so that a
 * stray write or a double free is noticed instead of silently followed. */
typedef struct hk_block_s {
    uintptr_t next;
} hk_block_t;

typedef struct hk_heap_s hk_heap_t;
typedef struct hk_stack_cache_s hk_stack_cache_t;

/* What the tracker knows of a live block (track.c); one per block, in a table beside its segment.
 * A record is all zero while its block is free. */
typedef struct hk_track_rec_s {
    uint32_t stack;      /* allocation stack in the depot; 0 = the block is not live */
    uint32_t size;       /* bytes asked for (huge blocks: see hk_segment_s.huge_size) */
    uint32_t thread;     /* serial number of the allocating thread's heap */
    uint16_t label;      /* pool or arena name, 0 = none */
    uint16_t offset : 12; /* the pointer handed out minus the block start, in 16-byte units */
    uint16_t mark : 3;   /* leak scan colour */
    uint16_t reported : 1; /* listed as a leak by an earlier check */
} hk_track_rec_t;
typedef struct hk_segment_s hk_segment_t;

/* Two cache lines: the first is written only by the owner; the second is read by every thread
 * that frees into the page and written by remote frees, so remote traffic does not steal the
 * line the owner allocates from. */
typedef struct hk_page_s {
    /* -- the owner's line */
    hk_block_t *free;       /* the owner's free blocks: it allocates from and frees to this list */
    uint32_t used;          /* blocks handed out, including remote frees not yet collected */
    uint8_t is_zero;        /* every block on `free` is zero except its link word */
    uint8_t mem_is_zero;    /* the part not yet carved is zero (fresh or purged memory) */
    uint8_t is_purged;      /* free page whose memory was given back to the OS */
    uint32_t capacity;      /* blocks carved so far (carving is lazy, a few KiB at a time) */
    struct hk_page_s *next, *prev; /* in a bin queue or heap->full */
    uint64_t retired_at;    /* ms clock when the page became free, for the purge delay */
    /* -- the shared line: set when the page is carved, then read-mostly, but thread_free */
    _Alignas(64) _Atomic uintptr_t thread_free; /* blocks freed by other threads: head, count, HK_NOTIFY */
    uint8_t flags;          /* HK_PAGE_*; read by other threads, so accessed atomically */
    uint8_t bin;
    uint8_t in_use;         /* page is carved for a size class (else free in its segment) */
    uint32_t reserved;      /* blocks that fit */
    size_t block_size;
    uint64_t block_inverse; /* 2^64 / block_size, rounded up: block starts are checked by a multiply */
    uint8_t *start;         /* first block */
} hk_page_t;

struct hk_segment_s {
    _Atomic(hk_heap_t *) heap; /* owner; NULL when abandoned, or for huge segments */
    uint32_t page_shift; /* 32 bits: the header must stay within two cache lines (see pages[]) */
    hk_kind_t kind;
    uint32_t page_count;
    uint32_t used_pages;
    size_t size;               /* bytes mapped, starting at the segment */
    hk_segment_t *next, *prev; /* heap->segments[kind], segments with free pages first */
    hk_segment_t *all_next, *all_prev; /* the process-wide registry */
    size_t block_offset;       /* huge: offset of the block from the segment */
    size_t block_size;         /* huge: bytes usable in the block */
    uint64_t cached_at;        /* huge: ms clock when put in the cache */
    _Atomic uint8_t lock;      /* guards the free pages' state against the background purger */
    hk_track_rec_t *track;     /* leak tracking: a record per block (huge: &huge_track), or NULL */
    hk_track_rec_t huge_track;
    size_t huge_size;          /* huge: bytes asked for */
    hk_page_t pages[];
};

/* With the header at two cache lines, a page record's address folds into one scaled index on the
 * free fast path; a longer header costs it three instructions. */
_Static_assert(offsetof(hk_segment_t, pages) == 128, "segment header must stay at 128 bytes");

typedef struct hk_page_queue_s {
    hk_page_t *first, *last;
} hk_page_queue_t;

struct hk_heap_s {
    hk_page_t *direct[HK_DIRECT_COUNT]; /* by (size+7)/8: the page serving that size */
    hk_page_queue_t bins[HK_BIN_COUNT];
    hk_page_queue_t full; /* pages with no free block, out of the way of the search */
    _Atomic size_t full_freed; /* remote frees that landed in full pages since we last looked */
    hk_segment_t *segments[HK_SEGMENTED_KINDS];
    uint64_t purge_deadline; /* ms clock of the next purge pass; 0 = nothing to purge */
    uint32_t slow_calls;     /* allocation slow-path calls, to read the clock only now and then */
    hk_heap_t *next_heap, *prev_heap; /* registry of live heaps */
    pthread_t thread;
    uint32_t serial; /* 1 for the first thread heap of the process, then counting */
    hk_stack_cache_t *stack_cache; /* leak tracking: stacks this thread has seen (track.c) */
};

/* ----------------------------------------------------------------- globals */

typedef struct hk_options_s {
    bool stats;
    const char *stats_file;
    int64_t purge_delay_ms; /* <0: never purge */
    size_t huge_cache;      /* bytes of freed huge blocks kept for reuse */
    bool abort_on_error;
    bool verbose;
    bool purge_thread; /* give free memory back from a background thread, even when idle */
    bool leaks;        /* track every block and check for leaks at exit */
    int64_t stack_depth;   /* frames kept per allocation stack */
    const char *leak_dir;  /* write raw leak reports there (else a plain report to stderr) */
    int64_t leak_signal;   /* check for leaks on this signal; 0 = none */
} hk_options_t;

typedef struct hk_state_s {
    _Atomic int init_state; /* 0 = not started, 1 = in progress, 2 = done */
    hk_options_t options;
    pthread_key_t thread_key;
    pthread_mutex_t heaps_lock; /* heap registry and the pool of free heap records */
    hk_heap_t *heaps;
    hk_heap_t *free_heaps;
    size_t heap_count;
    uint32_t heap_serial; /* serial numbers handed out so far */
    pthread_mutex_t segments_lock; /* registry of all segments, the abandoned list */
    hk_segment_t *all_segments;
    hk_segment_t *abandoned, *abandoned_tail; /* a queue: the oldest is adopted first */
    _Atomic size_t abandoned_count;
    size_t segment_count;
    pthread_mutex_t huge_lock;
    _Atomic size_t reserved, committed, committed_peak; /* bytes, kept by the os layer */
    _Atomic size_t meta_reserved; /* bytes mapped for the library's own records */
    _Atomic size_t huge_live;
    pthread_mutex_t purger_lock; /* with purger_wake: the background purger sleeps on it */
    pthread_cond_t purger_wake;
    _Atomic int purger_state;    /* 0 = not started, 1 = wanted, 2 = running */
    _Atomic bool purger_pending; /* memory waits to be purged */
} hk_state_t;

extern hk_internal hk_state_t hk_state;
extern hk_internal uintptr_t hk_key;
extern hk_internal uint8_t hk_segmap[(size_t)1 << (HK_ADDRESS_BITS - HK_SEGMENT_SHIFT)];
extern hk_internal hk_heap_t hk_heap_empty;
extern hk_internal hk_page_t hk_page_empty;
extern __thread hk_heap_t *hk_heap_tls __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------- cross-file API */

/* os.c — the only place that talks to the kernel about memory */
hk_internal size_t hk_os_page_size(void);
hk_internal void *hk_os_map_aligned(size_t size, size_t align, size_t *mapped);
hk_internal void hk_os_unmap(void *p, size_t size);
hk_internal void hk_os_purge(void *p, size_t size);
hk_internal void hk_os_recommit(size_t size);
hk_internal void *hk_os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align);
hk_internal bool hk_os_resize_in_place(void *p, size_t old_size, size_t new_size);
hk_internal size_t hk_os_resident(const void *p, size_t size);
hk_internal uint64_t hk_clock_ms(void);
hk_internal void *hk_meta_map(size_t size); /* 4 MiB-aligned, granules tagged HK_MAP_META */
hk_internal void hk_meta_unmap(void *p, size_t size);

/* format.c — printf without malloc */
typedef struct hk_buf_s {
    char *data;
    size_t cap, len; /* len counts what would have been written, like snprintf */
} hk_buf_t;
/* Format into out like snprintf: at most cap bytes, no NUL; returns the full length. */
hk_internal size_t hk_format(char *out, size_t cap, const char *fmt, va_list ap);
hk_internal void hk_buf_printf(hk_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
hk_internal void hk_buf_vprintf(hk_buf_t *b, const char *fmt, va_list ap);
hk_internal void hk_buf_bytes(hk_buf_t *b, size_t bytes); /* "12.5 MiB" */
hk_internal void hk_write_all(int fd, const char *s, size_t n);
hk_internal void hk_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
hk_internal void hk_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* options.c */
hk_internal void hk_options_init(hk_options_t *o);

/* segment.c */
hk_internal hk_page_t *hk_segment_page_alloc(hk_heap_t *heap, hk_kind_t kind);
hk_internal void hk_segment_page_free(hk_heap_t *heap, hk_page_t *page);
hk_internal void hk_segment_purge(hk_heap_t *heap, uint64_t now, bool force);
hk_internal void hk_segment_register(hk_segment_t *seg);
hk_internal void hk_segment_unregister(hk_segment_t *seg);
hk_internal void hk_segment_abandon(hk_segment_t *seg);
hk_internal hk_segment_t *hk_segment_take_abandoned(hk_kind_t kind);
hk_internal void hk_segment_attach(hk_heap_t *heap, hk_segment_t *seg);
hk_internal void hk_segment_reap_abandoned(void);
hk_internal uint8_t *hk_page_area(const hk_page_t *page, size_t *size);
hk_internal hk_segment_t *hk_page_segment(const hk_page_t *page);
hk_internal void hk_segment_lock(hk_segment_t *seg);
hk_internal bool hk_segment_trylock(hk_segment_t *seg);
hk_internal void hk_segment_unlock(hk_segment_t *seg);
hk_internal uint64_t hk_segment_purge_due(hk_segment_t *seg, uint64_t now, bool force);

/* purger.c — the background thread that gives free memory back after the delay */
hk_internal void hk_purger_notify(void);
hk_internal void hk_purger_start_if_wanted(void);
hk_internal void hk_purger_after_fork_child(void);

/* page.c */
hk_internal void hk_page_init(hk_page_t *page, size_t bin);
hk_internal void hk_page_extend(hk_page_t *page);
hk_internal size_t hk_page_collect(hk_page_t *page);
hk_internal bool hk_page_contains_free(hk_page_t *page, const hk_block_t *b);
hk_internal void hk_queue_push_front(hk_page_queue_t *q, hk_page_t *page);
hk_internal void hk_queue_push_back(hk_page_queue_t *q, hk_page_t *page);
hk_internal void hk_queue_remove(hk_page_queue_t *q, hk_page_t *page);

/* heap.c */
hk_internal hk_heap_t *hk_heap_thread_init(void);
hk_internal void hk_heap_thread_done(void *heap);
hk_internal hk_page_t *hk_heap_find_page(hk_heap_t *heap, size_t bin);
hk_internal void hk_heap_page_retire(hk_heap_t *heap, hk_page_t *page);
hk_internal void hk_heap_page_unfull(hk_heap_t *heap, hk_page_t *page);
hk_internal void hk_heap_queue_changed(hk_heap_t *heap, size_t bin);
hk_internal void hk_heap_adopt(hk_heap_t *heap, hk_segment_t *seg);
hk_internal void hk_heap_collect(hk_heap_t *heap, bool force);
hk_internal void hk_heap_maybe_collect(hk_heap_t *heap);
hk_internal size_t hk_bin_size(size_t bin);

/* huge.c */
hk_internal void *hk_huge_alloc(size_t size, size_t align, bool zero);
hk_internal void hk_huge_free(hk_segment_t *seg);
hk_internal void *hk_huge_realloc(hk_segment_t *seg, size_t size);

/* huge_cache.c */
hk_internal uint8_t *hk_huge_cache_take(size_t needed, size_t *size);
hk_internal void hk_huge_cache_put(uint8_t *base, size_t size);
hk_internal void hk_huge_purge(bool force);
hk_internal size_t hk_huge_cached(void);
hk_internal hk_segment_t *hk_huge_segment_of(uintptr_t a);
hk_internal size_t hk_huge_cache_extents(uintptr_t *bases, size_t *sizes, size_t cap);

/* track.c — allocation tracking for the leak checker (HEAPKIT_LEAKS=1): a record per live block
 * with its size, thread and allocation stack. Entered only from slow paths. */
hk_internal void hk_track_init(void);
hk_internal void hk_track_alloc(void *p, size_t size); /* p was just handed out */
hk_internal void hk_track_thread_done(hk_heap_t *heap);
hk_internal bool hk_track_suspend(void);
hk_internal void hk_track_resume(bool was);
hk_internal void hk_track_free(hk_segment_t *seg, hk_page_t *page, const void *block);
hk_internal hk_track_rec_t *hk_track_segment_table(void); /* a table for a new segment */
hk_internal void hk_track_segment_release(hk_segment_t *seg);
hk_internal uint16_t hk_track_label_intern(const char *name); /* a label id for a pool/arena name */
hk_internal void hk_track_set_label(const void *p, uint16_t label); /* tag the live block at p */
hk_internal const char *hk_track_label_name(uint16_t label);
hk_internal const uintptr_t *hk_stack_get(uint32_t id, size_t *depth);

/* stack_depot.c — every distinct allocation stack stored once, found again by hash */
hk_internal uint32_t hk_stack_depot_put(const uintptr_t *frames, size_t depth);

/* leak.c — the reachability scan and its report; stop_world.c — pausing the other threads */
hk_internal void hk_leak_at_exit(uintptr_t caller_sp); /* caller_sp: the destructor's caller's */
hk_internal void hk_leak_signal_setup(void);

/* alloc.c */
hk_internal void *hk_malloc_generic(hk_heap_t *heap, size_t size, bool zero);
hk_internal void hk_free_generic(void *p);
hk_internal void hk_free_unknown(void *p, const char *who);

/* init.c */
hk_internal void hk_process_init(void);
hk_internal void hk_fork_prepare(void);
hk_internal void hk_fork_parent(void);
hk_internal void hk_fork_child(void);

/* ------------------------------------------------------------- inline helpers */

static inline uintptr_t hk_encode(const void *p) { return (uintptr_t)p ^ hk_key; }
static inline hk_block_t *hk_decode(uintptr_t w) { return (hk_block_t *)(w ^ hk_key); }

static inline uint8_t hk_segmap_get(uintptr_t a) {
    if (hk_unlikely((a >> HK_ADDRESS_BITS) != 0)) return HK_MAP_NONE;
    return __atomic_load_n(&hk_segmap[a >> HK_SEGMENT_SHIFT], __ATOMIC_RELAXED);
}

static inline hk_segment_t *hk_ptr_segment(const void *p) {
    return (hk_segment_t *)((uintptr_t)p & ~(uintptr_t)HK_SEGMENT_MASK);
}

static inline hk_page_t *hk_segment_page_of(hk_segment_t *seg, const void *p) {
    return &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift];
}

/* The tracking record of block `index` of a page (each page owns page_size / 16 records in a
 * row; a huge segment has its one record in its header). Inline: every tracked malloc and free
 * asks for one. */
static inline hk_track_rec_t *hk_track_record(hk_segment_t *seg, hk_page_t *page, uint64_t index) {
    if (seg->kind == HK_KIND_HUGE) return seg->track;
    size_t page_index = (size_t)(page - seg->pages);
    return seg->track + (page_index << (seg->page_shift - 4)) + index;
}

static inline hk_heap_t *hk_segment_owner(hk_segment_t *seg) {
    return atomic_load_explicit(&seg->heap, memory_order_relaxed);
}

static inline uint8_t hk_page_flags(const hk_page_t *page) {
    return __atomic_load_n(&page->flags, __ATOMIC_RELAXED);
}

static inline void hk_page_set_flags(hk_page_t *page, uint8_t flags) {
    __atomic_store_n(&page->flags, flags, __ATOMIC_RELAXED);
}

/* The index of the block p points into: offset / block_size by a multiply with the rounded-up
 * inverse, exact for every offset below 2^32 (pages are far smaller). */
static inline uint64_t hk_page_block_index(const hk_page_t *page, const void *p) {
    uint64_t offset = (uint64_t)((const uint8_t *)p - page->start);
    return (uint64_t)(((unsigned __int128)offset * page->block_inverse) >> 64);
}

/* Is p the start of a block of the page? */
static inline bool hk_page_is_block_start(const hk_page_t *page, const void *p) {
    return page->start + hk_page_block_index(page, p) * page->block_size == (const uint8_t *)p;
}

/* A block whose link word decodes to an address in its own segment (or to NULL) is, almost
 * surely, already free: live data xor-ed with a random key lands there with odds ~2^-40. */
static inline bool hk_block_looks_free(const hk_block_t *b, const hk_segment_t *seg) {
    uintptr_t w = b->next ^ hk_key;
    return w == 0 || hk_ptr_segment((void *)w) == seg;
}

/* Pop a block; the caller knows page->free is not empty. */
static inline hk_block_t *hk_page_pop(hk_page_t *page) {
    hk_block_t *b = page->free;
    page->free = hk_decode(b->next);
    page->used++;
    b->next = 0; /* so a free of a block never written to does not look like a double free */
    return b;
}

static inline size_t hk_bin_of(size_t size) {
    if (size <= 128) return size <= 16 ? 0 : ((size + 15) >> 4) - 1;
    size_t s = size - 1;
    size_t b = 63 - (size_t)__builtin_clzl(s);
    return 8 + (b - 7) * 4 + ((s >> (b - 2)) & 3);
}

/* Leak tracking is on: every allocation and free takes the slow path. */
static inline bool hk_tracking(void) { return hk_state.options.leaks; }

static inline size_t hk_align_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

#endif /* HK_INTERNAL_H */
