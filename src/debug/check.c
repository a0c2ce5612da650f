/* check.c — heap checking with redzones and a quarantine (HEAPKIT_CHECK=1), and the front through
 * which every checking mode serves the allocation API (hk_hooks_t.front, base.h).
 * Each block the program asks for is carved out of a larger block of the allocator's: a header
 * (who allocated and freed it, sealed so damage or a stale pointer shows), a left canary, the
 * program's bytes, and a right canary to the end of the allocator's block. Canaries are checked
 * when the block is freed or reallocated, when it leaves the quarantine and at exit; freed blocks
 * are filled with a pattern and held back from reuse in a bounded FIFO quarantine, and the pattern
 * is checked when they leave it, so a write after free is seen then. A free finds its block from
 * the allocator's page (any pointer into a segment maps to its block), so an interior, double or
 * foreign free is told exactly. Guard-page mode (check_guard.c) serves blocks on pages of their
 * own through the same front, and falls back to these blocks when it cannot map more. */
#include "check.h"
#include "hooks.h"

#include <unistd.h>

/* The header at the start of the allocator's block, then canary bytes up to the block handed out
 * at block + user_offset (HK_CHECK_USER_OFFSET, or more for a bigger alignment). `size` comes
 * first: the allocator's free-list link overwrites the first word of a freed block, and a block
 * that left the quarantine needs no size, while the stacks after it stay readable. */
typedef struct hk_check_hdr_s {
    uint64_t size;        /* bytes asked for */
    uint32_t seal;        /* hk_check_seal(): the header is ours and undamaged */
    uint32_t user_offset; /* the block handed out, from the allocator's block */
    uint32_t alloc_stack, free_stack;
    uint32_t alloc_thread, free_thread;
    uint8_t state; /* HK_CHECK_* below */
    uint8_t family; /* HK_FAMILY_* (hooks.h) of the call that allocated it */
    uint16_t label; /* a pool's or arena's name (track.c's labels), 0 = none */
    uint32_t usable; /* the allocator's block's bytes (0: 4 GiB or more, the page tells), sealed: a
                      * block leaving the quarantine finds its end without looking it up */
} hk_check_hdr_t;

enum { HK_CHECK_LIVE = 1, HK_CHECK_FREED = 2, HK_CHECK_DEAD = 3 }; /* DEAD: left the quarantine */

/* The header, then 8 canary bytes: the block handed out is 16-byte aligned like every block. */
#define HK_CHECK_USER_OFFSET 48
/* The fewest canary bytes after a block (the rest of the allocator's block is canary too). */
#define HK_CHECK_RIGHT_MIN 16
/* The most canary bytes on each side: a block with a big alignment or in a big size class has
 * more room around it, which is left as it is (filling a mebibyte per call would cost more than
 * it finds). */
#define HK_CHECK_ZONE_MAX 4096
/* Canary bytes and the pattern of freed blocks: an odd value, no valid pointer or small integer,
 * distinct from the arenas' 0xdd fill. One byte for both: a freed block is then one run of it from
 * its left canary to the end of its right one, checked in one pass when it leaves the quarantine
 * (its canaries were checked apart at its free, so what differs now was written after the free;
 * where it lies, before, in or after the block's bytes, still tells the kind). */
#define HK_CHECK_REDZONE_BYTE 0xcb
#define HK_CHECK_FREED_BYTE HK_CHECK_REDZONE_BYTE
/* Blocks the quarantine hands back at once at most, for each block entering it; more wait for the
 * next free. */
#define HK_CHECK_EVICT_BATCH 16
/* Freed blocks a thread gathers before it takes the quarantine's lock once for them all (each is
 * checked and filled already, and counts as in quarantine: its state says so). Only with a
 * quarantine of at least HK_CHECK_BATCH_MIN_COUNT blocks, where holding 16 more per thread back
 * changes nothing a program sees; a small one (HEAPKIT_QUARANTINE_COUNT=1 hands a block back at
 * the next free) takes every block in turn. */
#define HK_CHECK_BATCH 16
#define HK_CHECK_BATCH_MIN_COUNT 1024
/* The ring's first slots. It doubles when full up to HEAPKIT_QUARANTINE_COUNT, so its memory is
 * that of the most blocks the quarantine held at once, not of the count allowed: a ring's head
 * walks all its slots, and a ring of 16 million slots, mapped whole, added 49 MiB to the peak RSS
 * of a python run whose byte bound held 4 MiB of blocks. */
#define HK_CHECK_RING_FIRST 4096
/* Damaged blocks the exit scan reports (more are counted in one line). */
#define HK_CHECK_SCAN_MAX 64

_Static_assert(sizeof(hk_check_hdr_t) == 40, "header, then 8 canary bytes before the block");

static struct {
    pthread_mutex_t lock; /* the quarantine */
    uint8_t **ring;       /* allocator blocks, oldest at head */
    uint32_t *held;       /* each slot's block's bytes held, as counted when it entered: a block
                           * leaving is not read under the lock (its lines are long cold), and a
                           * header written over in quarantine skews no count */
    size_t cap, head, count, bytes;
    size_t cap_max; /* HEAPKIT_QUARANTINE_COUNT: the ring grows to it as blocks wait */
    bool draining; /* exit: blocks go straight back, checked */
    bool batched;  /* threads gather their freed blocks first (HK_CHECK_BATCH); off from exit on
                    * (atomic: read without the lock) */
    size_t batch_bytes; /* a thread's gathered bytes at most: 1/64 of the quarantine's */
} hk_quarantine = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* This thread's freed blocks on their way into the quarantine. A thread's exit and the process's
 * exit put them in; a thread still running at exit keeps its own, which the exit scan checks
 * (every block in quarantine state is looked at there). */
static __thread struct {
    uint8_t *blocks[HK_CHECK_BATCH];
    uint32_t held[HK_CHECK_BATCH]; /* hk_check_held of each */
    size_t count, bytes;
} hk_quarantine_batch __attribute__((tls_model("initial-exec")));

/* The seal: a hash of where the block is and its layout, xor-ed with a key of its state, so a
 * block whose seal was just verified changes state by one xor (hk_check_restate), with no second
 * hash on its free and on its release. */
static inline uint32_t hk_check_state_key(uint8_t state) { return (uint32_t)state * 0x9e3779b1u; }

static inline uint32_t hk_check_seal(const uint8_t *block, const hk_check_hdr_t *h, uint8_t state) {
    uint64_t mix = (uintptr_t)block ^ ((uint64_t)h->user_offset << 40) ^ ((uint64_t)h->usable << 8);
    return ((uint32_t)((mix * HK_GOLDEN_RATIO_64) >> 32) ^ 0x6b636568u) ^ hk_check_state_key(state);
}

static void hk_check_reseal(uint8_t *block, uint8_t state) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    h->state = state;
    h->seal = hk_check_seal(block, h, state);
}

/* A block whose seal was verified in state `from` (and not written since) takes state `to`. */
static inline void hk_check_restate(uint8_t *block, uint8_t from, uint8_t to) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    h->state = to;
    h->seal ^= hk_check_state_key(from) ^ hk_check_state_key(to);
}

/* The header's state if it is sealed, else 0. */
static inline __attribute__((always_inline)) uint8_t hk_check_state(const uint8_t *block) {
    const hk_check_hdr_t *h = (const hk_check_hdr_t *)block;
    uint8_t s = h->state;
    if (s < HK_CHECK_LIVE || s > HK_CHECK_DEAD || h->user_offset < HK_CHECK_USER_OFFSET) return 0;
    return h->seal == hk_check_seal(block, h, s) ? s : 0;
}

/* The allocator's block of a small or medium page holding p (*end: its end), or NULL when p is
 * in none of its blocks. */
static inline __attribute__((always_inline)) uint8_t *hk_check_block_in(hk_page_t *page, const void *p, uint8_t **end) {
    const uint8_t *u = p;
    if (!page->in_use || u < page->start || u >= page->start + (size_t)page->reserved * page->block_size)
        return NULL;
    uint8_t *b = page->start + hk_page_block_index(page, p) * page->block_size;
    *end = b + page->block_size;
    return b;
}

/* The allocator's block holding p (*end: its end), or NULL when p is in none. */
static inline __attribute__((always_inline)) uint8_t *hk_check_block_of(const void *p, uint8_t **end) {
    const uint8_t *u = p;
    if (hk_segmap_get((uintptr_t)p) == HK_MAP_SEGMENT && hk_ptr_segment(p)->kind != HK_SEGMENT_HUGE) {
        hk_segment_t *seg = hk_ptr_segment(p);
        return hk_check_block_in(hk_segment_page_of(seg, p), p, end);
    }
    hk_segment_t *seg = hk_huge_segment_of((uintptr_t)p);
    if (seg == NULL) return NULL;
    uint8_t *b = (uint8_t *)seg + seg->block_offset;
    if (u < b || u >= b + seg->block_size) return NULL;
    *end = b + seg->block_size;
    return b;
}

/* The canary zones of a block: [*left, user) and [user + size, *right). An allocator's block of
 * HK_CHECK_ZONE_MAX bytes or fewer (nearly all) has no zone to cut short: one test for both. */
static inline __attribute__((always_inline)) void hk_check_zones(uint8_t *block, uint8_t *end, uint8_t **left,
                                                                  uint8_t **right) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    *left = block + sizeof *h;
    *right = end;
    if (hk_likely((size_t)(end - block) <= HK_CHECK_ZONE_MAX)) return;
    uint8_t *user = block + h->user_offset, *user_end = user + h->size;
    if ((size_t)(user - *left) > HK_CHECK_ZONE_MAX) *left = user - HK_CHECK_ZONE_MAX;
    if ((size_t)(end - user_end) > HK_CHECK_ZONE_MAX) *right = user_end + HK_CHECK_ZONE_MAX;
}

/* ------------------------------------------------------------------ errors */

static void hk_check_error_of_block(hk_check_error_t *e, const uint8_t *block) {
    const hk_check_hdr_t *h = (const hk_check_hdr_t *)block;
    e->block = (uintptr_t)block + h->user_offset;
    e->block_size = h->size;
    e->alloc_stack = h->alloc_stack;
    e->alloc_thread = h->alloc_thread;
    if (h->state != HK_CHECK_LIVE) {
        e->free_stack = h->free_stack;
        e->free_thread = h->free_thread;
    }
    e->label = hk_track_label_name(h->label);
}

/* Report a freed, live or unknown pointer given to a call that frees (or reallocates). */
static hk_noinline void hk_check_bad_pointer(hk_err_kind_t kind, const char *call, const void *p, const uint8_t *block,
                                 const char *where) {
    hk_check_error_t e = {.kind = kind, .call = call, .addr = (uintptr_t)p, .where = where};
    if (block != NULL) hk_check_error_of_block(&e, block);
    else e.where = hk_check_where((uintptr_t)p, &e.module);
    e.access_stack = hk_track_capture();
    e.access_thread = hk_check_thread();
    hk_check_report(&e);
}

/* 16 bytes at once (SSE2 on x86-64, NEON on arm64; plain words elsewhere): the canary and
 * pattern checks compare and fill this many bytes an instruction. */
typedef uint64_t hk_check_vec_t __attribute__((vector_size(16)));

static inline hk_check_vec_t hk_check_vec(const uint8_t *at) {
    hk_check_vec_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

/* An 8-byte word of memory at any alignment (a plain load on x86-64 and arm64). */
static inline uint64_t hk_check_word(const uint8_t *at) {
    uint64_t w;
    memcpy(&w, at, sizeof w);
    return w;
}

/* The bytes from lo to hi that differ from `word`'s byte, or-ed together (0: all are that byte):
 * the question every free and every block leaving the quarantine asks of its canaries and pattern,
 * nearly always answered "none". Unaligned words and vectors, the last ones overlapping those
 * before them, so a zone of any length costs one compare per 8 or 16 bytes and no loop over
 * single bytes at its ends; a zone of up to 64 bytes (a small block's canaries, most freed small
 * blocks) is straight-line code, a longer one four vectors a step and the last four at its end.
 * Differences are or-ed and looked at once (a no found early saves little, a test per word costs
 * every block); where a byte differs is worked out only after a no. */
static inline __attribute__((always_inline)) uint64_t hk_check_diff(const uint8_t *lo, const uint8_t *hi,
                                                                    uint64_t word) {
    size_t n = (size_t)(hi - lo);
    hk_check_vec_t pattern = {word, word}, diff;
    if (n <= sizeof pattern) {
        if (n >= sizeof word) return (hk_check_word(lo) ^ word) | (hk_check_word(hi - sizeof word) ^ word);
        uint64_t bytes = 0;
        for (; lo < hi; lo++) bytes |= *lo ^ (word & 0xff);
        return bytes;
    }
    if (n <= 2 * sizeof pattern) {
        diff = (hk_check_vec(lo) ^ pattern) | (hk_check_vec(hi - 16) ^ pattern);
    } else {
        diff = (hk_check_vec(lo) ^ pattern) | (hk_check_vec(lo + 16) ^ pattern);
        if (n > 4 * sizeof pattern) {
            const uint8_t *last = hi - 4 * sizeof pattern;
            diff |= (hk_check_vec(lo + 32) ^ pattern) | (hk_check_vec(lo + 48) ^ pattern);
            for (lo += 4 * sizeof pattern; lo < last; lo += 4 * sizeof pattern)
                diff |= (hk_check_vec(lo) ^ pattern) | (hk_check_vec(lo + 16) ^ pattern) |
                        (hk_check_vec(lo + 32) ^ pattern) | (hk_check_vec(lo + 48) ^ pattern);
            diff |= (hk_check_vec(last) ^ pattern) | (hk_check_vec(last + 16) ^ pattern);
        }
        diff |= (hk_check_vec(hi - 32) ^ pattern) | (hk_check_vec(hi - 16) ^ pattern);
    }
    return diff[0] | diff[1];
}

/* Whether every byte from lo to hi is `byte`. */
static bool hk_check_all(const uint8_t *lo, const uint8_t *hi, uint8_t byte) {
    return hk_check_diff(lo, hi, 0x0101010101010101ull * byte) == 0;
}

/* Stretches filled inline at most (the bytes of a freed small block); longer ones by memset. */
#define HK_CHECK_FILL_INLINE_MAX 160

/* Fill lo..hi with `byte`: canary zones and small freed blocks are a few words, stored as
 * check_diff reads them (the last ones overlapping) with no call; long stretches by memset. */
static inline __attribute__((always_inline)) void hk_check_fill(uint8_t *lo, uint8_t *hi, uint8_t byte) {
    size_t n = (size_t)(hi - lo);
    uint64_t word = 0x0101010101010101ull * byte;
    hk_check_vec_t v = {word, word};
    if (n >= sizeof word && n <= 2 * sizeof word) {
        memcpy(lo, &word, sizeof word);
        memcpy(hi - sizeof word, &word, sizeof word);
    } else if (n > 2 * sizeof word && n <= 2 * sizeof v) {
        memcpy(lo, &v, sizeof v);
        memcpy(hi - sizeof v, &v, sizeof v);
    } else if (n > 2 * sizeof v && n <= HK_CHECK_FILL_INLINE_MAX) {
        uint8_t *last = hi - 2 * sizeof v;
        for (; lo < last; lo += 2 * sizeof v) {
            memcpy(lo, &v, sizeof v);
            memcpy(lo + sizeof v, &v, sizeof v);
            __asm__("" : "+r"(lo)); /* no call: the compiler would make this loop a memset */
        }
        memcpy(last, &v, sizeof v);
        memcpy(last + sizeof v, &v, sizeof v);
    } else {
        memset(lo, byte, n);
    }
}

/* The first byte from lo to hi that is not `byte` (hi if none). */
static const uint8_t *hk_check_first_not(const uint8_t *lo, const uint8_t *hi, uint8_t byte) {
    if (hk_check_all(lo, hi, byte)) return hi;
    while (lo < hi && *lo == byte) lo++;
    return lo;
}

/* The last byte from lo to hi that is not `byte`, or NULL. */
static const uint8_t *hk_check_last_not(const uint8_t *lo, const uint8_t *hi, uint8_t byte) {
    if (hk_check_all(lo, hi, byte)) return NULL;
    for (; hi > lo; hi--)
        if (hi[-1] != byte) return hi - 1;
    return NULL;
}

/* Reports `size` bytes written from `first` on, where the block's pattern says nothing was. */
static void hk_check_report_write(const hk_check_error_t *base, hk_err_kind_t kind, const uint8_t *first, size_t size) {
    hk_check_error_t e = *base;
    e.kind = kind;
    e.addr = (uintptr_t)first;
    e.access_size = size;
    hk_check_report(&e);
}

/* Whether a live or quarantined block's canaries (and a quarantined one's pattern) are intact:
 * the whole question on every free and release, inline; the answer "no" is worked out apart. A
 * quarantined block is one run of the pattern from its left zone to its right one's end. */
static inline __attribute__((always_inline)) bool hk_check_intact(uint8_t *block, uint8_t *end) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    uint8_t *user = block + h->user_offset, *user_end = user + h->size, *zone_lo;
    hk_check_zones(block, end, &zone_lo, &end);
    uint64_t red = 0x0101010101010101ull * HK_CHECK_REDZONE_BYTE;
    if (h->state == HK_CHECK_FREED) return hk_check_diff(zone_lo, end, red) == 0;
    return (hk_check_diff(zone_lo, user, red) | hk_check_diff(user_end, end, red)) == 0;
}

/* A block found damaged: report each damaged zone, found by `call` (NULL: at exit), and mend it. */
static hk_noinline bool hk_check_damage(uint8_t *block, uint8_t *end, const char *call, const char *where) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    uint8_t *user = block + h->user_offset, *user_end = user + h->size, *zone_lo;
    hk_check_zones(block, end, &zone_lo, &end);
    bool ok = true;
    const uint8_t *left = hk_check_last_not(zone_lo, user, HK_CHECK_REDZONE_BYTE);
    const uint8_t *right = hk_check_first_not(user_end, end, HK_CHECK_REDZONE_BYTE);
    const uint8_t *freed = h->state == HK_CHECK_FREED ? hk_check_first_not(user, user_end, HK_CHECK_FREED_BYTE) : user_end;
    hk_check_error_t base = {.call = call, .where = where};
    hk_check_error_of_block(&base, block);
    if (left != NULL || right != end || freed != user_end) {
        base.access_stack = call != NULL ? hk_track_capture() : HK_STACK_NONE;
        base.access_thread = hk_check_thread();
    }
    if (left != NULL) {
        hk_check_report_write(&base, HK_ERR_UNDERFLOW_WRITE, left, (size_t)(user - left));
        memset(zone_lo, HK_CHECK_REDZONE_BYTE, (size_t)(user - zone_lo)); /* reported once */
        ok = false;
    }
    if (right != end) {
        const uint8_t *last = hk_check_last_not(right, end, HK_CHECK_REDZONE_BYTE);
        hk_check_report_write(&base, HK_ERR_OVERFLOW_WRITE, right, (size_t)(last - right) + 1);
        memset(user_end, HK_CHECK_REDZONE_BYTE, (size_t)(end - user_end));
        ok = false;
    }
    if (freed != user_end) {
        const uint8_t *last = hk_check_last_not(freed, user_end, HK_CHECK_FREED_BYTE);
        hk_check_report_write(&base, HK_ERR_FREED_WRITE, freed, (size_t)(last - freed) + 1);
        memset(user, HK_CHECK_FREED_BYTE, h->size);
        ok = false;
    }
    return ok;
}

/* Check a live or quarantined block's canaries (and a quarantined one's pattern); report what is
 * damaged, found by `call` (NULL: at exit). Returns whether it is intact. */
static inline __attribute__((always_inline)) bool hk_check_block(uint8_t *block, uint8_t *end, const char *call,
                                                                  const char *where) {
    return hk_likely(hk_check_intact(block, end)) || hk_check_damage(block, end, call, where);
}

/* ------------------------------------------------------------------ blocks */


/* A checked block; its allocation stack is `stack`, or the current one when HK_STACK_NONE (a
 * realloc captured it once for both its blocks: the new block's allocation is the old one's free). */
static inline __attribute__((always_inline)) void *hk_check_alloc_at(size_t size, size_t align, bool zero,
                                                                      uint32_t stack) {
    uint8_t family = hk_take_family(); /* before anything here may allocate */
    hk_guard_thread_ready();
    if (hk_state.options.check == HK_CHECK_GUARD) {
        void *p = hk_guard_alloc(size, align, zero, false);
        if (p != NULL) {
            if (family != HK_FAMILY_MALLOC) hk_guard_set_family(p, family);
            return p;
        }
    }
    size_t extra = HK_CHECK_USER_OFFSET + HK_CHECK_RIGHT_MIN + (align > HK_BLOCK_ALIGN ? align : 0), total;
    if (__builtin_add_overflow(size, extra, &total) || size > UINT32_MAX * (size_t)HK_BLOCK_ALIGN) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usable;
    uint8_t *block = hk_core_alloc_sized(total, &usable);
    if (block == NULL) return NULL;
    uint8_t *user = block + HK_CHECK_USER_OFFSET;
    if (align > HK_BLOCK_ALIGN) user = (uint8_t *)hk_align_up((uintptr_t)user, align);
    uint8_t *end = block + usable;
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    *h = (hk_check_hdr_t){
        .size = size,
        .user_offset = (uint32_t)(user - block),
        .alloc_thread = hk_check_thread(),
        .family = family,
        .usable = usable <= UINT32_MAX ? (uint32_t)usable : 0,
    };
    uint8_t *zone_lo, *zone_hi;
    hk_check_zones(block, end, &zone_lo, &zone_hi);
    hk_check_fill(zone_lo, user, HK_CHECK_REDZONE_BYTE);
    hk_check_fill(user + size, zone_hi, HK_CHECK_REDZONE_BYTE);
    if (zero) memset(user, 0, size);
    hk_check_reseal(block, HK_CHECK_LIVE);
    h->alloc_stack = stack != HK_STACK_NONE ? stack : hk_track_capture();
    hk_hook_alloc(user, size); /* the leak tracker, if on: the block starts here */
    return user;
}

static void *hk_check_alloc(size_t size, size_t align, bool zero) {
    return hk_check_alloc_at(size, align, zero, HK_STACK_NONE);
}

/* Hand a block that left the quarantine back to the allocator, checked. Its header was sealed
 * when it entered: a header the program wrote over since (a write before the block, after its
 * free) cannot be trusted for the block's size, so the block is reported and kept from reuse. */
static void hk_check_release(uint8_t *block, const char *call) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    uint8_t state = hk_check_state(block);
    /* A sealed header's end is the allocator's (the seal covers it); else the page tells. */
    uint8_t *end = NULL;
    if (hk_likely(state == HK_CHECK_FREED && h->usable != 0)) end = block + h->usable;
    else if (hk_check_block_of(block, &end) != block) return;
    if (hk_unlikely(state != HK_CHECK_FREED || h->size > (size_t)(end - block) - h->user_offset)) {
        hk_check_bad_pointer(HK_ERR_UNDERFLOW_WRITE, call, block + HK_CHECK_USER_OFFSET, NULL, "header");
        return;
    }
    hk_check_block(block, end, call, "quarantine");
    hk_check_restate(block, HK_CHECK_FREED, HK_CHECK_DEAD); /* sealed as freed: verified above */
    if (hk_tracking()) hk_track_released(block);
    hk_core_free_block(block);
}

/* The memory a freed block holds back from reuse, which HEAPKIT_QUARANTINE_BYTES bounds: the
 * allocator's whole block (header and canaries too; a small block holds twice its bytes or more),
 * not only the bytes asked for. */
static inline uint32_t hk_check_held(const uint8_t *block) {
    const hk_check_hdr_t *h = (const hk_check_hdr_t *)block;
    if (h->usable != 0) return h->usable;
    size_t held = h->user_offset + h->size;
    return held < UINT32_MAX ? (uint32_t)held : UINT32_MAX; /* counted alike in and out */
}

/* The ring's slot after `i`. */
static inline size_t hk_quarantine_next(size_t i) { return i + 1 == hk_quarantine.cap ? 0 : i + 1; }

/* The oldest block leaves the ring (under its lock; count > 0). */
static inline uint8_t *hk_check_quarantine_take(void) {
    size_t head = hk_quarantine.head;
    uint8_t *old = hk_quarantine.ring[head];
    hk_quarantine.bytes -= hk_quarantine.held[head];
    hk_quarantine.head = hk_quarantine_next(head);
    hk_quarantine.count--;
    return old;
}

/* The ring full at `cap` slots (head at `head`) doubles, up to cap_max, its blocks copied oldest
 * first from slot 0 (lock held). False when it cannot be mapped: the oldest block then leaves. */
static hk_noinline bool hk_check_ring_grow(size_t head) {
    size_t cap = hk_quarantine.cap, bigger = cap * 2 < hk_quarantine.cap_max ? cap * 2 : hk_quarantine.cap_max;
    uint8_t **ring = hk_meta_map(bigger * sizeof *ring);
    uint32_t *held = ring != NULL ? hk_meta_map(bigger * sizeof *held) : NULL;
    if (held == NULL) {
        if (ring != NULL) hk_meta_unmap(ring, bigger * sizeof *ring);
        return false;
    }
    size_t first = cap - head; /* slots from head to the end, then those before it */
    memcpy(ring, hk_quarantine.ring + head, first * sizeof *ring);
    memcpy(ring + first, hk_quarantine.ring, head * sizeof *ring);
    memcpy(held, hk_quarantine.held + head, first * sizeof *held);
    memcpy(held + first, hk_quarantine.held, head * sizeof *held);
    hk_meta_unmap(hk_quarantine.ring, cap * sizeof *ring);
    hk_meta_unmap(hk_quarantine.held, cap * sizeof *held);
    hk_quarantine.ring = ring;
    hk_quarantine.held = held;
    hk_quarantine.cap = bigger;
    return true;
}

/* Put `count` freed blocks in quarantine under one lock, and hand back what leaves it. The ring's
 * numbers are kept in registers for the whole batch (the stores to the blocks' slots would make the
 * compiler read them back from memory at each step). A ring full by count, the steady state of a
 * long run, is one swap a block: the oldest leaves the slot the new one takes. */
static void hk_check_quarantine_put(uint8_t *const *blocks, const uint32_t *held, size_t count, const char *call) {
    uint8_t *evict[HK_CHECK_BATCH * (1 + HK_CHECK_EVICT_BATCH)];
    size_t n = 0;
    pthread_mutex_lock(&hk_quarantine.lock);
    uint8_t **ring = hk_quarantine.ring;
    uint32_t *ring_held = hk_quarantine.held;
    size_t cap = hk_quarantine.cap, head = hk_quarantine.head, used = hk_quarantine.count;
    size_t bytes = hk_quarantine.bytes;
    if (cap == 0 || hk_quarantine.draining) {
        memcpy(evict, blocks, count * sizeof *blocks);
        n = count;
    } else {
        for (size_t k = 0; k < count; k++) {
            bytes += held[k];
            if (used == cap && cap < hk_quarantine.cap_max && hk_check_ring_grow(head)) {
                ring = hk_quarantine.ring;
                ring_held = hk_quarantine.held;
                cap = hk_quarantine.cap;
                head = 0;
            }
            if (used == cap) { /* full by count */
                evict[n++] = ring[head];
                bytes -= ring_held[head];
                ring[head] = blocks[k];
                ring_held[head] = held[k];
                head = head + 1 == cap ? 0 : head + 1;
                continue;
            }
            size_t tail = head + used < cap ? head + used : head + used - cap;
            ring[tail] = blocks[k];
            ring_held[tail] = held[k];
            used++;
        }
    }
    size_t evict_max = n + count * HK_CHECK_EVICT_BATCH;
    while (bytes > hk_state.options.quarantine_bytes && used > 0 && n < evict_max) {
        evict[n++] = ring[head];
        bytes -= ring_held[head];
        head = head + 1 == cap ? 0 : head + 1;
        used--;
    }
    /* Blocks leave long after they came (up to HEAPKIT_QUARANTINE_COUNT frees), their lines cold:
     * the next batch's likely leavers (as many as leave now, the oldest) are asked for now, so
     * their lines are in by the next batch's checks instead of missed one after another: the
     * header's and the first bytes', and the last one's (the right canary's end, read before the
     * pattern between, which the hardware's own prefetch follows), found from the bytes held. */
    size_t ahead = n < used ? n : used;
    for (size_t i = 0, at = head; i < ahead; i++, at = at + 1 == cap ? 0 : at + 1) {
        uint8_t *b = ring[at];
        __builtin_prefetch(b);
        __builtin_prefetch(b + 64);
        __builtin_prefetch(b + ring_held[at] - 1);
    }
    hk_quarantine.head = head;
    hk_quarantine.count = used;
    hk_quarantine.bytes = bytes;
    pthread_mutex_unlock(&hk_quarantine.lock);
    for (size_t i = 0; i < n; i++) hk_check_release(evict[i], call);
}

/* This thread's gathered blocks into the quarantine (a full batch, a thread's or the process's exit). */
static void hk_check_batch_flush(const char *call) {
    size_t count = hk_quarantine_batch.count;
    if (count == 0) return;
    uint8_t *blocks[HK_CHECK_BATCH];
    uint32_t held[HK_CHECK_BATCH];
    memcpy(blocks, hk_quarantine_batch.blocks, count * sizeof *blocks);
    memcpy(held, hk_quarantine_batch.held, count * sizeof *held);
    hk_quarantine_batch.count = 0; /* emptied first: a release's report may free again */
    hk_quarantine_batch.bytes = 0;
    hk_check_quarantine_put(blocks, held, count, call);
}

/* Put a freed block in quarantine (through this thread's batch when batched). */
static void hk_check_quarantine(uint8_t *block, const char *call) {
    if (hk_likely(__atomic_load_n(&hk_quarantine.batched, __ATOMIC_RELAXED))) {
        size_t count = hk_quarantine_batch.count;
        uint32_t held = hk_check_held(block);
        hk_quarantine_batch.blocks[count] = block;
        hk_quarantine_batch.held[count++] = held;
        hk_quarantine_batch.count = count;
        hk_quarantine_batch.bytes += held;
        if (count == HK_CHECK_BATCH || hk_quarantine_batch.bytes > hk_quarantine.batch_bytes)
            hk_check_batch_flush(call);
        return;
    }
    uint32_t held = hk_check_held(block);
    hk_check_quarantine_put(&block, &held, 1, call);
}

/* hk_check_live_block's checks of the allocator's block found for p (NULL: none). */
static inline __attribute__((always_inline)) uint8_t *hk_check_live_at(void *p, const char *call, uint8_t *block) {
    if (block == NULL) {
        hk_check_bad_pointer(HK_ERR_INVALID_FREE, call, p, NULL, NULL);
        return NULL;
    }
    uint8_t state = hk_check_state(block);
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    if (state == 0) {
        /* Not a sealed header: the program wrote over it (an underflow), or p lies where no
         * block of ours starts now (a page reused for another size). */
        if ((uint8_t *)p == block + HK_CHECK_USER_OFFSET)
            hk_check_bad_pointer(HK_ERR_UNDERFLOW_WRITE, call, p, NULL, "header");
        else hk_check_bad_pointer(HK_ERR_INVALID_FREE, call, p, NULL, "heap");
        return NULL;
    }
    if ((uint8_t *)p != block + h->user_offset) {
        if (state == HK_CHECK_DEAD) hk_check_bad_pointer(HK_ERR_INVALID_FREE, call, p, NULL, "heap");
        else hk_check_bad_pointer(HK_ERR_INVALID_FREE, call, p, block, "interior");
        return NULL;
    }
    if (state != HK_CHECK_LIVE) {
        hk_err_kind_t freed_kind = strcmp(call, "realloc") == 0 ? HK_ERR_REALLOC_FREED : HK_ERR_DOUBLE_FREE;
        hk_check_bad_pointer(freed_kind, call, p, block, state == HK_CHECK_FREED ? "quarantine" : "released");
        return NULL;
    }
    return block;
}

/* The checks of a free, realloc or free_sized of p: the live block's allocator block, or NULL
 * after a report (double, invalid free...). */
static inline __attribute__((always_inline)) uint8_t *hk_check_live_block(void *p, const char *call, uint8_t **end) {
    return hk_check_live_at(p, call, hk_check_block_of(p, end));
}

/* Free a live block: checked, filled, quarantined. `stack`: the free's stack if already taken
 * (realloc), else HK_STACK_NONE. */
static void hk_check_free_block(uint8_t *block, uint8_t *end, const char *call, uint32_t stack) {
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    hk_check_block(block, end, call, NULL);
    h->free_stack = stack != HK_STACK_NONE ? stack : hk_track_capture();
    h->free_thread = hk_check_thread();
    hk_check_fill(block + h->user_offset, block + h->user_offset + h->size, HK_CHECK_FREED_BYTE);
    hk_check_restate(block, HK_CHECK_LIVE, HK_CHECK_FREED); /* sealed as live: hk_check_live_block verified it */
    if (hk_tracking()) hk_track_quarantined(block);
    hk_check_quarantine(block, call);
}

/* free_sized (or a sized delete) given a size other than the block's: reported, then freed. */
static hk_noinline void hk_check_wrong_size(void *p, size_t size, const uint8_t *block, const char *call) {
    hk_check_error_t e = {.kind = HK_ERR_WRONG_SIZE, .call = call, .addr = (uintptr_t)p, .access_size = size};
    hk_check_error_of_block(&e, block);
    e.access_stack = hk_track_capture();
    e.access_thread = hk_check_thread();
    hk_check_report(&e);
}

/* A live block freed by a call of another family than allocated it: reported, then freed. */
static hk_noinline void hk_check_mismatch(void *p, const uint8_t *block, const char *call) {
    hk_check_error_t e = {.addr = (uintptr_t)p};
    hk_check_error_of_block(&e, block);
    hk_check_report_mismatch(&e, ((const hk_check_hdr_t *)block)->family, call);
}

/* The checks a live block's free makes of the call (family, size), then the free. */
static inline __attribute__((always_inline)) void hk_check_free_live(void *p, uint8_t *block, uint8_t *end,
                                                                      size_t size, bool sized, uint8_t family,
                                                                      const char *call) {
    const hk_check_hdr_t *h = (const hk_check_hdr_t *)block;
    if (hk_unlikely(h->family != family)) hk_check_mismatch(p, block, call); /* the mismatch wins over a size */
    else if (sized && size != h->size) hk_check_wrong_size(p, size, block, call);
    hk_check_free_block(block, end, call, HK_STACK_NONE);
}

/* The name a free by a call of `family` is reported by. */
static inline const char *hk_check_free_name(uint8_t family, bool sized) {
    if (hk_unlikely(family != HK_FAMILY_MALLOC)) return hk_family_free_names[family];
    return sized ? "free_sized" : "free";
}

static void hk_check_free_call(void *p, size_t size, bool sized, uint8_t family, const char *call) {
    if (p == NULL) return;
    if (hk_state.options.check == HK_CHECK_GUARD && hk_guard_free(p, size, sized, call)) return;
    uint8_t *end = NULL;
    uint8_t *block = hk_check_live_block(p, call, &end);
    if (block == NULL) return;
    hk_check_free_live(p, block, end, size, sized, family, call);
}

static void hk_check_free(void *p, size_t size, bool sized) {
    uint8_t family = hk_take_family();
    hk_check_free_call(p, size, sized, family, hk_check_free_name(family, sized));
}

/* free(p) of a pointer into a small or medium page, the page found by free's fast path: the
 * same checks as hk_check_free's, without looking the page up again. */
/* hk_check_free_in_page's live block, a C++ operator's block or free: its family checked. */
static hk_noinline void hk_check_free_family(void *p, uint8_t *block, uint8_t *end) {
    uint8_t family = hk_take_family();
    hk_check_free_live(p, block, end, 0, false, family, hk_check_free_name(family, false));
}

static void hk_check_free_in_page(void *p, hk_page_t *page) {
    if (hk_unlikely(hk_state.options.check == HK_CHECK_GUARD)) {
        uint8_t family = hk_take_family();
        hk_check_free_call(p, 0, false, family, hk_check_free_name(family, false));
        return;
    }
    uint8_t *end = NULL;
    /* (a bad pointer given to delete is reported as found by free, as before families were known) */
    uint8_t *block = hk_check_live_at(p, "free", hk_check_block_in(page, p, &end));
    if (block == NULL) return;
    /* free's own path with its constants; a family's check (a delete, or a C++ block) apart */
    if (hk_unlikely((((hk_check_hdr_t *)block)->family | hk_api_family) != HK_FAMILY_MALLOC))
        hk_check_free_family(p, block, end);
    else hk_check_free_block(block, end, "free", HK_STACK_NONE);
}

static void *hk_check_realloc(void *p, size_t size) {
    if (p == NULL) return hk_check_alloc(size, 0, false);
    size_t old = hk_state.options.check == HK_CHECK_GUARD ? hk_guard_size(p) : 0;
    if (hk_state.options.check == HK_CHECK_GUARD && old == 0 && hk_guard_free(p, 0, false, "realloc")) {
        errno = EINVAL; /* a freed guard block, or one's middle: reported */
        return NULL;
    }
    if (old != 0) {
        void *q = NULL;
        if (size != 0 && (q = hk_check_alloc(size, 0, false)) == NULL) return NULL;
        if (q != NULL) memcpy(q, p, old < size ? old : size);
        hk_guard_free(p, 0, false, "realloc");
        return q;
    }
    uint8_t *end = NULL;
    uint8_t *block = hk_check_live_block(p, "realloc", &end);
    if (block == NULL) {
        errno = EINVAL;
        return NULL;
    }
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    if (hk_unlikely(h->family != HK_FAMILY_MALLOC)) hk_check_mismatch(p, block, "realloc");
    void *q = NULL;
    uint32_t stack = hk_track_capture(); /* the new block's allocation and the old one's free */
    if (size != 0) { /* size 0 frees, as glibc */
        q = hk_check_alloc_at(size, 0, false, stack);
        if (q == NULL) return NULL; /* p is untouched */
        memcpy(q, p, h->size < size ? h->size : size);
    }
    hk_check_free_block(block, end, "realloc", stack);
    return q;
}

static size_t hk_check_usable(const void *p) {
    size_t n = hk_state.options.check == HK_CHECK_GUARD ? hk_guard_size(p) : 0;
    if (n != 0) return n;
    uint8_t *end;
    uint8_t *block = hk_check_block_of(p, &end);
    if (block == NULL || hk_check_state(block) != HK_CHECK_LIVE) return 0;
    const hk_check_hdr_t *h = (const hk_check_hdr_t *)block;
    return (const uint8_t *)p == block + h->user_offset ? h->size : 0;
}

static bool hk_check_owns(const void *p) {
    if (hk_state.options.check == HK_CHECK_GUARD && hk_guard_owns(p)) return true;
    uint8_t *end;
    uint8_t *block = hk_check_block_of(p, &end);
    if (block == NULL || hk_check_state(block) != HK_CHECK_LIVE) return false;
    const hk_check_hdr_t *h = (const hk_check_hdr_t *)block;
    const uint8_t *user = block + h->user_offset, *u = p;
    return u == user || (u > user && u < user + h->size);
}

hk_block_state_t hk_check_block_state(const void *p) {
    if (hk_state.options.check == HK_CHECK_GUARD) {
        hk_block_state_t g = hk_guard_state(p);
        if (g != HK_BLOCK_FOREIGN) return g;
    }
    uint8_t *end;
    uint8_t *block = hk_check_block_of(p, &end);
    uint8_t state = block != NULL ? hk_check_state(block) : 0;
    if (state == 0) return HK_BLOCK_FOREIGN;
    if ((const uint8_t *)p != block + ((const hk_check_hdr_t *)block)->user_offset)
        return state == HK_CHECK_LIVE ? HK_BLOCK_INTERIOR : HK_BLOCK_FOREIGN;
    return state == HK_CHECK_LIVE ? HK_BLOCK_LIVE : HK_BLOCK_FREE;
}

void hk_check_set_label(const void *p, uint16_t label) {
    if (!hk_checking()) return;
    if (hk_state.options.check == HK_CHECK_GUARD) hk_guard_set_label(p, label);
    uint8_t *end;
    uint8_t *block = hk_check_block_of(p, &end);
    if (block == NULL || hk_check_state(block) != HK_CHECK_LIVE) return;
    hk_check_hdr_t *h = (hk_check_hdr_t *)block;
    if ((const uint8_t *)p == block + h->user_offset) h->label = label;
}

static const hk_front_t hk_check_front = {
    .alloc = hk_check_alloc,
    .free = hk_check_free,
    .realloc = hk_check_realloc,
    .usable = hk_check_usable,
    .owns = hk_check_owns,
    .free_in_page = hk_check_free_in_page,
};

/* ------------------------------------------------------------ the process */

hk_plain_path static void hk_check_init(void) {
    if (hk_state.options.sample_guard != 0 || hk_state.options.check != HK_CHECK_OFF) hk_guard_init();
    if (hk_state.options.check == HK_CHECK_OFF) return;
    size_t cap_max = hk_state.options.quarantine_bytes == 0 ? 0 : hk_state.options.quarantine_count;
    size_t cap = cap_max < HK_CHECK_RING_FIRST ? cap_max : HK_CHECK_RING_FIRST;
    if (cap != 0) {
        hk_quarantine.ring = hk_meta_map(cap * sizeof *hk_quarantine.ring);
        hk_quarantine.held = hk_quarantine.ring != NULL ? hk_meta_map(cap * sizeof *hk_quarantine.held) : NULL;
        if (hk_quarantine.held == NULL) {
            if (hk_quarantine.ring != NULL) hk_meta_unmap(hk_quarantine.ring, cap * sizeof *hk_quarantine.ring);
            hk_message("cannot map a quarantine of %zu blocks: freed blocks are reused at once", cap);
            cap = cap_max = 0;
        }
    }
    hk_quarantine.cap = cap;
    hk_quarantine.cap_max = cap_max;
    hk_quarantine.batched = cap_max >= HK_CHECK_BATCH_MIN_COUNT;
    hk_quarantine.batch_bytes = hk_state.options.quarantine_bytes / 64;
    hk_state.hooks.front = &hk_check_front;
    if (hk_state.hooks.heap_done == NULL) hk_state.hooks.heap_done = hk_track_heap_done;
    hk_state.observed = true;
}

/* At exit: every block in quarantine goes back checked, then every live block's canaries are
 * checked (a block overrun and never freed). Damaged blocks are gathered under the segments' lock
 * and reported after it (reports take locks of an earlier rank). */
static void hk_check_final(void);

/* In every process: only the test of the option is plain text (hk_plain_path); the work of a
 * checked one's exit is out of line, with the rest of the debug layer. */
hk_plain_path static void hk_check_at_exit(uintptr_t caller_sp) {
    (void)caller_sp;
    if (hk_state.options.check == HK_CHECK_OFF) {
        hk_guard_check_all(); /* sampled slots */
        return;
    }
    hk_check_final();
}

/* At exit under checking: the quarantine drained and checked, then every live block's canaries. */
static hk_noinline void hk_check_final(void) {
    __atomic_store_n(&hk_quarantine.batched, false, __ATOMIC_RELAXED); /* later frees: straight back, checked */
    hk_check_batch_flush(NULL);
    for (;;) { /* a batch at a time: one lock for each, their lines asked for together */
        uint8_t *blocks[HK_CHECK_BATCH];
        size_t n = 0;
        pthread_mutex_lock(&hk_quarantine.lock);
        hk_quarantine.draining = true;
        while (n < HK_CHECK_BATCH && hk_quarantine.count > 0) blocks[n++] = hk_check_quarantine_take();
        pthread_mutex_unlock(&hk_quarantine.lock);
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) __builtin_prefetch(blocks[i]);
        for (size_t i = 0; i < n; i++) hk_check_release(blocks[i], NULL);
    }
    uint8_t *damaged[HK_CHECK_SCAN_MAX];
    size_t n = 0, more = 0;
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        size_t pages = seg->kind == HK_SEGMENT_HUGE ? 1 : seg->page_count;
        for (size_t i = 0; i < pages; i++) {
            hk_page_t *page = &seg->pages[i];
            uint8_t *start;
            size_t bsize, count;
            if (seg->kind == HK_SEGMENT_HUGE) {
                start = (uint8_t *)seg + seg->block_offset;
                bsize = seg->block_size;
                count = 1;
            } else {
                if (!page->in_use) continue;
                start = page->start;
                bsize = page->block_size;
                count = page->capacity;
            }
            for (size_t k = 0; k < count; k++) {
                uint8_t *b = start + k * bsize;
                /* Live blocks, and freed ones still in a running thread's batch (the quarantine
                 * itself was emptied above). */
                uint8_t state = hk_check_state(b);
                if (state != HK_CHECK_LIVE && state != HK_CHECK_FREED) continue;
                hk_check_hdr_t *h = (hk_check_hdr_t *)b;
                if (h->user_offset + h->size > bsize || hk_check_intact(b, b + bsize)) continue;
                if (n < HK_CHECK_SCAN_MAX) damaged[n++] = b;
                else more++;
            }
        }
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    for (size_t i = 0; i < n; i++) {
        uint8_t *end = NULL;
        if (hk_check_block_of(damaged[i], &end) == damaged[i])
            hk_check_block(damaged[i], end, NULL,
                           hk_check_state(damaged[i]) == HK_CHECK_FREED ? "quarantine" : "exit");
    }
    if (more != 0) hk_message("heap checking: %zu more damaged blocks at exit not reported", more);
    hk_guard_check_all();
}

/* The mode's name, for the statistics. */
static const char *hk_check_mode_name(bool json) {
    switch (hk_state.options.check) {
    case HK_CHECK_CANARY:
        return json ? "canary" : "canaries and quarantine";
    case HK_CHECK_GUARD:
        return json ? "guard" : "guard pages";
    default:
        return "off";
    }
}

static void hk_check_stats_text(hk_buf_t *b) {
    if (hk_state.options.check == HK_CHECK_OFF && hk_state.options.sample_guard == 0) return;
    size_t errors = hk_check_error_count();
    hk_buf_printf(b, "  heap checking: %s%s, %zu error%s found", hk_check_mode_name(false),
                  hk_state.options.sample_guard != 0 ? ", sampled guard slots" : "", errors, errors == 1 ? "" : "s");
    if (hk_state.options.sample_guard != 0) hk_buf_printf(b, ", %zu allocations sampled", hk_guard_sampled());
    hk_buf_printf(b, "\n");
}

static void hk_check_stats_json(hk_buf_t *b) {
    hk_buf_printf(b, ",\"check\":{\"mode\":\"%s\",\"sample_guard\":%zu,\"sampled\":%zu,\"errors\":%zu}",
                  hk_check_mode_name(true), hk_state.options.sample_guard, hk_guard_sampled(), hk_check_error_count());
}

HK_SUBSYSTEM(check_exit, HK_SUBSYSTEM_CHECK_EXIT, .at_exit = hk_check_at_exit);
/* A thread's end: its gathered freed blocks into the quarantine, its alternate stack unmapped. */
hk_plain_path static void hk_check_thread_done(void) {
    /* tested here: a plain process's threads (no batch) must not call into the debug text */
    if (hk_quarantine_batch.count != 0) hk_check_batch_flush(NULL);
    hk_guard_thread_done();
}

HK_SUBSYSTEM(check, HK_SUBSYSTEM_CHECK, .init = hk_check_init, .thread_exit = hk_check_thread_done,
             .stats_text = hk_check_stats_text, .stats_json = hk_check_stats_json);
HK_LOCK(quarantine, HK_LOCK_QUARANTINE, &hk_quarantine.lock);
