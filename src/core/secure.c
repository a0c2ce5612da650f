/* secure.c — the hardened mode (HEAPKIT_SECURE=1, or built in with -DHEAPKIT_SECURE=ON): the parts
 * of it that are not a check on a path of their own. Blocks are carved in a random order; every
 * small/medium segment has guard pages after its metadata and at its end; a freed block is zeroed
 * and waits in its thread's quarantine, marked, so a second free of it is certain and a write
 * through a dangling pointer is seen when it leaves. The mode runs on the generic paths (it sets
 * hk_state.observed), where alloc.c calls these; docs/security.md says what each part stops and costs. */
#include "hooks.h"

#include <sys/random.h>

/* Draws of one thread's generator between two reseeds from the kernel: often enough that what a
 * program sees of the carving order tells little about the next pages, rarely enough to cost
 * nothing (one getrandom per 4096 carved blocks at most). */
#define HK_RANDOM_RESEED 4096
/* The quarantine checks that a leaving block is still zero this far (the whole of smaller blocks):
 * where the fields a dangling pointer writes usually are, at a bounded cost per free. */
#define HK_QUARANTINE_CHECK_BYTES 256
/* A carving batch holds at most this many blocks (4 KiB of the smallest, 16-byte, blocks). */
#define HK_SHUFFLE_MAX 256

/* ------------------------------------------------------------- randomness */

/* Per thread: SplitMix64 over a state the kernel seeds, reseeded every HK_RANDOM_RESEED draws.
 * Initial-exec TLS of 16 bytes, as the library's TLS must stay tiny. */
static __thread uint64_t hk_random_state __attribute__((tls_model("initial-exec")));
static __thread uint32_t hk_random_left __attribute__((tls_model("initial-exec")));

static uint64_t hk_secure_random(void) {
    if (hk_unlikely(hk_random_left == 0)) {
        uint64_t seed;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = hk_random_state ^ hk_key; /* keep going */
        hk_random_state ^= seed;
        hk_random_left = HK_RANDOM_RESEED;
    }
    hk_random_left--;
    uint64_t z = (hk_random_state += HK_GOLDEN_RATIO_64);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform draw below n (n <= 2^32): Lemire's multiply, whose bias is below 2^-32. */
static uint32_t hk_secure_below(uint32_t n) { return (uint32_t)(((hk_secure_random() >> 32) * n) >> 32); }

/* --------------------------------------------------------------- start-up */

/* In process init, before the first allocation: the hardened mode serves every allocation and
 * free on the generic paths, where its checks and its quarantine are; so it asks what the hooks
 * ask for (an empty direct table, every page flagged), whether or not a hook is set. */
void hk_secure_init(void) {
    if (hk_secure()) hk_state.observed = true;
}

/* --------------------------------------------------------------- carving */

/* Link n fresh blocks from `first` in a random order (Fisher-Yates), the last to `tail`; returns
 * the head. The order blocks come out in then says nothing of where they lie, so an overflow
 * cannot count on whose block is next to its own. */
hk_block_t *hk_secure_shuffle(uint8_t *first, size_t n, size_t block_size, hk_block_t *tail) {
    uint16_t order[HK_SHUFFLE_MAX];
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

/* A block leaves the quarantine: it must be as it was put there. */
static void hk_quarantine_check(hk_block_t *b) {
    hk_segment_t *seg = hk_ptr_segment(b);
    hk_page_t *page = hk_segment_page_of(seg, b);
    size_t check = page->block_size < HK_QUARANTINE_CHECK_BYTES ? page->block_size : HK_QUARANTINE_CHECK_BYTES;
    const uint64_t *w = (const uint64_t *)b;
    uint64_t any = 0;
    for (size_t i = 1; i < check / sizeof *w; i++) any |= w[i];
    if (!hk_quarantined(b, seg) || any != 0)
        hk_corrupt_block(page, b, "was written while it waited in the quarantine (freed blocks are zeroed)", NULL);
}

/* Put b (a block of `page`, just freed, checked not to be free already) in the quarantine, zeroed
 * and marked; returns the block it displaces, checked, which the caller frees for real (or NULL).
 * The slot is drawn at random, so how long a block waits cannot be counted on (64 frees on average). */
hk_block_t *hk_quarantine_swap(hk_heap_t *heap, hk_block_t *b, hk_page_t *page) {
    memset(b, 0, page->block_size);
    b->next = hk_encode(hk_page_segment(page));
    uint32_t slot;
    if (heap->quarantine_at < HK_QUARANTINE_SLOTS) slot = heap->quarantine_at++; /* fill it first */
    else slot = hk_secure_below(HK_QUARANTINE_SLOTS);
    hk_block_t *out = heap->quarantine[slot];
    heap->quarantine[slot] = b;
    if (out != NULL) hk_quarantine_check(out);
    return out;
}

/* Take the blocks out one by one, checked, at thread exit; NULL when it is empty. */
hk_block_t *hk_quarantine_take(hk_heap_t *heap) {
    while (heap->quarantine_at > 0) {
        hk_block_t *out = heap->quarantine[--heap->quarantine_at];
        heap->quarantine[heap->quarantine_at] = NULL;
        if (out != NULL) {
            hk_quarantine_check(out);
            return out;
        }
    }
    return NULL;
}
