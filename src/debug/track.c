/* track.c — allocation tracking for the leak checker (HEAPKIT_LEAKS=1).
 * Each small or medium segment gets a table of its own (a metadata mapping) with one 16-byte
 * record per possible block (a page's records are contiguous, so only the records of blocks
 * actually carved are touched);
 * a huge segment carries its one record in its header. A record holds the size asked for, the
 * allocating thread and the id of the allocation stack in the depot; it is all zero while its
 * block is free, so "live" needs no other bookkeeping.
 * Tracking rides the slow paths: it installs the core's hooks (core/hooks.h), so heaps never fill
 * their direct table and every page carries HK_PAGE_OBSERVED: each malloc and free reaches
 * alloc.c's generic paths, whose hooks call in here. With it off, no hook is set, nothing here
 * runs and the fast paths test nothing more.
 * Stacks are walked by the DWARF unwind tables (so distribution binaries built without frame
 * pointers work) with unwinders that never call malloc; bench/unwind measures them against
 * frame-pointer walking. Unwinding is still the dearest part of tracking, so on x86-64 each thread
 * keeps a cache of the stacks it has seen, keyed by its stack pointer here, holding where on the
 * stack each of the program's return addresses was found. A hit is a stack whose return-address slots (rewritten by
 * every call) all still hold the same addresses: the same call chain, known without unwinding.
 * A miss walks with libgcc's unwinder, which says where each address lies; a stack that cannot be
 * cached (a signal frame on the way, deeper than the cache) goes to libunwind's unw_backtrace (unwind_lib.c). */
#define _GNU_SOURCE
#include "leak.h" /* module_history.c, and track.h */
#include "unwind_cached.h"
#include "parse.h" /* HK_PROFILE_* */
#include "unwind_lib.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/uio.h>
#include <unistd.h>
#include <unwind.h>

/* Frames of ours at the top of a stack, to be dropped: the tracker's, the generic path that calls
 * the hook and an API function or two, with room for a caller inside the library (a pool over
 * hk_malloc). Captures take this many frames beyond HEAPKIT_STACK_DEPTH. */
#define HK_OWN_FRAMES_MAX 8
/* Distinct pool and arena names (label ids are 16 bits): programs have a few dozen; further
 * names go unlabelled. */
#define HK_LABELS_MAX 1024

/* The stack cache of each thread: 512 sets of 8 ways, 4096 stacks (about 1.6 MiB of metadata
 * address space, pages touched as used), each of up to 32 of the program's frames: the stacks of
 * a program's allocation sites, most of them at depths a default depth of 16 covers. A set is
 * chosen by the stack pointer alone, and an interpreter allocates and frees from many chains at
 * one depth: with 4 ways, python3 under --check (which captures at every free too) missed 115,000
 * times in 1.9 million captures, for 10,500 distinct stacks; with 8, 13,000. */
#define HK_STACK_CACHE_FRAMES 32
#define HK_STACK_CACHE_SETS_SHIFT 9
#define HK_STACK_CACHE_SETS ((size_t)1 << HK_STACK_CACHE_SETS_SHIFT)
#define HK_STACK_CACHE_WAYS 8
/* x86-64 frames are 16-byte aligned: the low bits of a frame address say nothing. */
#define HK_FRAME_ALIGN_SHIFT 4
/* Frames of ours a stack walk starts in: hk_unwind_slots, hk_track_stack_walk and its caller
 * (hk_track_stack, hk_track_capture, or the malloc hook's hk_track_alloc_block_rest); what else of ours lies above
 * them (hk_track_alloc_block, the generic paths) is told by address (hk_track_is_own). */
#define HK_WALK_OWN_FRAMES 3

/* The frames after the first are compared four at a time (hk_stack_cache_same): an entry's arrays
 * are padded to a whole number of fours with copies of its last frame, which compare as it does. */
#define HK_STACK_CACHE_GROUP 4
#define HK_STACK_CACHE_SLOTS (1 + ((HK_STACK_CACHE_FRAMES - 1 + HK_STACK_CACHE_GROUP - 1) / HK_STACK_CACHE_GROUP) * HK_STACK_CACHE_GROUP)

typedef struct hk_stack_cache_entry_s {
    uintptr_t base;  /* this function's frame address when the stack was seen; 0 = empty */
    uint32_t id;     /* its depot id */
    uint32_t groups; /* fours of frames after the first: the program's return addresses checked */
    uint32_t slot[HK_STACK_CACHE_SLOTS]; /* where each return address sits, from base */
    uintptr_t ra[HK_STACK_CACHE_SLOTS];
} hk_stack_cache_entry_t;

/* Return addresses of the program's calls into the allocator, and the entry point each called
 * (hk_track_entry_of): telling it reads the code before the address with a system call, which a
 * stack cache miss would otherwise pay every time (heap checking captures a stack at each free too). */
#define HK_ENTRY_CACHE_SHIFT 9
#define HK_ENTRY_CACHE ((size_t)1 << HK_ENTRY_CACHE_SHIFT)

typedef struct hk_stack_cache_s {
    hk_stack_cache_entry_t sets[HK_STACK_CACHE_SETS][HK_STACK_CACHE_WAYS];
    uint32_t next_way[HK_STACK_CACHE_SETS];
    /* the way of the set that hit or was filled last, looked at first: its offset in the set, in
     * bytes (a hit then computes no way's address) */
    uint16_t last_way[HK_STACK_CACHE_SETS];
    struct {
        uintptr_t ra, entry;
    } entries[HK_ENTRY_CACHE];
    uint32_t misses;          /* walks so far: the first few are libgcc's (see HK_UNWIND_CACHED_AFTER) */
    hk_unwind_cache_t unwind; /* how to walk each frame a miss walked before */
} hk_stack_cache_t;
_Static_assert(HK_STACK_CACHE_WAYS * sizeof(hk_stack_cache_entry_t) <= UINT16_MAX + 1, "last_way holds a way's offset");

/* A thread's first walks go to libgcc's unwinder: working out a rule costs about what libgcc spends
 * on the frame, and first touches of the rule table are page faults, so rules pay only in a thread
 * that walks again (a thread of bench/threads makes a handful of walks in its whole life). */
#define HK_UNWIND_CACHED_AFTER 8

static struct {
    const hk_track_observer_t *observer; /* the profiler's, or NULL */
    uintptr_t own_lo, own_hi; /* our library's code, when it is a shared object of its own */
    _Atomic bool own_known;
    pthread_mutex_t labels_lock;
    uint16_t label_count;
    char labels[HK_LABELS_MAX][HK_LABEL_LEN];
} hk_track = {.labels_lock = PTHREAD_MUTEX_INITIALIZER};

/* dl_iterate_phdr callback: the executable range of the object holding this function. */
static int hk_find_own_code(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    uintptr_t self = (uintptr_t)&hk_find_own_code;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (self < lo || self >= hi) continue;
        /* Linked into the program itself: its code is the program's too, so drop nothing by
         * range; the symbolizer drops our hk_ frames by name instead. */
        if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
            hk_track.own_lo = lo;
            hk_track.own_hi = hi;
        }
        return 1;
    }
    return 0;
}

static void hk_track_find_own(void) {
    if (atomic_load_explicit(&hk_track.own_known, memory_order_acquire)) return;
    dl_iterate_phdr(hk_find_own_code, NULL);
    atomic_store_explicit(&hk_track.own_known, true, memory_order_release);
}

/* Whether a return address is in this library's code (never, when it is linked into the program). */
static bool hk_track_is_own(uintptr_t ip) {
    return ip >= hk_track.own_lo && ip < hk_track.own_hi;
}

/* x86-64 call instructions the program's code reaches the allocator with, read backward from
 * the return address: `call rel32` (e8, to a PLT entry or to us directly), `call *disp32(%rip)`
 * (ff 15, -fno-plt: through the GOT), and the PLT entries a rel32 call lands on: `jmp
 * *disp32(%rip)` (ff 25), also after endbr64 and a bnd prefix (IBT builds' .plt.sec). */
#define HK_CALL_REL32_LEN 5
#define HK_CALL_GOT_LEN 6
#define HK_ENDBR64_LEN 4
#define HK_JMP_GOT_LEN 6
#define HK_BND_PREFIX 0xf2

/* The longest PLT entry read: endbr64, bnd, jmp *disp32(%rip). */
#define HK_PLT_BYTES (HK_ENDBR64_LEN + 1 + HK_JMP_GOT_LEN)

static int32_t hk_read_i32(const uint8_t *at) {
    int32_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

/* Copy n bytes at addr, or fail: the bytes before a return address are code only if that address
 * follows a call, and a "call" read out of other bytes points anywhere, so memory is read with
 * process_vm_readv, which says EFAULT where a plain read would crash the program. */
static bool hk_peek(uintptr_t addr, void *out, size_t n) {
    struct iovec local = {out, n}, remote = {(void *)addr, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

/* The target of a `jmp *disp32(%rip)` PLT entry at `plt` (with or without endbr64 and bnd), or
 * `plt` itself when it is no such entry. */
static uintptr_t hk_plt_target(uintptr_t plt) {
    uint8_t code[HK_PLT_BYTES];
    if (!hk_peek(plt, code, sizeof code)) return plt;
    const uint8_t *c = code;
    if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) c += HK_ENDBR64_LEN; /* endbr64 */
    if (c[0] == HK_BND_PREFIX) c++;
    if (c[0] != 0xff || c[1] != 0x25) return plt;
    uintptr_t slot = plt + (uintptr_t)(c - code) + HK_JMP_GOT_LEN + (uintptr_t)(intptr_t)hk_read_i32(c + 2), target;
    return hk_peek(slot, &target, sizeof target) ? target : plt;
}

/* The public entry point of ours (malloc, calloc, ...: the allocation call itself) that the
 * instruction before return address `ra` called, or 0 when it cannot be told (an indirect call
 * through a register, a tail call into the allocator). Its frame is gone: the entry points jump
 * to their slow paths (tail calls), so it is found from the caller's call instruction. */
static uintptr_t hk_track_entry_of(uintptr_t ra) {
#if defined(__x86_64__)
    uint8_t before[HK_CALL_GOT_LEN];
    if (!hk_peek(ra - sizeof before, before, sizeof before)) return 0;
    const uint8_t *c = before + sizeof before; /* the return address */
    uintptr_t target = 0;
    if (c[-HK_CALL_REL32_LEN] == 0xe8) {
        target = ra + (uintptr_t)(intptr_t)hk_read_i32(c - HK_CALL_REL32_LEN + 1);
        if (!hk_track_is_own(target)) target = hk_plt_target(target);
    } else if (c[-HK_CALL_GOT_LEN] == 0xff && c[-HK_CALL_GOT_LEN + 1] == 0x15) {
        uintptr_t slot = ra + (uintptr_t)(intptr_t)hk_read_i32(c - HK_CALL_GOT_LEN + 2);
        if (!hk_peek(slot, &target, sizeof target)) return 0;
    }
    return hk_track_is_own(target) ? target : 0;
#else
    (void)ra;
    return 0;
#endif
}

/* The depot id of a captured stack (return addresses, innermost first), ours left out but the
 * allocation call itself (docs/leak-report-format.md): frame #0 is the entry point the program
 * called, recorded as its address + 1 (a return address's shape: readers look up `a - 1`), then
 * up to HEAPKIT_STACK_DEPTH frames of the program. */
static uint32_t hk_track_keep(const uintptr_t *raw, size_t n, hk_stack_cache_t *cache) {
    size_t depth = (size_t)hk_state.options.stack_depth, first = 0;
    while (first < n && hk_track_is_own(raw[first])) first++;
    size_t kept = n - first;
    if (kept > depth) kept = depth;
    uintptr_t entry = 0;
    if (first > 0 && kept > 0) {
        uintptr_t ra = raw[first];
        size_t slot = (size_t)((ra * HK_GOLDEN_RATIO_64) >> (64 - HK_ENTRY_CACHE_SHIFT));
        if (cache != NULL && cache->entries[slot].ra == ra) {
            entry = cache->entries[slot].entry;
        } else {
            entry = hk_track_entry_of(ra);
            if (cache != NULL) {
                cache->entries[slot].ra = ra;
                cache->entries[slot].entry = entry;
            }
        }
    }
    if (entry == 0) return hk_stack_depot_put(raw + first, kept);
    uintptr_t frames[HK_STACK_DEPTH_MAX + 1];
    frames[0] = entry + 1;
    memcpy(frames + 1, raw + first, kept * sizeof *raw);
    return hk_stack_depot_put(frames, kept + 1);
}

/* The stack caches of exited threads, kept for the threads that start next (a slot each, taken
 * and given by exchange: no lock, so a thread's exit, which may hold the core's locks, takes none).
 * A thread that starts where an exited one ran (glibc reuses the stacks of joined threads) calls
 * from the same frames as it did, and a hit is told by the stack's own return addresses, whoever
 * filled the entry: so a program that starts many short threads walks each of its stacks once,
 * not once per thread, and maps, faults in and unmaps no cache per thread (bench/threads under
 * --leaks: ~7 page faults and a few walks of ~2,000-38,000 instructions per thread before). */
#define HK_STACK_CACHE_SPARES 8
static _Atomic(hk_stack_cache_t *) hk_stack_cache_spare[HK_STACK_CACHE_SPARES];

static hk_stack_cache_t *hk_stack_cache_reuse(void) {
    for (size_t i = 0; i < HK_STACK_CACHE_SPARES; i++) {
        if (atomic_load_explicit(&hk_stack_cache_spare[i], memory_order_relaxed) == NULL) continue;
        hk_stack_cache_t *cache = atomic_exchange_explicit(&hk_stack_cache_spare[i], NULL, memory_order_acquire);
        if (cache != NULL) return cache;
    }
    return NULL;
}

/* false: every slot is taken, the caller unmaps the cache. */
static bool hk_stack_cache_keep(hk_stack_cache_t *cache) {
    for (size_t i = 0; i < HK_STACK_CACHE_SPARES; i++) {
        hk_stack_cache_t *empty = NULL;
        if (atomic_compare_exchange_strong_explicit(&hk_stack_cache_spare[i], &empty, cache, memory_order_release,
                                                    memory_order_relaxed))
            return true;
    }
    return false;
}

#if defined(__x86_64__)
/* The set of the stack cache for a capture whose frame is at `base`: its low bits (frames are 16
 * bytes apart at least, so nearby frames fall in different sets; a multiplicative hash of it cost
 * 3 instructions a capture and missed no less). */
static inline size_t hk_stack_cache_set_index(uintptr_t base) {
    return (size_t)(base >> HK_FRAME_ALIGN_SHIFT) & (HK_STACK_CACHE_SETS - 1);
}

static hk_stack_cache_entry_t *hk_stack_cache_set(hk_heap_t *heap, uintptr_t base) {
    if (heap->stack_cache == NULL) {
        heap->stack_cache = hk_stack_cache_reuse();
        if (heap->stack_cache == NULL) heap->stack_cache = hk_meta_map(sizeof(hk_stack_cache_t));
        if (heap->stack_cache == NULL) return NULL;
    }
    return heap->stack_cache->sets[hk_stack_cache_set_index(base)];
}

/* Whether the stack at `base` is the one entry `e` saw: every return address it kept is still in
 * its slot. Only the program's frames are kept, not the library's own above them: the stack
 * recorded is made of the program's frames alone (the allocation call itself is told from the
 * first one's call instruction, hk_track_keep), and while the program's return addresses all sit
 * where they sat, at the same distances from this frame, the program's chain is the same whichever
 * of our paths (malloc, calloc, a check's free...) reached here; so a hit never hands out a stack
 * other than the one a walk would find. The first kept frame is the program's call into the
 * allocator, where stacks that share a base differ most often, so a way that is not this stack
 * is mostly told after one compare. Four frames are compared at once without a branch each:
 * a hit, by far the commonest outcome, reads all of them anyway. */
static inline __attribute__((always_inline)) bool hk_stack_cache_same(const hk_stack_cache_entry_t *e, uintptr_t base) {
    if (*(const uintptr_t *)(base + e->slot[0]) != e->ra[0]) return false;
    const uint32_t *slot = e->slot + 1;
    const uintptr_t *ra = e->ra + 1;
    /* Whole fours (the arrays are padded), one test a four, from `base` outwards: a four is read
     * only once every frame between it and `base` matched, so a deeper slot is known to lie within
     * this stack (the chain up to it is the one seen). Reading an entry's every slot after the
     * first matched alone could reach past the top of a shorter stack at the same address (a
     * coroutine's, or a thread's stack mapped where an exited thread's deeper one was) and fault. */
    for (uint32_t g = e->groups; g != 0; g--, slot += HK_STACK_CACHE_GROUP, ra += HK_STACK_CACHE_GROUP) {
        uintptr_t diff = (*(const uintptr_t *)(base + slot[0]) ^ ra[0]) | (*(const uintptr_t *)(base + slot[1]) ^ ra[1]) |
                         (*(const uintptr_t *)(base + slot[2]) ^ ra[2]) | (*(const uintptr_t *)(base + slot[3]) ^ ra[3]);
        if (diff != 0) return false;
    }
    return true;
}

/* A cache miss walks the stack with libgcc's unwinder (a private copy, see CMakeLists.txt). In
 * its frame for a return address, the CFA is the stack pointer at the call, so the address sits
 * just below it: the slot a later hit compares. Not libunwind's unw_step: Debian builds libunwind
 * without its per-thread cache, so each step takes a lock that masks every signal around it, two
 * system calls per frame (a quarter of python3's time under --leaks, for 9,000 misses in 4.7
 * million allocations); libgcc's walk makes none. */
typedef struct {
    uintptr_t base;
    uintptr_t *ra;
    uint32_t *slot;
    size_t max, n, seen, own; /* own: this library's frames at the top, beyond the depth kept */
    bool exact;
} hk_slot_walk_t;

/* One frame of a walk, as either walker tells it: its return address, and the CFA of the frame
 * it called. Returns whether to go on. */
static bool hk_slot_frame_at(uintptr_t ip, uintptr_t cfa, void *arg) {
    hk_slot_walk_t *w = arg;
    if (w->seen++ < HK_WALK_OWN_FRAMES) return true;
    uintptr_t at = cfa - sizeof(uintptr_t);
    if (ip == 0) return false; /* the outermost frame (_start, clone) says where it ends */
    if (at < w->base || at - w->base > UINT32_MAX || *(const uintptr_t *)at != ip) w->exact = false;
    if (w->n == w->own && hk_track_is_own(ip)) w->own++;
    w->ra[w->n] = ip;
    w->slot[w->n++] = w->exact ? (uint32_t)(at - w->base) : 0;
    /* no more frames than will be kept: each one cached is one more compare on every hit */
    return w->n - w->own < (size_t)hk_state.options.stack_depth && w->n < w->max;
}

static _Unwind_Reason_Code hk_slot_frame(struct _Unwind_Context *ctx, void *arg) {
    return hk_slot_frame_at(_Unwind_GetIP(ctx), _Unwind_GetCFA(ctx), arg) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* The walk of a miss: with the rules this thread has worked out (unwind_cached.c), or, where they
 * do not reach, with libgcc's unwinder. Both are called from here, so both tell this function's
 * frame first. */
static hk_noinline size_t hk_unwind_slots(hk_unwind_cache_t *rules, unsigned long long generation, uintptr_t base,
                                          uintptr_t *ra, uint32_t *slot, size_t max) {
    hk_slot_walk_t w = {.base = base, .ra = ra, .slot = slot, .max = max, .exact = true};
    if (!hk_unwind_cached(rules, generation, hk_slot_frame_at, &w)) {
        w = (hk_slot_walk_t){.base = base, .ra = ra, .slot = slot, .max = max, .exact = true};
        _Unwind_Backtrace(hk_slot_frame, &w);
    }
#ifdef HK_UNWIND_VERIFY /* a debugging build: the cached walk must tell what libgcc tells */
    else {
        uintptr_t ra2[HK_STACK_CACHE_FRAMES] = {0};
        uint32_t slot2[HK_STACK_CACHE_FRAMES] = {0};
        hk_slot_walk_t v = {.base = base, .ra = ra2, .slot = slot2, .max = max, .exact = true};
        _Unwind_Backtrace(hk_slot_frame, &v);
        bool same = v.n == w.n && v.exact == w.exact && v.own == w.own;
        for (size_t i = 0; same && i < w.n; i++) same = ra[i] == ra2[i] && slot[i] == slot2[i];
        if (!same) {
            hk_message("unwind_cached: walk differs from libgcc's (%zu frames against %zu)", w.n, v.n);
            for (size_t i = 0; i < w.n || i < v.n; i++)
                hk_message("  #%zu %lx %lx", i, i < w.n ? (unsigned long)ra[i] : 0UL,
                           i < v.n ? (unsigned long)ra2[i] : 0UL);
            __builtin_trap();
        }
    }
#endif
    return w.exact ? w.n : 0; /* 0 slots: not cacheable (e.g. a signal frame on the way) */
}
#endif

/* Frames a walk takes at most: the depth kept and this library's own at the top. */
static inline size_t hk_track_walk_max(void) { return (size_t)hk_state.options.stack_depth + HK_OWN_FRAMES_MAX; }

#if defined(__x86_64__)
/* The stack cache's answer for a capture whose frame is at `base` (the frame the walk of a miss
 * counts its slots from): true with the depot id in *id when an entry of this thread's cache is
 * the stack here. Inline in every capture (hk_track_stack, and the malloc hook's own, which saves
 * the call of the commonest capture). A hit reads this thread's cache and stack only: no walk, so
 * it needs no pass through the fork gate (two sequentially consistent atomics on every tracked
 * call), and nothing in it allocates. */
static inline __attribute__((always_inline)) bool hk_stack_cache_lookup(hk_stack_cache_t *cache, uintptr_t base,
                                                                        uint32_t *id) {
    /* A thread has a cache only when walks fit one (hk_track_stack_walk makes it only then, from
     * options fixed at start): no test of the depth here. */
    if (cache == NULL) return false;
    size_t set_index = hk_stack_cache_set_index(base);
    hk_stack_cache_entry_t *set = cache->sets[set_index];
    /* a loop allocating again from one place hits the way it hit last */
    const hk_stack_cache_entry_t *last = (const hk_stack_cache_entry_t *)(const void *)((const char *)set + cache->last_way[set_index]);
    if (last->base == base && hk_stack_cache_same(last, base)) {
        *id = last->id;
        return true;
    }
    for (unsigned w = 0; w < HK_STACK_CACHE_WAYS; w++)
        if (&set[w] != last && set[w].base == base && hk_stack_cache_same(&set[w], base)) {
            cache->last_way[set_index] = (uint16_t)(w * sizeof *set);
            *id = set[w].id;
            return true;
        }
    return false;
}
#endif

/* A capture the stack cache did not answer: the stack is walked, kept in the depot and, when it
 * can be, cached. `base` is the caller's frame (the capture's), which the cache's slots are counted from. */
static hk_noinline uint32_t hk_track_stack_walk(hk_heap_t *heap, uintptr_t base) {
    size_t max = hk_track_walk_max();
    uint32_t id = 0;
    /* The walk (unwinders, dl_iterate_phdr) must not be under way when another thread forks. */
    if (!hk_stack_walk_enter()) return HK_STACK_UNKNOWN;
    hk_track_find_own();
    /* a frame may be in an object loaded since: remember it past a dlclose; and the rules of the
     * cached walk are valid for what is loaded now */
    unsigned long long generation = hk_module_history_note();
#if defined(__x86_64__)
    hk_stack_cache_entry_t *set = max <= HK_STACK_CACHE_FRAMES && heap != NULL ? hk_stack_cache_set(heap, base) : NULL;
    if (set != NULL) {
        uintptr_t ra[HK_STACK_CACHE_FRAMES];
        uint32_t slot[HK_STACK_CACHE_FRAMES];
        bool cached = ++heap->stack_cache->misses > HK_UNWIND_CACHED_AFTER;
        size_t n = hk_unwind_slots(&heap->stack_cache->unwind, cached ? generation : 0, base, ra, slot, max);
        /* The library's own frames at the top are not cached: see hk_stack_cache_same. */
        size_t own = 0;
        while (own < n && hk_track_is_own(ra[own])) own++;
        if (n > 0) id = hk_track_keep(ra, n, heap->stack_cache);
        if (n > own) {
            size_t set_index = hk_stack_cache_set_index(base);
            uint32_t way = heap->stack_cache->next_way[set_index]++ % HK_STACK_CACHE_WAYS;
            hk_stack_cache_entry_t *e = &set[way];
            heap->stack_cache->last_way[set_index] = (uint16_t)(way * sizeof *set);
            size_t frames = n - own, groups = (frames - 1 + HK_STACK_CACHE_GROUP - 1) / HK_STACK_CACHE_GROUP;
            e->base = base;
            e->id = id;
            e->groups = (uint32_t)groups;
            memcpy(e->slot, slot + own, frames * sizeof *slot);
            memcpy(e->ra, ra + own, frames * sizeof *ra);
            for (size_t i = frames; i < 1 + groups * HK_STACK_CACHE_GROUP; i++) { /* the padding */
                e->slot[i] = e->slot[frames - 1];
                e->ra[i] = e->ra[frames - 1];
            }
        }
    }
#else
    (void)base;
#endif
    if (id == 0) {
        void *raw[HK_STACK_DEPTH_MAX + HK_OWN_FRAMES_MAX];
        int n = hk_unwind_lib_backtrace(raw, (int)max);
        id = hk_track_keep((const uintptr_t *)raw, n > 0 ? (size_t)n : 0, heap != NULL ? heap->stack_cache : NULL);
    }
    hk_stack_walk_leave();
    return id;
}

/* The depot id of the current call stack, the allocator's own frames left out, counted from the
 * frame of the function this is inlined into (hk_track_stack, hk_track_capture). Only the stack
 * cache's hit is here, the walk of a miss apart (hk_track_stack_walk): a hit, nearly every
 * capture, then saves no registers for the walk (~20 instructions a capture in python3). */
static inline __attribute__((always_inline)) uint32_t hk_track_stack_inline(hk_heap_t *heap) {
    /* The library's own work (this capture: the unwinder may allocate; starting its threads) is
     * recorded with no stack instead of recursing or blaming the program. */
    if (hk_own_work) return HK_STACK_UNKNOWN;
    uintptr_t base = (uintptr_t)__builtin_frame_address(0);
#if defined(__x86_64__)
    uint32_t hit;
    if (heap != NULL && hk_stack_cache_lookup(heap->stack_cache, base, &hit)) return hit;
#endif
    hk_own_work = true;
    uint32_t id = hk_track_stack_walk(heap, base);
    hk_own_work = false; /* after the call: so it is no tail call, and this frame is in the walk */
    return id;
}

static hk_noinline uint32_t hk_track_stack(hk_heap_t *heap) { return hk_track_stack_inline(heap); }

uint32_t hk_track_stack_here(void) { return hk_track_stack(NULL); }

/* The depot id of the current call stack, the library's frames left out: heap checking's
 * allocation and free stacks, through the same per-thread cache. */
uint32_t hk_track_capture(void) {
    hk_heap_t *heap = hk_heap_tls;
    return hk_track_stack_inline(heap == &hk_heap_empty ? NULL : heap); /* heap checking's two a block: no call more */
}

void hk_track_heap_done(hk_heap_t *heap) {
    if (heap->stack_cache != NULL && !hk_stack_cache_keep(heap->stack_cache))
        hk_meta_unmap(heap->stack_cache, sizeof(hk_stack_cache_t));
    heap->stack_cache = NULL;
}

/* ------------------------------------------------------------------ records */

/* One record per HK_BLOCK_ALIGN bytes of segment: enough for the smallest blocks in every page. */
#define HK_TRACK_TABLE_BYTES ((HK_SEGMENT_SIZE >> HK_BLOCK_ALIGN_SHIFT) * sizeof(hk_track_rec_t))

static bool hk_track_segment_mapped(hk_segment_t *seg) {
    seg->track = hk_meta_map(HK_TRACK_TABLE_BYTES);
    return seg->track != NULL;
}

static void hk_track_huge_placed(hk_segment_t *seg) { seg->track = (hk_track_rec_t *)(void *)seg->huge_track; }

static void hk_track_segment_unmapped(hk_segment_t *seg) {
    if (seg->track != NULL && seg->kind != HK_SEGMENT_HUGE)
        hk_meta_unmap(seg->track, HK_TRACK_TABLE_BYTES);
    seg->track = NULL;
}

/* The segment, page and record of a pointer the allocator just handed out (or NULL). Inlined
 * into the allocation hook, which every tracked malloc calls (a call cost ~15 instructions). */
static inline __attribute__((always_inline)) hk_track_rec_t *hk_track_locate(const void *p, hk_segment_t **seg_out, uint8_t **block) {
    hk_segment_t *seg = hk_segmap_get((uintptr_t)p) == HK_MAP_SEGMENT ? hk_ptr_segment(p) : NULL;
    if (seg == NULL || seg->kind == HK_SEGMENT_HUGE) {
        seg = hk_huge_segment_of((uintptr_t)p);
        if (seg == NULL || seg->track == NULL) return NULL;
        *seg_out = seg;
        *block = (uint8_t *)seg + seg->block_offset;
        return seg->track;
    }
    if (seg->track == NULL) return NULL;
    hk_page_t *page = hk_segment_page_of(seg, p);
    uint64_t index = hk_page_block_index(page, p);
    *seg_out = seg;
    *block = page->start + index * page->block_size;
    return hk_track_record(seg, page, index);
}

/* The size a live block was asked for: a huge block's may not fit the record. */
static size_t hk_track_size(const hk_segment_t *seg, const hk_track_rec_t *rec) {
    return seg->kind == HK_SEGMENT_HUGE ? seg->huge_size : rec->size;
}

/* The record of a block handed out at p (block: its start) is filled: size, thread, stack.
 * fresh_block: a block just taken from a free list, whose record is the free hook's cleared one
 * or, under leak tracking alone (frees_plain), its last life's, stale: either way written over
 * whole here. Its record is mostly not in the cache (a free list hands out blocks in the order they were freed,
 * long ago): reading it first stalled the malloc on the miss (61% of hk_track_alloc_block's time
 * in lua5.4 under exact mode, at the test of its stack), so it is fetched first and read after the
 * stack capture, whose ~150 instructions hide the fetch. Not so for a block that may be live (a
 * realloc in place): its old life is told as freed before the capture, as it was. */
static inline __attribute__((always_inline)) void hk_track_fill(hk_segment_t *seg, hk_track_rec_t *rec,
                                                                const uint8_t *block, void *p, size_t size,
                                                                bool fresh_block) {
    if (fresh_block) __builtin_prefetch(rec, 1);
    /* A thread can be handed a block before it has a heap of its own (another thread's block
     * realloc'ed in place, a huge aligned block): give it one now, or its stack cache and serial
     * would be the shared empty heap's, which threads would race on. NULL: out of memory. */
    hk_heap_t *heap = hk_heap_tls;
    if (heap == &hk_heap_empty) heap = hk_heap_thread_init();
    hk_track_rec_t fresh = {
        .size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size,
        .thread = heap != NULL ? heap->serial : 0,
        .offset = (uint16_t)(((uint8_t *)p - block) >> HK_BLOCK_ALIGN_SHIFT),
    };
    if (fresh_block) fresh.stack = hk_track_stack(heap);
    const hk_track_observer_t *observer = hk_track.observer;
    if (observer != NULL && rec->stack != HK_STACK_NONE) observer->free(rec, hk_track_size(seg, rec));
    if (seg->kind == HK_SEGMENT_HUGE) seg->huge_size = size;
    if (!fresh_block) fresh.stack = hk_track_stack(heap);
    *rec = fresh;
    if (observer != NULL) observer->alloc(rec, size);
}

static void hk_track_alloc(void *p, size_t size) {
    hk_segment_t *seg;
    uint8_t *block;
    hk_track_rec_t *rec = hk_track_locate(p, &seg, &block);
    if (rec != NULL) hk_track_fill(seg, rec, block, p, size, false);
}

/* hk_track_fill of a block just taken from a free list, out of line. */
static hk_noinline void hk_track_fill_block(hk_segment_t *seg, hk_track_rec_t *rec, void *block, size_t size) {
    hk_track_fill(seg, rec, block, block, size, true);
}

#if defined(__x86_64__)
/* hk_track_alloc_block's rare cases, out of its frame so that its common case calls nothing but
 * the observer at its end and saves no registers: the stack cache missed (`stack` is 0: walk from
 * `base`, the hook's frame, so that the entry filled is found there next time), or the record is
 * still set (a block the free hook did not clear, which the observer is told of as freed). */
static hk_noinline void hk_track_alloc_block_rest(hk_track_rec_t *rec, hk_heap_t *heap, size_t size, uintptr_t base,
                                                 uint32_t stack) {
    if (stack == 0) {
        hk_own_work = true;
        stack = hk_track_stack_walk(heap, base);
        hk_own_work = false;
    }
    const hk_track_observer_t *observer = hk_track.observer;
    if (observer != NULL && rec->stack != HK_STACK_NONE) observer->free(rec, rec->size);
    *rec = (hk_track_rec_t){.stack = stack, .size = (uint32_t)size, .thread = heap->serial};
    if (observer != NULL) observer->alloc(rec, size);
}
#endif

/* The malloc path's common case: a block start of a small or medium page, just taken from its
 * free list by a thread with a heap (hk_malloc_observed: the empty heap's bins are empty; its
 * sizes fit a record's). The fill of hk_track_fill for such a block, without what cannot be (an
 * offset, a huge segment), and with the stack cache's hit in this frame instead of a call to
 * hk_track_stack: a miss walks from here (hk_track_alloc_block_rest), so this frame is the base
 * of the entries it fills and the next call from the same stack hits here. The record is fetched
 * first and read after the look-up: see hk_track_fill. */
static void hk_track_alloc_block(hk_page_t *page, void *block, size_t size) {
    hk_segment_t *seg = hk_page_segment(page);
    if (hk_unlikely(seg->track == NULL)) return;
    hk_track_rec_t *rec = seg->track +
                          ((size_t)(page - seg->pages) << (seg->page_shift - HK_BLOCK_ALIGN_SHIFT)) +
                          hk_page_block_index(page, block);
    hk_heap_t *heap = hk_heap_tls;
#if defined(__x86_64__)
    if (hk_unlikely(heap == &hk_heap_empty || size > UINT32_MAX)) {
        hk_track_fill_block(seg, rec, block, size);
        return;
    }
    __builtin_prefetch(rec, 1);
    uint32_t stack = HK_STACK_UNKNOWN; /* the library's own work: see hk_track_stack */
    uintptr_t base = (uintptr_t)__builtin_frame_address(0);
    if (!hk_own_work && !hk_stack_cache_lookup(heap->stack_cache, base, &stack)) stack = 0;
    /* A record still set is an observer's concern only: without one (leak tracking alone, whose
     * frees leave records stale) the record is written unread. */
    const hk_track_observer_t *observer = hk_track.observer;
    if (hk_unlikely(stack == 0 || (observer != NULL && rec->stack != HK_STACK_NONE))) {
        hk_track_alloc_block_rest(rec, heap, size, base, stack);
        return;
    }
    *rec = (hk_track_rec_t){.stack = stack, .size = (uint32_t)size, .thread = heap->serial};
    if (observer != NULL) observer->alloc(rec, size);
#else
    (void)heap;
    hk_track_fill_block(seg, rec, block, size);
#endif
}

/* The hook on every free: the record knows exactly whether the block is live, no guessing from
 * the link word. Cleared by assignment, not memset (-fno-builtin-memset would make it a call). */
static bool hk_track_free(hk_segment_t *seg, hk_page_t *page, void *block) {
    hk_track_rec_t *rec = hk_track_record(seg, page, hk_page_block_index(page, block));
    if (rec->stack == 0) return false;
    if (hk_track.observer != NULL) hk_track.observer->free(rec, hk_track_size(seg, rec));
    *rec = (hk_track_rec_t){0};
    return true;
}

/* Heap checking holds freed blocks in quarantine: the leak scan must not count them, so their
 * records are cleared when they enter it (through the free hook), and made live again (with no
 * stack) just before the allocator frees them for good, whose free hook clears them once more. */
void hk_track_quarantined(void *block) {
    hk_segment_t *seg;
    uint8_t *start;
    hk_track_rec_t *rec = hk_track_locate(block, &seg, &start);
    if (rec == NULL || seg->kind == HK_SEGMENT_HUGE) {
        if (rec != NULL) *rec = (hk_track_rec_t){0};
        return;
    }
    hk_track_free(seg, hk_segment_page_of(seg, block), start);
}

void hk_track_released(void *block) {
    hk_segment_t *seg;
    uint8_t *start;
    hk_track_rec_t *rec = hk_track_locate(block, &seg, &start);
    if (rec != NULL && rec->stack == HK_STACK_NONE) *rec = (hk_track_rec_t){.stack = HK_STACK_UNKNOWN};
}

hk_block_state_t hk_track_block_state(const void *p) {
    const uint8_t *u = p;
    hk_track_rec_t *rec = NULL;
    const uint8_t *block = NULL;
    if (hk_segmap_get((uintptr_t)p) == HK_MAP_SEGMENT && hk_ptr_segment(p)->kind != HK_SEGMENT_HUGE) {
        hk_segment_t *seg = hk_ptr_segment(p);
        hk_page_t *page = hk_segment_page_of(seg, p);
        if (seg->track == NULL || !page->in_use || u < page->start ||
            u >= page->start + (size_t)page->reserved * page->block_size)
            return HK_BLOCK_FOREIGN;
        uint64_t index = hk_page_block_index(page, p);
        if (index >= page->capacity) return HK_BLOCK_FOREIGN;
        rec = hk_track_record(seg, page, index);
        block = page->start + index * page->block_size;
        /* Frees leave records stale (hk_state.frees_plain): the allocator's lists say, as its own
         * double-free check asks them (another thread's block by its link word alone). */
        const hk_block_t *b = (const hk_block_t *)(const void *)block;
        if (hk_state.frees_plain && rec->stack != 0 && hk_block_looks_free(b, seg) &&
            (hk_segment_owner(seg) != hk_heap_tls || hk_page_contains_free(page, b)))
            return HK_BLOCK_FREE;
    } else {
        hk_segment_t *seg = hk_huge_segment_of((uintptr_t)p);
        if (seg == NULL || seg->track == NULL) return HK_BLOCK_FOREIGN;
        rec = seg->track;
        block = (const uint8_t *)seg + seg->block_offset;
    }
    if (rec->stack == 0) return HK_BLOCK_FREE;
    return block + ((size_t)rec->offset << HK_BLOCK_ALIGN_SHIFT) == u ? HK_BLOCK_LIVE : HK_BLOCK_INTERIOR;
}


/* ------------------------------------------------------------------- labels */

uint16_t hk_track_label_intern(const char *name) {
    if (name == NULL || name[0] == '\0') return 0;
    pthread_mutex_lock(&hk_track.labels_lock);
    uint16_t id = 0;
    for (uint16_t i = 0; i < hk_track.label_count && id == 0; i++)
        if (strncmp(hk_track.labels[i], name, HK_LABEL_LEN - 1) == 0) id = (uint16_t)(i + 1);
    if (id == 0 && hk_track.label_count < HK_LABELS_MAX) {
        char *slot = hk_track.labels[hk_track.label_count];
        size_t n = strnlen(name, HK_LABEL_LEN - 1);
        memcpy(slot, name, n);
        slot[n] = '\0';
        id = ++hk_track.label_count;
    }
    pthread_mutex_unlock(&hk_track.labels_lock);
    return id;
}

const char *hk_track_label_name(uint16_t label) {
    return label == 0 || label > hk_track.label_count ? NULL : hk_track.labels[label - 1];
}

void hk_track_set_label(const void *p, uint16_t label) {
    hk_segment_t *seg;
    uint8_t *block;
    hk_track_rec_t *rec = hk_track_locate(p, &seg, &block);
    if (rec != NULL && rec->stack != 0) rec->label = label;
}

/* ------------------------------------------------------- corruption reports */

/* The describe_block hook (core/corruption.c, on its way to abort): for a block the tracker knows
 * live, its size, thread and allocation stack, symbolized as far as dladdr can without allocating
 * (the report is read by a person, now; `heapkit` is not there to symbolize it later). A free
 * block has no record left: nothing is said of it. */
static void hk_track_describe(const void *p, const char *role, hk_buf_t *out) {
    if (hk_track_block_state(p) != HK_BLOCK_LIVE || hk_segmap_get((uintptr_t)p) != HK_MAP_SEGMENT) return;
    hk_segment_t *seg = hk_ptr_segment(p);
    hk_page_t *page = hk_segment_page_of(seg, p);
    const hk_track_rec_t *rec = hk_track_record(seg, page, hk_page_block_index(page, p));
    hk_buf_printf(out, "heapkit:   %s (%p) is live: %u bytes asked for, allocated by thread %u", role, p,
                  (unsigned)rec->size, (unsigned)rec->thread);
    size_t depth = 0;
    const uintptr_t *frames = rec->stack > HK_STACK_UNKNOWN ? hk_stack_get(rec->stack, &depth) : NULL;
    hk_buf_printf(out, depth > 0 ? " at:\n" : " (stack not kept)\n");
    for (size_t f = 0; f < depth; f++) {
        Dl_info info;
        if (dladdr((void *)frames[f], &info) != 0 && info.dli_sname != NULL)
            hk_buf_printf(out, "heapkit:     #%zu %s+0x%lx (%s)\n", f, info.dli_sname,
                          (unsigned long)(frames[f] - (uintptr_t)info.dli_saddr), info.dli_fname);
        else if (dladdr((void *)frames[f], &info) != 0)
            hk_buf_printf(out, "heapkit:     #%zu 0x%lx (%s+0x%lx)\n", f, (unsigned long)frames[f], info.dli_fname,
                          (unsigned long)(frames[f] - (uintptr_t)info.dli_fbase));
        else hk_buf_printf(out, "heapkit:     #%zu 0x%lx\n", f, (unsigned long)frames[f]);
    }
}

/* ------------------------------------------------------------------ install */

/* In process init, before the first allocation: with HEAPKIT_LEAKS=1 every block is tracked.
 * Leak tracking alone needs no free hook: frees take the plain paths and a check tells the free
 * blocks from the allocator's lists (leak_free.c), so a freed block's record is stale until its
 * next malloc writes it. An exact profile (its observer counts each free) and heap checking (its
 * quarantine clears and restores records through the hook) keep the hook; so does the hardened
 * mode, whose quarantine holds freed blocks off the lists. */
hk_plain_path void hk_track_install(void) {
    if (!hk_state.options.leaks) return;
    hk_track_enable(NULL);
    if (hk_state.options.profile == HK_PROFILE_OFF && hk_state.options.check == HK_CHECK_OFF && !hk_secure()) {
        hk_state.hooks.free = NULL;
        hk_state.frees_plain = true;
    }
}

void hk_track_enable(const hk_track_observer_t *observer) {
    if (observer != NULL) hk_track.observer = observer;
    hk_state.frees_plain = false;
    hk_state.hooks = (hk_hooks_t){
        .alloc = hk_track_alloc,
        .alloc_block = hk_track_alloc_block,
        .free = hk_track_free,
        .segment_mapped = hk_track_segment_mapped,
        .segment_unmapped = hk_track_segment_unmapped,
        .huge_placed = hk_track_huge_placed,
        .heap_done = hk_track_heap_done,
        .describe_block = hk_track_describe,
    };
    hk_state.observed = true;
}

HK_LOCK(labels, HK_LOCK_LABELS, &hk_track.labels_lock);
