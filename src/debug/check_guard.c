/* check_guard.c — guard pages: every block on pages of its own (HEAPKIT_CHECK=guard), or about one
 * allocation in N on a small fixed set of guard slots (HEAPKIT_SAMPLE_GUARD=N, as GWP-ASan does);
 * and the SIGSEGV handler that turns a fault on a guard page or a freed block into a report.
 *
 * A block's end is as close to a PROT_NONE page as malloc's alignment lets it be
 * (HEAPKIT_CHECK_SIDE=left: its start follows one), so a read or write past it faults at the
 * instruction; a freed block's pages are made PROT_NONE and kept in a quarantine, so a use after
 * free faults too.
 * The alignment choice: malloc promises every block 16-byte alignment (max_align_t), and programs
 * rely on it (SSE copies, allocators of their own carved out of a block, the conformance tests),
 * so a block starts at the page end minus its size rounded down to 16 (an explicit alignment,
 * aligned_alloc..., rounds down further): its end is flush against the guard page when its size
 * is a multiple of 16, and otherwise 1 to 15 bytes before it. Those bytes are canary bytes,
 * checked when the block is freed and at exit, so an overflow into them is still found, at the
 * free rather than at the access (the canary mode's way). Placing a block of odd size at the page
 * end exactly (its natural alignment only, as some guard-page tools do) would catch that access at
 * once, but break programs that take the 16 bytes for granted.
 * The fault handler runs on an alternate stack (so a
 * Records live in a table of the library's own memory (never in the guarded pages), found by the
 * block's address; a fault searches the table. */
#define _GNU_SOURCE
#include "check.h"
#include "leak.h"
#include "sampler.h"
#include "unwind_lib.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/* Guard blocks at once, live and in quarantine: the kernel's default limit of 65530 mappings
 * allows about 32000 (each block is two: its pages and its guard); a table of 2^17 keeps the
 * probe chains short. The sampled mode alone holds at most its slots' records, live and freed:
 * 2^10 records (64 KiB) instead of 8 MiB, which the exit scan read whole in every process
 * (2,000 page faults each: +85,000 in a python3 run that starts 40 processes). */
#define HK_GUARD_TABLE_BITS 17
#define HK_GUARD_SAMPLED_TABLE_BITS 10
/* Guard blocks (full mode) mapped at once, live and in quarantine: each is two mappings (its pages
 * and its guard), and the kernel allows a process 65530 (vm.max_map_count): past this many, room is
 * left for the allocator's own segments and the program's mappings, and new blocks fall back to
 * canaries (the oldest quarantined ones are unmapped first). */
#define HK_GUARD_MAPPINGS_MAX 25000
/* Sampled mode: this many slots, each this many pages between guard pages. Bigger allocations
 * are not sampled. */
#define HK_SAMPLE_SLOTS 32
#define HK_SAMPLE_SLOT_PAGES 4
/* The alternate stack of the fault handler (it walks the faulting stack and writes a report). */
#define HK_GUARD_ALT_STACK ((size_t)64 << 10)
/* A fault this close to the stack pointer, on no block of ours, is a stack overflow. */
#define HK_STACK_OVERFLOW_REACH ((uintptr_t)64 << 10)

enum { HK_GUARD_EMPTY = 0, HK_GUARD_LIVE, HK_GUARD_FREED, HK_GUARD_GONE /* a tombstone */ };

typedef struct hk_guard_rec_s {
    uintptr_t map;   /* the mapping (or slot), guard page included */
    size_t map_size;
    uintptr_t user;  /* the block handed out */
    size_t size;     /* bytes asked for */
    uint32_t alloc_stack, free_stack;
    uint32_t alloc_thread, free_thread;
    uint8_t state;
    uint8_t sampled;  /* a slot of the sampled pool */
    uint8_t reported; /* a fault on it was reported and its pages opened */
    uint8_t leak_reported; /* listed as a leak by an earlier leak check */
    uint32_t next_freed; /* quarantine order: index + 1 of the next freed record, 0 = none */
    uint16_t label;      /* a pool's name (track.c's labels), 0 = none */
    uint8_t family;      /* HK_FAMILY_* (hooks.h) of the call that allocated it */
} hk_guard_rec_t;

static struct {
    pthread_mutex_t lock;
    hk_guard_rec_t *table;
    unsigned table_bits;
    size_t table_size; /* records: 1 << table_bits */
    size_t page;
    uint32_t freed_head, freed_tail; /* the quarantine, oldest first (indexes + 1) */
    size_t freed_count, freed_bytes;
    size_t mapped; /* full mode's guard mappings, live and quarantined */
    /* the sampled pool: HK_SAMPLE_SLOTS slots, each followed by a guard page, after a first one */
    uint8_t *pool;
    size_t pool_size, slot_size;
    uint32_t slot_rec[HK_SAMPLE_SLOTS]; /* record index + 1 using the slot, 0 = free */
    /* The slot's pages were opened by a fault's report (its guards too) and not closed since: the
     * next block served from it closes them first. Else a slot is all inaccessible when served
     * (its last block's free closed it), and serving it takes one mprotect, not two: a sampled
     * allocation's cost is its system calls. */
    bool slot_opened[HK_SAMPLE_SLOTS];
    unsigned slot_next;
    struct sigaction previous; /* the program's handler before ours */
    bool handler_installed;
} hk_guard = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Sampled mode: the mean distance in bytes between two looks of the sampler (sampler.c) for the
 * guard slots, and the allocations the slots served. */
static double hk_sample_mean;
static _Atomic uint64_t hk_sample_served;

static size_t hk_guard_hash(uintptr_t user) {
    return (size_t)((user * HK_GOLDEN_RATIO_64) >> (64 - hk_guard.table_bits));
}

/* The record of the block handed out at user (live or freed), or NULL. Lock held. */
static hk_guard_rec_t *hk_guard_find(uintptr_t user) {
    if (hk_guard.table == NULL) return NULL;
    for (size_t i = hk_guard_hash(user), n = 0; n < hk_guard.table_size; i = (i + 1) & (hk_guard.table_size - 1), n++) {
        hk_guard_rec_t *r = &hk_guard.table[i];
        if (r->state == HK_GUARD_EMPTY) return NULL;
        if ((r->state == HK_GUARD_LIVE || r->state == HK_GUARD_FREED) && r->user == user) return r;
    }
    return NULL;
}

/* A free record for user (lock held), or NULL when the table is full. */
static hk_guard_rec_t *hk_guard_slot_for(uintptr_t user) {
    for (size_t i = hk_guard_hash(user), n = 0; n < hk_guard.table_size; i = (i + 1) & (hk_guard.table_size - 1), n++) {
        hk_guard_rec_t *r = &hk_guard.table[i];
        if (r->state == HK_GUARD_EMPTY || r->state == HK_GUARD_GONE) return r;
    }
    return NULL;
}

/* The record whose mapping holds a (a fault, an interior pointer), or NULL. Lock held. */
static hk_guard_rec_t *hk_guard_containing(uintptr_t a) {
    if (hk_guard.table == NULL) return NULL;
    for (size_t i = 0; i < hk_guard.table_size; i++) {
        hk_guard_rec_t *r = &hk_guard.table[i];
        if ((r->state == HK_GUARD_LIVE || r->state == HK_GUARD_FREED) && a >= r->map && a < r->map + r->map_size)
            return r;
    }
    return NULL;
}

/* Where a block of `size` bytes (alignment `align`, at least 16) starts in the data pages
 * [lo, hi) next to its guard. */
static uintptr_t hk_guard_place(uintptr_t lo, uintptr_t hi, size_t size, size_t align) {
    if (hk_state.options.check_left) return lo;
    return (hi - size) & ~(uintptr_t)(align - 1);
}

/* The canary bytes between a block's end and its guard page (right side): alignment's gap. */
#define HK_GUARD_GAP_BYTE 0xcb

static uintptr_t hk_guard_gap_end(const hk_guard_rec_t *r) {
    if (hk_state.options.check_left) return r->user + r->size; /* no gap: the guard is before */
    return hk_align_up(r->user + r->size, hk_guard.page);
}

/* Right side: the bytes just before the block, on its first page, are canaries too (as many as the
 * canary mode's header leaves), so a write before the block is found at the free and at exit as
 * the canary mode finds it; the left side has its guard page there instead. */
#define HK_GUARD_FRONT_BYTES 16

static uintptr_t hk_guard_front(const hk_guard_rec_t *r) {
    if (hk_state.options.check_left) return r->user;
    uintptr_t page_start = r->user & ~(uintptr_t)(hk_guard.page - 1);
    return r->user - page_start < HK_GUARD_FRONT_BYTES ? page_start : r->user - HK_GUARD_FRONT_BYTES;
}

/* The first damaged front canary byte, or 0. */
static uintptr_t hk_guard_front_damage(const hk_guard_rec_t *r) {
    for (const uint8_t *b = (const uint8_t *)hk_guard_front(r); b < (const uint8_t *)r->user; b++)
        if (*b != HK_GUARD_GAP_BYTE) return (uintptr_t)b;
    return 0;
}

/* ------------------------------------------------------------ allocation */

/* The sampled pool has a granule of the segment map (4 MiB, aligned) to itself: a huge block's
 * mapping tags its whole granule, and a slot inside one would pass for that block's middle in
 * free, which the sampling hook is only asked about for pointers outside every segment. */
static bool hk_guard_pool_ready(void) {
    if (hk_guard.pool != NULL) return true;
    hk_guard.slot_size = HK_SAMPLE_SLOT_PAGES * hk_guard.page;
    hk_guard.pool_size = (HK_SAMPLE_SLOTS * (HK_SAMPLE_SLOT_PAGES + 1) + 1) * hk_guard.page;
    if (hk_guard.pool_size > HK_SEGMENT_SIZE) return false; /* pages of 32 KiB or more: no sampling */
    uint8_t *raw = mmap(NULL, 2 * HK_SEGMENT_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return false;
    uint8_t *pool = (uint8_t *)hk_align_up((uintptr_t)raw, HK_SEGMENT_SIZE);
    if (pool > raw) munmap(raw, (size_t)(pool - raw));
    if (pool + HK_SEGMENT_SIZE < raw + 2 * HK_SEGMENT_SIZE)
        munmap(pool + HK_SEGMENT_SIZE, (size_t)(raw + 2 * HK_SEGMENT_SIZE - (pool + HK_SEGMENT_SIZE)));
    hk_guard.pool = pool;
    return true;
}

static void hk_guard_evict(void);

/* A mapping for a guard block: its own (full mode), or a sampled slot (reusing the one freed
 * longest ago: its quarantine is the rest of the pool). Lock held. */
static uintptr_t hk_guard_map(size_t data, bool sampled, size_t *map_size, unsigned *slot) {
    if (sampled) {
        if (!hk_guard_pool_ready() || data > hk_guard.slot_size) return 0;
        for (unsigned tries = 0; tries < HK_SAMPLE_SLOTS; tries++) {
            unsigned s = hk_guard.slot_next++ % HK_SAMPLE_SLOTS;
            uint32_t ri = hk_guard.slot_rec[s];
            if (ri != 0 && hk_guard.table[ri - 1].state == HK_GUARD_LIVE) continue;
            if (ri != 0) hk_guard.table[ri - 1].state = HK_GUARD_GONE; /* its freed block is forgotten */
            hk_guard.slot_rec[s] = 0;
            *slot = s;
            *map_size = hk_guard.slot_size + 2 * hk_guard.page;
            return (uintptr_t)hk_guard.pool + s * (hk_guard.slot_size + hk_guard.page);
        }
        return 0; /* every slot live: not sampled */
    }
    if (hk_guard.mapped >= HK_GUARD_MAPPINGS_MAX && hk_guard.freed_head != 0) { /* make room: oldest first */
        size_t keep = hk_state.options.quarantine_count;
        hk_state.options.quarantine_count = hk_guard.freed_count > 0 ? hk_guard.freed_count - 1 : 0;
        hk_guard_evict();
        hk_state.options.quarantine_count = keep;
    }
    if (hk_guard.mapped >= HK_GUARD_MAPPINGS_MAX) return 0; /* a canary block instead */
    *map_size = data + hk_guard.page;
    void *p = mmap(NULL, *map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    hk_guard.mapped++;
    uintptr_t guard = hk_state.options.check_left ? (uintptr_t)p : (uintptr_t)p + data;
    if (mprotect((void *)guard, hk_guard.page, PROT_NONE) != 0) {
        munmap(p, *map_size);
        hk_guard.mapped--;
        return 0;
    }
    return (uintptr_t)p;
}

void *hk_guard_alloc(size_t size, size_t align, bool zero, bool sampled) {
    if (hk_guard.page == 0) return NULL;
    /* Guard blocks do not come from the core: a thread they alone serve (every thread of a program
     * under --check=guard) would have no heap, so no stack cache (each capture a whole walk, the
     * allocation call told by reading the caller's code with a system call) and serial 0. */
    if (hk_unlikely(hk_heap_tls == &hk_heap_empty)) (void)hk_heap_thread_init();
    size_t need = size + (align > HK_BLOCK_ALIGN ? align : 0);
    if (need < size || need > ((size_t)1 << 40)) return NULL;
    size_t data = hk_align_up(need == 0 ? 1 : need, hk_guard.page);
    pthread_mutex_lock(&hk_guard.lock);
    size_t map_size = 0;
    unsigned slot = 0;
    uintptr_t map = hk_guard_map(data, sampled, &map_size, &slot);
    if (map == 0) {
        pthread_mutex_unlock(&hk_guard.lock);
        return NULL;
    }
    uintptr_t lo, hi;
    if (sampled) { /* [guard][slot][guard]: the block is next to the guard its side names */
        lo = map + hk_guard.page;
        hi = lo + hk_guard.slot_size;
        if (hk_state.options.check_left) hi = lo + data;
        else lo = hi - data;
        if (hk_guard.slot_opened[slot]) { /* guards a fault report opened, closed again */
            mprotect((void *)map, map_size, PROT_NONE);
            hk_guard.slot_opened[slot] = false;
        }
        mprotect((void *)lo, data, PROT_READ | PROT_WRITE);
    } else {
        lo = hk_state.options.check_left ? map + hk_guard.page : map;
        hi = lo + data;
    }
    uintptr_t user = hk_guard_place(lo, hi, size, align > HK_BLOCK_ALIGN ? align : HK_BLOCK_ALIGN);
    hk_guard_rec_t *r = hk_guard_slot_for(user);
    if (r == NULL) { /* the table is full: give the mapping back */
        if (sampled) mprotect((void *)lo, data, PROT_NONE);
        else {
            munmap((void *)map, map_size);
            hk_guard.mapped--;
        }
        pthread_mutex_unlock(&hk_guard.lock);
        return NULL;
    }
    hk_guard_rec_t fresh = {.map = map, .map_size = map_size, .user = user, .size = size, .state = HK_GUARD_LIVE,
                            .sampled = sampled, .alloc_thread = hk_check_thread()};
    /* the gap's canaries before the record is live: an exit scan (or a fork) may look at once */
    memset((void *)(user + size), HK_GUARD_GAP_BYTE, hk_guard_gap_end(&fresh) - (user + size));
    memset((void *)hk_guard_front(&fresh), HK_GUARD_GAP_BYTE, user - hk_guard_front(&fresh));
    *r = fresh;
    if (sampled) hk_guard.slot_rec[slot] = (uint32_t)(r - hk_guard.table) + 1;
    pthread_mutex_unlock(&hk_guard.lock);
    if (zero && sampled) memset((void *)user, 0, size); /* a reused slot holds old bytes */
    r->alloc_stack = hk_track_capture();
    return (void *)user;
}

/* ---------------------------------------------------------------- free */

/* A freed record leaves the quarantine: its mapping goes back (lock held). */
static void hk_guard_evict(void) {
    while (hk_guard.freed_head != 0 && (hk_guard.freed_count > hk_state.options.quarantine_count ||
                                        hk_guard.freed_bytes > hk_state.options.quarantine_bytes)) {
        hk_guard_rec_t *r = &hk_guard.table[hk_guard.freed_head - 1];
        hk_guard.freed_head = r->next_freed;
        if (hk_guard.freed_head == 0) hk_guard.freed_tail = 0;
        hk_guard.freed_count--;
        hk_guard.freed_bytes -= r->map_size;
        if (r->state == HK_GUARD_FREED) {
            munmap((void *)r->map, r->map_size);
            r->state = HK_GUARD_GONE;
            hk_guard.mapped--;
        }
    }
}

static void hk_guard_report_pointer(hk_err_kind_t kind, const char *call, uintptr_t p, const hk_guard_rec_t *r,
                                    const char *where) {
    hk_check_error_t e = {.kind = kind, .call = call, .addr = p, .where = where};
    if (r != NULL) {
        e.block = r->user;
        e.block_size = r->size;
        e.label = hk_track_label_name(r->label);
        e.alloc_stack = r->alloc_stack;
        e.alloc_thread = r->alloc_thread;
        if (r->state == HK_GUARD_FREED) {
            e.free_stack = r->free_stack;
            e.free_thread = r->free_thread;
        }
    } else {
        e.where = hk_check_where(p, &e.module);
    }
    e.access_stack = hk_track_capture();
    e.access_thread = hk_check_thread();
    hk_check_report(&e);
}

bool hk_guard_free(void *p, size_t size, bool sized, const char *call) {
    uintptr_t u = (uintptr_t)p;
    if (hk_guard.table == NULL) return false;
    pthread_mutex_lock(&hk_guard.lock);
    hk_guard_rec_t *r = hk_guard_find(u);
    if (r == NULL) {
        /* Not a guard block's start. Its middle? Only outside the allocator's memory: a guard
         * mapping may share a segment-map granule with a huge block, so that is asked second. */
        bool core = hk_segmap_get(u) == HK_MAP_SEGMENT || hk_huge_segment_of(u) != NULL;
        r = core ? NULL : hk_guard_containing(u);
        hk_guard_rec_t copy = r != NULL ? *r : (hk_guard_rec_t){0};
        pthread_mutex_unlock(&hk_guard.lock);
        if (r == NULL) return false;
        hk_guard_report_pointer(HK_ERR_INVALID_FREE, call, u, &copy, "interior");
        return true;
    }
    if (r->state == HK_GUARD_FREED) {
        hk_guard_rec_t copy = *r;
        pthread_mutex_unlock(&hk_guard.lock);
        hk_guard_report_pointer(strcmp(call, "realloc") == 0 ? HK_ERR_REALLOC_FREED : HK_ERR_DOUBLE_FREE, call, u,
                                &copy, "quarantine");
        return true;
    }
    const uint8_t *gap = (const uint8_t *)(r->user + r->size), *gap_end = (const uint8_t *)hk_guard_gap_end(r);
    while (gap < gap_end && *gap == HK_GUARD_GAP_BYTE) gap++;
    uintptr_t front = r->reported ? 0 : hk_guard_front_damage(r);
    r->state = HK_GUARD_FREED;
    r->free_thread = hk_check_thread();
    hk_guard_rec_t copy = *r;
    bool overflowed = gap < gap_end && !r->reported; /* a reported fault opened the guard */
    size_t index = (size_t)(r - hk_guard.table);
    /* the whole mapping inaccessible: the block's pages (the guard already is) */
    mprotect((void *)r->map, r->map_size, PROT_NONE);
    if (!r->sampled) { /* a slot is reused in turn: the pool is the sampled blocks' quarantine */
        r->next_freed = 0;
        if (hk_guard.freed_tail != 0) hk_guard.table[hk_guard.freed_tail - 1].next_freed = (uint32_t)index + 1;
        else hk_guard.freed_head = (uint32_t)index + 1;
        hk_guard.freed_tail = (uint32_t)index + 1;
        hk_guard.freed_count++;
        hk_guard.freed_bytes += r->map_size;
        hk_guard_evict();
    }
    pthread_mutex_unlock(&hk_guard.lock);
    uint32_t stack = hk_track_capture();
    r->free_stack = stack; /* the record stays while it is in quarantine */
    if (overflowed) {
        hk_check_error_t e = {.kind = HK_ERR_OVERFLOW_WRITE, .call = call, .addr = (uintptr_t)gap,
                              .block = copy.user, .block_size = copy.size, .alloc_stack = copy.alloc_stack,
                              .alloc_thread = copy.alloc_thread, .access_stack = stack,
                              .access_thread = copy.free_thread, .where = "gap",
                              .label = hk_track_label_name(copy.label)};
        hk_check_report(&e);
    }
    if (front != 0) {
        hk_check_error_t e = {.kind = HK_ERR_UNDERFLOW_WRITE, .call = call, .addr = front,
                              .block = copy.user, .block_size = copy.size, .alloc_stack = copy.alloc_stack,
                              .alloc_thread = copy.alloc_thread, .access_stack = stack,
                              .access_thread = copy.free_thread, .where = "canary", /* the front canaries */
                              .label = hk_track_label_name(copy.label)};
        hk_check_report(&e);
    }
    if (copy.family != hk_check_call_family(call)) { /* the mismatch wins over a size */
        hk_check_error_t e = {.addr = u, .block = copy.user, .block_size = copy.size, .alloc_stack = copy.alloc_stack,
                              .alloc_thread = copy.alloc_thread, .label = hk_track_label_name(copy.label)};
        hk_check_report_mismatch(&e, copy.family, call);
    } else if (sized && size != copy.size) {
        copy.free_stack = stack;
        hk_check_error_t e = {.kind = HK_ERR_WRONG_SIZE, .call = call, .addr = u, .access_size = size,
                              .block = copy.user, .block_size = copy.size, .alloc_stack = copy.alloc_stack,
                              .alloc_thread = copy.alloc_thread, .access_stack = stack,
                              .access_thread = copy.free_thread};
        hk_check_report(&e);
    }
    return true;
}

size_t hk_guard_size(const void *p) {
    if (hk_guard.table == NULL) return 0;
    pthread_mutex_lock(&hk_guard.lock);
    hk_guard_rec_t *r = hk_guard_find((uintptr_t)p);
    size_t n = r != NULL && r->state == HK_GUARD_LIVE ? r->size : 0;
    pthread_mutex_unlock(&hk_guard.lock);
    return n;
}

/* p points into a live guard block (hk_owns: the block's middle too). */
bool hk_guard_owns(const void *p) {
    if (hk_guard.table == NULL) return false;
    pthread_mutex_lock(&hk_guard.lock);
    uintptr_t a = (uintptr_t)p;
    hk_guard_rec_t *r = hk_guard_find(a);
    if (r == NULL) r = hk_guard_containing(a);
    bool live = r != NULL && r->state == HK_GUARD_LIVE && (a == r->user || (a > r->user && a < r->user + r->size));
    pthread_mutex_unlock(&hk_guard.lock);
    return live;
}

/* Name the live guard block at p by a pool's label. */
void hk_guard_set_label(const void *p, uint16_t label) {
    if (hk_guard.table == NULL) return;
    pthread_mutex_lock(&hk_guard.lock);
    hk_guard_rec_t *r = hk_guard_find((uintptr_t)p);
    if (r != NULL && r->state == HK_GUARD_LIVE) r->label = label;
    pthread_mutex_unlock(&hk_guard.lock);
}

/* The live guard block at p was allocated by a C++ operator of `family`. */
void hk_guard_set_family(const void *p, uint8_t family) {
    pthread_mutex_lock(&hk_guard.lock);
    hk_guard_rec_t *r = hk_guard_find((uintptr_t)p);
    if (r != NULL && r->state == HK_GUARD_LIVE) r->family = family;
    pthread_mutex_unlock(&hk_guard.lock);
}

/* What the guard blocks' table knows of p (HK_BLOCK_FOREIGN: not a guard block's). */
hk_block_state_t hk_guard_state(const void *p) {
    if (hk_guard.table == NULL) return HK_BLOCK_FOREIGN;
    uintptr_t a = (uintptr_t)p;
    pthread_mutex_lock(&hk_guard.lock);
    hk_guard_rec_t *r = hk_guard_find(a);
    hk_block_state_t state = r != NULL ? (r->state == HK_GUARD_LIVE ? HK_BLOCK_LIVE : HK_BLOCK_FREE)
                             : hk_guard_containing(a) != NULL ? HK_BLOCK_INTERIOR
                                                              : HK_BLOCK_FOREIGN;
    pthread_mutex_unlock(&hk_guard.lock);
    return state;
}

/* ------------------------------------------------------------ leak check */

/* The leak check (leak.c) takes the table's lock before it stops the other threads, so none is
 * stopped holding it, and releases it after they go on. */
void hk_guard_leak_lock(void) {
    if (hk_guard.table != NULL) pthread_mutex_lock(&hk_guard.lock);
}

void hk_guard_leak_unlock(void) {
    if (hk_guard.table != NULL) pthread_mutex_unlock(&hk_guard.lock);
}

/* Live guard blocks whose allocation stack is known (lock held). */
size_t hk_guard_leak_count(void) {
    size_t n = 0;
    for (size_t i = 0; hk_guard.table != NULL && i < hk_guard.table_size; i++)
        n += hk_guard.table[i].state == HK_GUARD_LIVE && hk_guard.table[i].alloc_stack != HK_STACK_NONE;
    return n;
}

/* Heap sort by address: no allocation (the other threads are stopped, one may hold malloc's
 * locks), and no recursion. */
static void hk_guard_sift(hk_guard_block_t *b, size_t root, size_t n) {
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && b[child + 1].user > b[child].user) child++;
        if (b[root].user >= b[child].user) return;
        hk_guard_block_t t = b[root];
        b[root] = b[child];
        b[child] = t;
    }
}

size_t hk_guard_leak_blocks(hk_guard_block_t *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; hk_guard.table != NULL && i < hk_guard.table_size && n < cap; i++) {
        const hk_guard_rec_t *r = &hk_guard.table[i];
        if (r->state != HK_GUARD_LIVE || r->alloc_stack == HK_STACK_NONE) continue;
        hk_guard_block_t *b = &out[n++];
        *b = (hk_guard_block_t){.user = r->user, .size = r->size,
                                .data_lo = r->user & ~(uintptr_t)(hk_guard.page - 1),
                                .data_hi = hk_align_up(r->user + (r->size ? r->size : 1), hk_guard.page)};
        b->rec.stack = r->alloc_stack;
        b->rec.size = r->size > UINT32_MAX ? UINT32_MAX : (uint32_t)r->size;
        b->rec.thread = r->alloc_thread;
        b->rec.label = r->label;
        b->rec.reported = r->leak_reported & 1;
    }
    for (size_t i = n / 2; i-- > 0;) hk_guard_sift(out, i, n);
    for (size_t end = n; end-- > 1;) {
        hk_guard_block_t t = out[0];
        out[0] = out[end];
        out[end] = t;
        hk_guard_sift(out, 0, end);
    }
    return n;
}

void hk_guard_leak_done(const hk_guard_block_t *blocks, size_t count) {
    for (size_t i = 0; i < count; i++) {
        hk_guard_rec_t *r = hk_guard_find(blocks[i].user);
        if (r != NULL && r->state == HK_GUARD_LIVE) r->leak_reported = blocks[i].rec.reported;
    }
}

/* -------------------------------------------------------------- sampling */

/* Sampled slots ride the sampler's countdown of bytes, which the fast paths charge: no counting
 * of calls, which would cost the fast paths an instruction. For about one allocation in N, the
 * sampler looks (a Poisson process over the bytes) R = 16 / -ln(1 - 1/N) bytes apart on average,
 * so a block of s bytes holds a look with probability q(s) = 1 - exp(-s/R), which is 1/N for
 * s = 16 (the smallest block) and more for bigger ones; a look on a block of s bytes takes it with
 * probability (1/N) / q(s). Every block of 16 bytes or more is so taken with probability 1/N
 * exactly, whatever its size, independently of the others (GWP-ASan's rule); smaller ones less
 * (s/16 of it). N = 1 looks at every allocation and takes it. */
#define HK_SAMPLE_SIZE_MIN 16.0

static int64_t hk_sample_interval(void) {
    return hk_sample_mean == 0 ? 0 : hk_sampler_exponential(hk_sample_mean);
}

static void *hk_sample_serve(size_t size, bool zero) {
    if (hk_own_work || hk_own_thread) return NULL;
    if (hk_sample_mean != 0) {
        double look = 1.0 - hk_sampler_exp_neg((double)size / hk_sample_mean);
        double take = look > 0 ? 1.0 / ((double)hk_state.options.sample_guard * look) : 0.0;
        if (take < 1.0 && (double)(hk_sampler_random() >> 11) * (1.0 / 9007199254740992.0) >= take) return NULL;
    }
    hk_guard_thread_ready();
    void *p = hk_guard_alloc(size, 0, zero, true);
    if (p != NULL) atomic_fetch_add_explicit(&hk_sample_served, 1, memory_order_relaxed);
    return p;
}

static const hk_sample_consumer_t hk_guard_consumer = {.interval = hk_sample_interval, .serve = hk_sample_serve};

size_t hk_guard_sampled(void) { return (size_t)atomic_load_explicit(&hk_sample_served, memory_order_relaxed); }

static bool hk_sample_owns(const void *p) {
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)hk_guard.pool;
    return lo != 0 && a >= lo && a < lo + hk_guard.pool_size;
}

static void hk_sample_free(void *p, size_t size, bool sized) {
    if (!hk_guard_free(p, size, sized, sized ? "free_sized" : "free"))
        hk_guard_report_pointer(HK_ERR_INVALID_FREE, "free", (uintptr_t)p, NULL, NULL);
}

static void *hk_sample_realloc(void *p, size_t size) {
    size_t old = hk_guard_size(p);
    if (old == 0) { /* freed, or inside a slot */
        hk_guard_free(p, 0, false, "realloc");
        errno = EINVAL;
        return NULL;
    }
    void *q = NULL;
    if (size != 0 && (q = hk_malloc(size)) == NULL) return NULL;
    if (q != NULL) memcpy(q, p, old < size ? old : size);
    hk_guard_free(p, 0, false, "realloc");
    return q;
}

static const hk_front_t hk_sample_front = {
    .free = hk_sample_free,
    .realloc = hk_sample_realloc,
    .usable = hk_guard_size,
    .owns = hk_guard_owns,
};

/* ----------------------------------------------------------- the fault */

/* The depot id of the faulting thread's stack, from the signal's context: the faulting
 * instruction first (stored + 1, as frames are return addresses, which readers look up at - 1). */
static uint32_t hk_guard_fault_stack(ucontext_t *uc) {
    hk_module_history_note();
    uintptr_t frames[HK_STACK_DEPTH_MAX];
    size_t n = hk_unwind_lib_signal_frames(uc, frames, (size_t)hk_state.options.stack_depth);
    return n == 0 ? HK_STACK_UNKNOWN : hk_stack_depot_put(frames, n);
}

static bool hk_fault_is_write(const ucontext_t *uc) {
#if defined(__x86_64__)
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0; /* the page fault's error code: a write */
#else
    (void)uc;
    return true;
#endif
}

static uintptr_t hk_fault_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

/* Hand a fault that is not ours to the handler the program had (or the default action). */
static void hk_guard_chain(int sig, siginfo_t *info, void *ctx) {
    struct sigaction *prev = &hk_guard.previous;
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction != NULL) {
        prev->sa_sigaction(sig, info, ctx);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* the default: returning re-runs the access, which now ends the process as it would have */
    signal(sig, SIG_DFL);
}

static void hk_guard_fault(int sig, siginfo_t *info, void *ctx) {
    int saved = errno;
    ucontext_t *uc = ctx;
    uintptr_t a = (uintptr_t)info->si_addr;
    pthread_mutex_lock(&hk_guard.lock);
    hk_guard_rec_t *r = info->si_code == SEGV_ACCERR || info->si_code == SEGV_MAPERR ? hk_guard_containing(a) : NULL;
    hk_guard_rec_t copy = r != NULL ? *r : (hk_guard_rec_t){0};
    if (r != NULL && r->reported == 0) {
        r->reported = 1;
        /* open the pages so the program goes on past this access (one report per block) */
        mprotect((void *)r->map, r->map_size, PROT_READ | PROT_WRITE);
        if (r->sampled) hk_guard.slot_opened[(r->map - (uintptr_t)hk_guard.pool) / (hk_guard.slot_size + hk_guard.page)] = true;
    } else if (r != NULL) {
        r = NULL; /* reported before and opened since: another thread raced us; just retry */
        copy.reported = 1;
    }
    pthread_mutex_unlock(&hk_guard.lock);
    if (copy.state != 0) {
        if (r != NULL) {
            bool write = hk_fault_is_write(uc);
            hk_check_error_t e = {.addr = a, .block = copy.user, .block_size = copy.size,
                                  .label = hk_track_label_name(copy.label),
                                  .alloc_stack = copy.alloc_stack, .alloc_thread = copy.alloc_thread,
                                  .access_thread = hk_check_thread(), .where = copy.sampled ? "sampled" : "guard"};
            if (copy.state == HK_GUARD_FREED) {
                e.kind = write ? HK_ERR_FREED_WRITE : HK_ERR_FREED_READ;
                e.free_stack = copy.free_stack;
                e.free_thread = copy.free_thread;
            } else if (a >= copy.user + copy.size) {
                e.kind = write ? HK_ERR_OVERFLOW_WRITE : HK_ERR_OVERFLOW_READ;
            } else {
                e.kind = write ? HK_ERR_UNDERFLOW_WRITE : HK_ERR_UNDERFLOW_READ;
            }
            e.access_stack = hk_guard_fault_stack(uc);
            hk_check_report(&e);
        }
        errno = saved;
        return;
    }
    uintptr_t sp = hk_fault_sp(uc);
    if (sp != 0 && a + HK_STACK_OVERFLOW_REACH >= sp && a <= sp + HK_STACK_OVERFLOW_REACH) {
        hk_check_error_t e = {.kind = HK_ERR_STACK_OVERFLOW, .addr = a, .where = "stack",
                              .access_thread = hk_check_thread()};
        e.access_stack = hk_guard_fault_stack(uc);
        hk_check_report(&e);
    }
    hk_guard_chain(sig, info, ctx);
    errno = saved;
}

/* Each thread's alternate stack for the fault handler (a stack overflow leaves no room on the
 * thread's own): made on the thread's first checked or sampled allocation, given back when it exits. */
__thread void *hk_guard_alt_stack __attribute__((tls_model("initial-exec")));

void hk_guard_thread_ready_slow(void) {
    if (!hk_guard.handler_installed) return; /* called only while this thread has no alternate stack */
    void *p = mmap(NULL, HK_GUARD_ALT_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    stack_t alt = {.ss_sp = p, .ss_size = HK_GUARD_ALT_STACK};
    if (sigaltstack(&alt, NULL) != 0) {
        munmap(p, HK_GUARD_ALT_STACK);
        return;
    }
    hk_guard_alt_stack = p;
}

hk_plain_path bool hk_guard_handling_faults(void) { return hk_guard.handler_installed; }

hk_plain_path void hk_guard_thread_done(void) {
    if (hk_guard_alt_stack == NULL) return;
    stack_t off = {.ss_flags = SS_DISABLE};
    if (sigaltstack(&off, NULL) == 0) munmap(hk_guard_alt_stack, HK_GUARD_ALT_STACK);
    hk_guard_alt_stack = NULL;
}

static void hk_guard_install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = hk_guard_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &hk_guard.previous) == 0) hk_guard.handler_installed = true;
    hk_guard_thread_ready(); /* the thread starting the process: normally the main thread */
}

/* --------------------------------------------------------------- process */

/* Process init, with any checking mode: the fault handler (stack overflows are reported in every
 * mode), and for guard pages and sampling their table. */
void hk_guard_init(void) {
    hk_guard_install_handler();
    if (hk_state.options.check != HK_CHECK_GUARD && hk_state.options.sample_guard == 0) return;
    hk_guard.page = hk_os_page_size();
    hk_guard.table_bits = hk_state.options.check == HK_CHECK_GUARD ? HK_GUARD_TABLE_BITS : HK_GUARD_SAMPLED_TABLE_BITS;
    hk_guard.table_size = (size_t)1 << hk_guard.table_bits;
    hk_guard.table = hk_meta_map(hk_guard.table_size * sizeof(hk_guard_rec_t));
    if (hk_guard.table == NULL) {
        hk_message("cannot map the guard blocks' table: guard pages are off");
        hk_guard.page = 0;
        return;
    }
    if (hk_state.options.sample_guard != 0 && hk_state.options.check == HK_CHECK_OFF) {
        double n = (double)hk_state.options.sample_guard;
        hk_sample_mean = n <= 1 ? 0 : HK_SAMPLE_SIZE_MIN / -hk_sampler_ln(1.0 - 1.0 / n);
        hk_sampler_add(&hk_guard_consumer);
        hk_state.hooks.sample_owns = hk_sample_owns;
        hk_state.hooks.sample_front = &hk_sample_front;
    }
}

/* Damaged gaps the exit scan reports at most. */
#define HK_GUARD_SCAN_MAX 64

/* At exit: the gap canaries of live blocks (an overrun block never freed) are checked, and the
 * quarantined mappings go back (a process that forks a lot should not keep them). */
hk_plain_path void hk_guard_check_all(void) {
    if (hk_guard.table == NULL) return;
    hk_check_error_t found[HK_GUARD_SCAN_MAX];
    size_t n = 0;
    pthread_mutex_lock(&hk_guard.lock);
    for (size_t i = 0; i < hk_guard.table_size && n < HK_GUARD_SCAN_MAX; i++) {
        hk_guard_rec_t *r = &hk_guard.table[i];
        if (r->state != HK_GUARD_LIVE || r->reported) continue;
        const uint8_t *gap = (const uint8_t *)(r->user + r->size), *gap_end = (const uint8_t *)hk_guard_gap_end(r);
        while (gap < gap_end && *gap == HK_GUARD_GAP_BYTE) gap++;
        uintptr_t front = hk_guard_front_damage(r);
        if (front != 0 && n < HK_GUARD_SCAN_MAX)
            found[n++] = (hk_check_error_t){.kind = HK_ERR_UNDERFLOW_WRITE, .addr = front, .block = r->user,
                                            .block_size = r->size, .alloc_stack = r->alloc_stack,
                                            .alloc_thread = r->alloc_thread, .where = "exit"};
        if (gap == gap_end || n == HK_GUARD_SCAN_MAX) continue;
        found[n++] = (hk_check_error_t){.kind = HK_ERR_OVERFLOW_WRITE, .addr = (uintptr_t)gap, .block = r->user,
                                        .block_size = r->size, .alloc_stack = r->alloc_stack,
                                        .alloc_thread = r->alloc_thread, .where = "exit"};
    }
    pthread_mutex_unlock(&hk_guard.lock);
    for (size_t i = 0; i < n; i++) hk_check_report(&found[i]);
    pthread_mutex_lock(&hk_guard.lock);
    size_t keep = hk_state.options.quarantine_count;
    hk_state.options.quarantine_count = 0;
    hk_guard_evict();
    hk_state.options.quarantine_count = keep;
    pthread_mutex_unlock(&hk_guard.lock);
}

HK_LOCK(guard, HK_LOCK_GUARD, &hk_guard.lock);
