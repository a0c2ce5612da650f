/* secure.c — the hardened mode (HEAPKIT_SECURE=1, or built in with -DHEAPKIT_SECURE=ON): the parts
 * of it that are not a check on a path of their own. Blocks are carved in a random order; every
 * small/medium segment has guard pages after its metadata and at its end; a freed block is zeroed
 * and waits in its thread's quarantine, marked, so a second free of it is certain and a write
 * through a dangling pointer is seen when it leaves. Every page of the mode is flagged
 * HK_PAGE_OBSERVED (page.c), so every free takes the generic path, where alloc.c calls these;
 * allocations keep the fast path, whose link check holds in both modes. docs/security.md says
 * what each part stops and what it costs. */
#include "hooks.h"

#include <sys/random.h>

/* Draws of one thread's generator between two reseeds from the kernel: often enough that what a
 * program sees of the carving order tells little about the next pages, rarely enough to cost
 * nothing (one getrandom per 4096 carved blocks at most). */
#define HK_RANDOM_RESEED 4096
_Static_assert((HK_QUARANTINE_SLOTS & (HK_QUARANTINE_SLOTS - 1)) == 0, "a slot is drawn with a mask");
/* A carving batch holds at most this many blocks (4 KiB of the smallest, 16-byte, blocks). */
#define HK_SHUFFLE_MAX 256

/* ------------------------------------------------------------- randomness */

/* Per thread: a 64-bit counter stepped by an odd constant and mixed by one 128-bit multiply
 * (wyrand), over a state the kernel seeds and reseeds every HK_RANDOM_RESEED draws. Initial-exec
 * TLS of 16 bytes, as the library's TLS must stay tiny. */
static __thread uint64_t hk_random_state __attribute__((tls_model("initial-exec")));
static __thread uint32_t hk_random_left __attribute__((tls_model("initial-exec")));

static hk_noinline void hk_secure_reseed(void) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = hk_random_state ^ hk_key; /* keep going */
    hk_random_state ^= seed;
    hk_random_left = HK_RANDOM_RESEED;
}

static inline uint64_t hk_secure_random(void) {
    if (hk_unlikely(hk_random_left == 0)) hk_secure_reseed();
    hk_random_left--;
    uint64_t s = (hk_random_state += 0xa0761d6478bd642full);
    unsigned __int128 m = (unsigned __int128)s * (s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

/* A uniform draw below n (n <= 2^32): Lemire's multiply, whose bias is below 2^-32. */
static uint32_t hk_secure_below(uint32_t n) { return (uint32_t)(((hk_secure_random() >> 32) * n) >> 32); }

/* --------------------------------------------------------------- carving */

/* Link n fresh blocks from `first` in a random order (Fisher-Yates), the last to `tail`; returns
 * the head. The order blocks come out in then says nothing of where they lie, so an overflow
 * cannot count on whose block is next to its own. */
hk_block_t *hk_secure_shuffle(uint8_t *first, size_t n, size_t block_size, hk_block_t *tail) {
    uint16_t order[HK_SHUFFLE_MAX];
    if (n == 0) return tail; /* never: a page is extended only while it has blocks to carve */
    if (n > HK_SHUFFLE_MAX) n = HK_SHUFFLE_MAX; /* never: a batch is 4 KiB of 16-byte blocks at most */
    for (size_t i = 0; i < n; i++) order[i] = (uint16_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = hk_secure_below((uint32_t)(i + 1));
        uint16_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i + 1 < n; i++)
        ((hk_block_t *)(first + order[i] * block_size))->next = hk_encode(first + order[i + 1] * block_size);
    ((hk_block_t *)(first + order[n - 1] * block_size))->next = hk_encode(tail);
    return (hk_block_t *)(first + order[0] * block_size);
}

/* ------------------------------------------------------------ guard pages */

size_t hk_secure_tail_guard(void) { return hk_os_page_size(); }

/* A fresh small/medium segment: a guard page between its header (the page records) and its first
 * blocks, where the header's rounding leaves room for one, and one at its end, so an overflow off
 * the last block faults instead of reaching the next segment's header. hk_page_area leaves the
 * end guard out of the last page. */
void hk_secure_guard_segment(hk_segment_t *seg) {
    size_t ps = hk_os_page_size();
    size_t records = hk_align_up(sizeof(hk_segment_t) + seg->page_count * sizeof(hk_page_t), ps);
    size_t header = hk_segment_header_size(seg->page_count);
    bool ok = true;
    if (records + ps <= header) ok = hk_os_guard((uint8_t *)seg + header - ps, ps);
    ok = hk_os_guard((uint8_t *)seg + HK_SEGMENT_SIZE - ps, ps) && ok;
    if (!ok) hk_message("HEAPKIT_SECURE: mprotect refused a guard page of segment %p (errno %d)", (void *)seg, errno);
}

/* -------------------------------------------------------------- quarantine
 * A block in the quarantine is zero but for its link word, which holds its own segment's address
 * encoded: it reads as free to hk_block_looks_free, and as quarantined to hk_quarantined, which
 * no block on a free list can (a link never points at a segment's header). */

bool hk_quarantined(const hk_block_t *b, const hk_segment_t *seg) { return hk_decode(b->next) == (const void *)seg; }

/* Blocks up to this size are zeroed by stores inline (a memset call costs more than they do). */
#define HK_ZERO_INLINE_MAX 128

/* Zero a block (its size a multiple of 16). The loop stays a loop: GCC would turn it back into
 * the memset call it is here to avoid (clang honours -fno-builtin-memset there by itself). */
#if defined(__clang__)
#define HK_KEEP_LOOP
#else
#define HK_KEEP_LOOP __attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
HK_KEEP_LOOP static void hk_zero_block(void *block, size_t size) {
    if (size > HK_ZERO_INLINE_MAX) {
        memset(block, 0, size);
        return;
    }
    uint64_t *w = block;
    for (size_t i = 0; i < size / sizeof *w; i += 2) {
        w[i] = 0;
        w[i + 1] = 0;
    }
}

/* A block leaves the quarantine (b, of `page` in `seg`): it must be as it was put there: marked,
 * and zero in its first 64 bytes (the whole of smaller blocks), where the fields a dangling
 * pointer writes usually are, at a fixed cost per free (a word or two more would cost a loop). */
void hk_quarantine_check(const hk_segment_t *seg, const hk_page_t *page, hk_block_t *b) {
    /* Blocks are multiples of 16 bytes: two words at a time, unrolled, the link word left out. */
    const uint64_t *w = (const uint64_t *)b;
    size_t size = page->block_size;
    uint64_t any = w[1];
    if (size >= 32) any |= w[2] | w[3];
    if (size >= 48) any |= w[4] | w[5];
    if (size >= 64) any |= w[6] | w[7];
    if (hk_unlikely(!hk_quarantined(b, seg) || any != 0))
        hk_corrupt_block(page, b, "was written while it waited in the quarantine (freed blocks are zeroed)", NULL);
}

/* Put b (a block of `page`, just freed, checked not to be free already) in the quarantine, zeroed
 * and marked; returns the block it displaces, which the caller checks (hk_quarantine_check) and
 * frees for real, or NULL. The slot is drawn at random once the ring is full, so how long a block
 * waits cannot be counted on (HK_QUARANTINE_SLOTS frees on average). */
hk_block_t *hk_quarantine_swap(hk_heap_t *heap, hk_block_t *b, hk_page_t *page) {
    hk_zero_block(b, page->block_size);
    b->next = hk_encode(hk_page_segment(page));
    uint32_t slot;
    if (heap->quarantine_at < HK_QUARANTINE_SLOTS) slot = heap->quarantine_at++; /* fill it first */
    else slot = (uint32_t)(hk_secure_random() & (HK_QUARANTINE_SLOTS - 1));
    hk_block_t *out = heap->quarantine[slot];
    heap->quarantine[slot] = b;
    return out;
}

/* Take the blocks out one by one at thread exit (unchecked: the caller checks); NULL when empty. */
hk_block_t *hk_quarantine_take(hk_heap_t *heap) {
    while (heap->quarantine_at > 0) {
        hk_block_t *out = heap->quarantine[--heap->quarantine_at];
        heap->quarantine[heap->quarantine_at] = NULL;
        if (out != NULL) return out;
    }
    return NULL;
}
