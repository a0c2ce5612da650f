/* base.h — the bottom layer, which every other layer may use and which calls none of them:
 * compiler helpers, the options, the one process state, the formatter that never allocates, lazy
 * process start, the library's own threads, and the tables through which the layers above
 * register their locks and work. */
#ifndef HK_BASE_H
#define HK_BASE_H

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
/* Code of the layers above the core that every process runs, its feature on or off (a subsystem's
 * init, thread exit and exit work, an interposed pthread_create): kept in one place at the front of
 * the library's text (the linker puts .text.hot first), beside the core, not spread over the debug
 * and pool code. The kernel maps a file's pages 64 KiB around each one a process touches, so a
 * plain process that called into each of them paid for the whole text (176 KiB resident of 176). */
#define hk_plain_path __attribute__((section(".text.hot.hk_plain_path")))
/* The other side: code of the base and the core that a plain process never runs (the formatter,
 * the statistics' reports), put after all the text
 * (an orphan section, which the linker places behind .text and .fini), so that the code every
 * process runs is one run of pages no longer than a fault-around window (one window or two, as the
 * load address places it: the library keeps 4 KiB alignment, docs/architecture.md says why). */
#define hk_rare_path __attribute__((section("hk_rare_text")))
/* Constants that every process reads (a string its start compares or copies): kept beside the
 * relocated data (relro), which the loader has made resident anyway, not in .rodata, whose 56 KiB
 * (the size classes' and format's tables, messages, .eh_frame behind them) the kernel maps whole at
 * the first read of any of it. A plain process then maps none of it (bench/RESULTS.md). */
#define hk_plain_const __attribute__((section(".data.rel.ro.hk_plain_const")))
/* Between stores of constants on such a path: merged, GCC would write them with one wide store
 * whose value it loads from .rodata (it avoids 16-bit and longer immediates). */
#define hk_plain_stores_apart() __asm__ volatile("" ::: "memory")

static inline size_t hk_align_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

/* Bytes in a cache line (x86-64 and arm64 alike): what different threads write is kept this far
 * apart, so one thread's writes do not steal the line another reads. */
#define HK_CACHE_LINE 64

/* 2^64 / golden ratio, odd: a multiply by it spreads a key's bits over the whole word (Fibonacci
 * hashing). The library's hashes and its fallback random key start from it. */
#define HK_GOLDEN_RATIO_64 0x9e3779b97f4a7c15ull

/* The stack pointer of the caller of the function this is expanded in: above that function's
 * frame (which asking for its address gives a frame pointer) are only the saved frame pointer
 * and the return address. */
#define HK_CALLER_SP() ((uintptr_t)__builtin_frame_address(0) + 2 * sizeof(void *))

/* The library's one output buffer, for the formatter (below): reports and messages are built in
 * one, and a report longer than its buffer goes out through hk_buf_flush. */
typedef struct hk_buf_s {
    char *data;
    size_t cap, len; /* len counts what would have been written, like snprintf */
} hk_buf_t;

/* ------------------------------------------------------------------ options */

typedef struct hk_options_s {
    bool stats;
    const char *stats_file;
    const char *stats_dir;  /* with stats: write DIR/stats.PID.N.txt instead of stderr (heapkit run) */
    int64_t purge_delay_ms; /* <0: never purge */
    size_t huge_cache;      /* bytes of freed huge blocks kept for reuse */
    int64_t decay_ms;       /* a busy program's free memory unused this long is all given back; <0: never */
    bool abort_on_error;
    bool verbose;
    bool purge_thread; /* give free memory back from a background thread, even when idle */
    bool leaks;        /* track every block and check for leaks at exit */
    int64_t stack_depth;   /* frames kept per allocation stack, 1 to HK_STACK_DEPTH_MAX */
    const char *leak_dir;  /* write raw leak reports there (else a plain report to stderr) */
    int64_t leak_signal;   /* check for leaks on this signal; 0 = none */
    int numa;              /* HK_NUMA_MODE_*: where memory goes on a machine with several nodes */
    int thp;               /* HK_THP_*: transparent huge pages for segments (core/thp.c) */
    const char *numa_fake; /* read the topology from this directory instead of /sys, and simulate it */
    bool secure;           /* the hardened mode (core/secure.c, docs/security.md) */
    int64_t profile;        /* HK_PROFILE_*: heap profile over time (debug/profile.c) */
    const char *profile_dir; /* where profiles are written (else the current directory) */
    size_t profile_rate;    /* sampled profile: mean bytes allocated between two samples */
    int64_t profile_signal; /* write a profile on this signal; 0 = none */
    int64_t check;         /* heap checking (HEAPKIT_CHECK): HK_CHECK_OFF, _CANARY or _GUARD */
    bool check_left;       /* guard mode: the guard page before the block (HEAPKIT_CHECK_SIDE=left) */
    size_t quarantine_bytes; /* freed blocks held back from reuse, at most this many bytes... */
    size_t quarantine_count; /* ...and this many blocks (HEAPKIT_QUARANTINE_BYTES/_COUNT) */
    size_t sample_guard;   /* about one allocation in N on a guard slot (HEAPKIT_SAMPLE_GUARD); 0 = none */
    const char *check_dir; /* write raw heap-error reports there (else plain ones to stderr) */
} hk_options_t;

/* HEAPKIT_THP: auto (advise segments that stay dense, the default), off, always (at mapping). */
enum { HK_THP_AUTO, HK_THP_OFF, HK_THP_ALWAYS };

/* HEAPKIT_NUMA: local (each thread's memory on its own node, the default), interleave (spread
 * page by page over every node), off (no placement: the kernel's first touch decides). */
enum { HK_NUMA_MODE_OFF, HK_NUMA_MODE_LOCAL, HK_NUMA_MODE_INTERLEAVE };

/* HEAPKIT_CHECK's modes. */
enum { HK_CHECK_OFF, HK_CHECK_CANARY, HK_CHECK_GUARD };

/* The deepest allocation stack HEAPKIT_STACK_DEPTH may ask for: deep enough for any program's
 * interesting frames, and what the tracker's buffers on the stack are sized for. */
#define HK_STACK_DEPTH_MAX 64

/* options.c: read the HEAPKIT_* variables into o, reporting every bad one. */
hk_internal void hk_options_init(hk_options_t *o);
/* HEAPKIT_RUN_DIR: the directory `heapkit run` reads the processes' notes from, or NULL. */
hk_internal const char *hk_run_dir(void);

/* --------------------------------------------------------- the process state
 * The base's and the core's counters, lists and locks live here. What belongs to one file of the
 * core stays there (the segment map in segmap.c, the empty heap and the thread's heap pointer in
 * heap.c, the huge cache in huge_cache.c), as do the debug and pool layers' globals, which register
 * their locks (below). The core's types are only named here. */

struct hk_heap_s;
struct hk_segment_s;
struct hk_page_s;

/* How a feature above the core observes it (core/hooks.h calls them, the feature sets them at
 * start-up). With no hook set, the fast paths run; with one set, every allocation and free takes
 * the generic path, where the hooks are called. */
typedef struct hk_hooks_s {
    /* a block was handed out at p (size bytes asked for); p may be an aligned pointer inside it */
    void (*alloc)(void *p, size_t size);
    /* the same for a block start of a small or medium page, which the caller already knows (the
     * observed malloc path's common case, alloc.c): no look-up of the block's page. Optional:
     * without it, alloc is called. */
    void (*alloc_block)(struct hk_page_s *page, void *block, size_t size);
    /* the block is about to be freed; false: it is not live (a double free), keep it as it is */
    bool (*free)(struct hk_segment_s *seg, struct hk_page_s *page, void *block);
    /* a small/medium segment was mapped (false: the feature has no room for it; the segment is
     * given back) and is about to be unmapped */
    bool (*segment_mapped)(struct hk_segment_s *seg);
    void (*segment_unmapped)(struct hk_segment_s *seg);
    /* a huge block's segment moved (mremap) or was set up */
    void (*huge_placed)(struct hk_segment_s *seg);
    /* a thread heap is going away (its thread exits) */
    void (*heap_done)(struct hk_heap_s *heap);
    /* the core found its data corrupt around `block` (core/corruption.c) and is about to abort:
     * append to `out` what the feature knows of the block ("the block before it", say), such as
     * its allocation stack, one line each. Called whether or not the feature observes. */
    void (*describe_block)(const void *block, const char *role, hk_buf_t *out);
    /* The sampler (debug/sampler.c: the sampled heap profile, sampled guard slots) with the fast
     * paths left on: the generic malloc path calls it, instead of allocating, for the allocation
     * that takes the thread's countdown (heap->sample_left, left as it was before this block)
     * below 0; it allocates (through hk_core_alloc_plain, or a guard slot when slot_ok) and sets
     * the countdown anew. Set without `observed`. */
    void *(*sample)(struct hk_heap_s *heap, size_t size, bool zero, bool slot_ok);
    /* Heap checking (debug/check.c) takes the allocation API over: with front set, the API's
     * generic paths hand every call to it, and it reaches the allocator through hk_core_*
     * (alloc.c). NULL: the API serves calls itself. */
    const struct hk_front_s *front;
    /* Sampled guard slots (HEAPKIT_SAMPLE_GUARD, debug/check_guard.c: a consumer of the sampler
     * above): a free, realloc or size query of a pointer outside every segment asks it first
     * (false: not a slot's). */
    bool (*sample_owns)(const void *p);
    const struct hk_front_s *sample_front; /* free, realloc, usable of a slot's block */
} hk_hooks_t;

/* The allocation API as heap checking serves it (hk_hooks_t.front). */
typedef struct hk_front_s {
    void *(*alloc)(size_t size, size_t align, bool zero); /* align 0: the default */
    void (*free)(void *p, size_t size, bool sized);       /* sized: free_sized's size to check */
    void *(*realloc)(void *p, size_t size);
    size_t (*usable)(const void *p);
    bool (*owns)(const void *p); /* p points into a live block (hk_owns) */
    /* A free of p in `page`, a small or medium page of a segment, found by free's fast path (which
     * it missed): the front need not look the page up again. NULL: free(p, 0, false) serves it. */
    void (*free_in_page)(void *p, struct hk_page_s *page);
} hk_front_t;

enum { HK_INIT_NOT_STARTED, HK_INIT_RUNNING, HK_INIT_DONE };              /* hk_state.init_state */
enum { HK_PURGER_NOT_STARTED, HK_PURGER_WANTED, HK_PURGER_RUNNING };    /* hk_state.purger_state */

typedef struct hk_state_s {
    _Atomic int init_state; /* HK_INIT_* */
    hk_options_t options;
    bool observed;    /* some hook is set: allocations and frees take the generic path */
    /* Observed, but frees stay on the plain paths (pages not flagged HK_PAGE_OBSERVED, no free
     * hook): leak tracking alone, which tells the free blocks from the allocator's own lists at
     * each check (debug/leak_free.c) instead of clearing a record at every free. */
    bool frees_plain;
    hk_hooks_t hooks; /* set during process init, before the first allocation, never after */
    pthread_key_t thread_key;
    _Atomic bool thread_key_made;
    pthread_mutex_t heaps_lock; /* the lists of live, parked and free heap records */
    struct hk_heap_s *heaps;
    struct hk_heap_s *free_heaps;
    struct hk_heap_s *parked;    /* heaps of exited threads kept whole for the next (core/heap_records.c) */
    _Atomic size_t parked_count; /* changed under heaps_lock, read without it */
    size_t heap_count;
    uint32_t heap_serial; /* serial numbers handed out so far */
    pthread_mutex_t segments_lock; /* the list of all segments, the abandoned queue */
    struct hk_segment_s *all_segments;
    struct hk_segment_s *abandoned, *abandoned_tail; /* a queue: the oldest is adopted first */
    _Atomic size_t abandoned_count;
    size_t segment_count;
    pthread_mutex_t huge_lock;
    _Atomic size_t reserved, committed, committed_peak; /* bytes, kept by the os layer */
    _Atomic size_t meta_reserved; /* bytes mapped for the library's own records */
    _Atomic size_t huge_live;
    pthread_mutex_t purger_lock; /* with purger_wake: the background purger sleeps on it */
    pthread_cond_t purger_wake;
    _Atomic int purger_state;    /* HK_PURGER_* */
    _Atomic bool purger_pending; /* memory waits to be purged */
    _Atomic size_t heap_errors;  /* heap errors reported by heap checking (hk_stats_t) */
} hk_state_t;

extern hk_internal hk_state_t hk_state;
/* The secret free-list links are xor-ed with (state.c); apart from hk_state because the fast
 * paths read it on every call. */
extern hk_internal uintptr_t hk_key;

/* init.c: make the process ready (options, key, every subsystem's init); cheap once done. It never
 * allocates: the first call may come from the dynamic loader, before any constructor has run. */
hk_internal void hk_process_init(void);
static inline bool hk_process_ready(void) {
    return atomic_load_explicit(&hk_state.init_state, memory_order_acquire) == HK_INIT_DONE;
}

/* The fd the exit reports (statistics, the plain leak report) and messages go to: a private,
 * close-on-exec duplicate of stderr taken when the library starts, as Valgrind keeps one, because
 * programs close stderr at exit (every GNU coreutil does) before our reports are written. Falls
 * back to fd 2 when there is no duplicate (stderr was closed at start), or it was closed since or
 * its number now names another file. */
hk_internal int hk_report_fd(void);
/* Takes the duplicate (the library's constructor, once). */
hk_internal void hk_report_fd_take(void);

/* ------------------------------------------------------------- subsystems
 * A subsystem registers what it must do at the process's moments in a linker section that init.c
 * walks in rank order; nothing in the base names the subsystems' functions, so no call runs upward.
 * HK_SUBSYSTEM(id, rank, .field = fn...) in the subsystem's own file. */
typedef struct hk_subsystem_s {
    uint32_t rank;                      /* HK_SUBSYSTEM_*: the order of init, start, exit and fork */
    void (*init)(void);                 /* in process init: must not allocate or take locks */
    void (*start)(void);                /* in the library's constructor: may allocate, start threads */
    void (*at_exit)(uintptr_t caller_sp); /* at exit, after the program's own destructors */
    void (*fork_child)(void);           /* in a forked child, once every lock is released */
    /* a thread with a heap exits: called by the core's heap exit (core/heap.c) before the heap
     * is handed over, on that thread, which may still free (into its heap) but should not allocate */
    void (*thread_exit)(void);
    /* a part of the statistics report (text, or JSON members after a comma) */
    void (*stats_text)(hk_buf_t *b);
    void (*stats_json)(hk_buf_t *b);
} hk_subsystem_t;

/* Ranks: the order subsystems are visited in. */
enum {
    HK_SUBSYSTEM_RUN_ANNOUNCE, /* fork child: a forked child tells `heapkit run` it has heapkit too */
    HK_SUBSYSTEM_NUMA,   /* init: the nodes and their CPUs from /sys, the process's own memory policy
                            (before any segment is mapped) */
    HK_SUBSYSTEM_HEAP,   /* init: the thread key whose destructor hands an exiting thread's heap over
                            (and first runs every subsystem's thread_exit) */
    HK_SUBSYSTEM_PURGER, /* fork child: the purger thread is gone */
    HK_SUBSYSTEM_CHECK_EXIT, /* exit: heap checking empties its quarantine (checking each block) and
                                checks every live block's canaries, before the leak check, so
                                quarantined blocks are not counted as leaks */
    HK_SUBSYSTEM_LEAK,   /* init: tracking hooks; start: the leak-signal thread; exit: the leak check */
    HK_SUBSYSTEM_PROFILE, /* init: the profiler's hooks; start: its timeline thread; exit: the profile */
    HK_SUBSYSTEM_FRAGMENTATION, /* stats: fragmentation by size class (debug/fragmentation.c) */
    HK_SUBSYSTEM_CHECK,  /* init: heap checking's front and sampled slots, after the leak hooks,
                            which it keeps; start: the fault handler; stats: its error counts */
    HK_SUBSYSTEM_REGISTRY, /* stats: the lines of pools and arenas, by name */
    HK_SUBSYSTEM_NUMA_STATS, /* stats: the heap by NUMA node (only with more than one node) */
    HK_SUBSYSTEM_POOLS,  /* thread exit: the thread's pool caches go to their pools as orphans;
                            fork child: pools take back the caches of threads that are gone */
    HK_SUBSYSTEM_SECURE, /* thread exit: the hardened mode's quarantine is emptied into the heap
                            (after the pools freed their caches into it) before it is handed over */
    HK_SUBSYSTEM_STATS,  /* exit: HEAPKIT_STATS, after the leak check so its report comes first */
};

#define HK_SECTION(name) __attribute__((used, section(name), aligned(sizeof(void *))))
#define HK_SUBSYSTEM(id, ...) static const hk_subsystem_t hk_subsystem_##id HK_SECTION("hk_subsystems") = {__VA_ARGS__}

/* Calls each subsystem's stats_text or stats_json, in rank order. */
hk_internal void hk_subsystems_stats(hk_buf_t *b, bool json);
/* Calls each subsystem's thread_exit, in rank order: the one thread-exit path of the library,
 * run by the core when a thread that has a heap exits (the heap is its identity: see core.h). */
hk_internal void hk_subsystems_thread_exit(void);

/* ------------------------------------------------------------------ locks
 * Every lock of the library is in one table, so fork can take them all and a new one cannot be
 * forgotten: before fork they are taken in rank order, after it released in reverse, in parent
 * and child alike (the forking thread holds them all). A thread holding one lock may only take
 * locks of a later rank. HK_LOCK(id, rank, &mutex) registers a mutex; HK_LOCK_SET(id, rank,
 * acquire, release) a set of locks (one per segment, per pool...) taken by functions. */
typedef struct hk_lock_entry_s {
    uint32_t rank;
    pthread_mutex_t *mutex;
    void (*acquire)(void);
    void (*release)(void);
} hk_lock_entry_t;

enum {
    HK_LOCK_LEAK_CHECK,  /* one leak check at a time; the check allocates and takes every lock below */
    HK_LOCK_STACK_WALKS, /* the gate of stack walks (debug/stack_walk_gate.c): fork closes it and
                            waits for the walks under way before it takes any lock below, since a
                            walk may need them all: the depot's, and whatever an allocation takes
                            (the guard table, the quarantine, the core's), which libunwind makes
                            when a thread first touches its TLS (it is dlopen'ed, so its TLS is
                            allocated on first use by __tls_get_addr, through malloc) */
    HK_LOCK_POOL_IDS,    /* pool ids; taken with no other lock held */
    HK_LOCK_REGISTRY,    /* the pools/arenas registry shards, then every shared pool's and locked
                            arena's own lock (a shared pool allocates chunks under its lock) */
    HK_LOCK_LABELS,      /* tracker labels: taken by pools/arenas, allocates nothing */
    HK_LOCK_PROFILE,     /* the profiler's peak snapshot and profile writing (tried, never waited
                            for, on the allocation path); writing takes the segment locks after it */
    HK_LOCK_QUARANTINE,  /* heap checking's quarantine: taken in a free; its ring's growth maps
                            memory (the segment map's lock) */
    HK_LOCK_CHECK_REPORT, /* one heap-error report at a time; takes the guard blocks' table */
    HK_LOCK_GUARD,       /* the guard blocks' table (check_guard.c); takes nothing else */
    HK_LOCK_STACK_DEPOT, /* taken on a tracked allocation, after the allocator returned */
    HK_LOCK_NODE_HEAPS,  /* the per-node heaps of hk_malloc_node: allocating under one takes the
                            locks below (segments, huge, segment map) */
    HK_LOCK_HEAPS,       /* heap records: taken by a thread starting or exiting */
    HK_LOCK_SEGMENTS,    /* the list of all segments and the abandoned queue, then every segment's spin lock */
    HK_LOCK_HUGE,        /* the huge-block cache */
    HK_LOCK_PURGER,      /* the purger's sleep; taken by whoever wakes it */
    HK_LOCK_SEGMAP,      /* the segment map's growth: taken while tagging, holding any lock above,
                            and takes none (its mmap aside) */
};

#define HK_LOCK(id, rank_, mutex_)                                                                  \
    static const hk_lock_entry_t hk_lock_##id HK_SECTION("hk_locks") = {.rank = (rank_), .mutex = (mutex_)}
#define HK_LOCK_SET(id, rank_, acquire_, release_)                                                  \
    static const hk_lock_entry_t hk_lock_##id HK_SECTION("hk_locks") = {                             \
        .rank = (rank_), .acquire = (acquire_), .release = (release_)}

/* ------------------------------------------------------------ own threads */

/* Start one of the library's own threads (the purger, the leak-signal checker): detached, named,
 * every signal blocked but the one that pauses threads for a leak scan, and its start-up
 * allocations left out of leak reports. Returns 0 or an errno value. */
hk_internal int hk_own_thread_start(const char *name, void *(*main)(void *), size_t stack_size);
/* The C library's pthread_create, past heapkit's own (debug/thread_stacks.c). */
hk_internal int hk_libc_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg);
/* The real-time signal the leak scan stops threads with (own_thread.c says why this one). */
hk_internal int hk_stop_signal(void);
/* Set for the whole life of the library's own threads: they hold none of the program's pointers,
 * so the leak scan reads no frame of theirs and does not count them as the program's threads. */
extern __thread bool hk_own_thread __attribute__((tls_model("initial-exec")));
/* Set while the library itself allocates on this thread (starting a thread, walking a stack):
 * the tracker records such blocks with no stack. */
extern __thread bool hk_own_work __attribute__((tls_model("initial-exec")));

/* ---------------------------------------------------------------- format.c
 * printf without malloc: the library reports through these, never through stdio. */
/* Format into out like snprintf: at most cap bytes, no NUL; returns the full length. */
hk_internal size_t hk_format(char *out, size_t cap, const char *fmt, va_list ap);
hk_internal void hk_buf_printf(hk_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
hk_internal void hk_buf_vprintf(hk_buf_t *b, const char *fmt, va_list ap);
hk_internal void hk_buf_bytes(hk_buf_t *b, size_t bytes); /* "12.5 MiB" */
/* Room for one number as text (hk_buf_bytes's "1023.9 KiB", a ratio): 20 digits and a unit at most. */
#define HK_NUMBER_TEXT 32
hk_internal void hk_buf_flush(hk_buf_t *b, int fd); /* write what b holds to fd; b is empty after */
/* hk_buf_printf into a buffer that streams to fd: flushed first when the text would not fit. */
hk_internal void hk_buf_printf_to(hk_buf_t *b, int fd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
hk_internal void hk_write_all(int fd, const char *s, size_t n);
/* "heapkit: ..." on stderr; hk_error also aborts when HEAPKIT_ON_ERROR=abort */
hk_internal void hk_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
hk_internal void hk_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A misuse that can corrupt memory (a free or realloc of a pointer that is not a live block, a
 * pool object freed wrongly, a dead pool or arena handle): reported like hk_error, and fatal
 * with HEAPKIT_ON_ERROR=abort and always in the hardened mode (HEAPKIT_SECURE=1), where such a
 * call is an attack until shown otherwise. hk_misuse_tail(what) ends its message: what the
 * program's call came to ("; ignored") when it goes on, nothing when it is about to abort. */
hk_internal void hk_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline bool hk_misuse_fatal(void) { return hk_state.options.abort_on_error || hk_state.options.secure; }
static inline const char *hk_misuse_tail(const char *survived) { return hk_misuse_fatal() ? "" : survived; }

#endif /* HK_BASE_H */
