/* quarantine.h — the hardened mode's quarantine and the per-thread generator it draws slots from,
 * inline: every hardened free runs them, and calls out of line cost as much as the work itself
 * (secure.c keeps the rest of the mode: the reseed, carving, guard pages, taking the quarantine
 * apart at thread exit). A block in the quarantine is zero but for its link word, which holds
 * its own segment's address encoded: it reads as free to hk_block_looks_free, and as quarantined
 * to hk_quarantined, which no block on a free list can (a link never points at a segment's
 * header). */
#ifndef HK_QUARANTINE_H
#define HK_QUARANTINE_H

#include "core.h"

#define HK_QUARANTINE_SLOT_BITS 6
_Static_assert(HK_QUARANTINE_SLOTS == 1 << HK_QUARANTINE_SLOT_BITS, "a slot is drawn with a mask of 6 bits");

/* Per thread: a 64-bit counter stepped by an odd constant and mixed by one 128-bit multiply
 * (wyrand), over a state the kernel seeds and reseeds every HK_RANDOM_RESEED draws (secure.c).
 * Initial-exec TLS of 12 bytes, as the library's TLS must stay tiny. */
extern hk_internal __thread uint64_t hk_random_state __attribute__((tls_model("initial-exec")));
extern hk_internal __thread uint32_t hk_random_left __attribute__((tls_model("initial-exec")));
hk_internal hk_noinline void hk_secure_reseed(void);

static inline uint64_t hk_secure_random(void) {
    if (hk_unlikely(hk_random_left == 0)) hk_secure_reseed();
    hk_random_left--;
    uint64_t s = (hk_random_state += 0xa0761d6478bd642full);
    unsigned __int128 m = (unsigned __int128)s * (s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

static inline bool hk_quarantined(const hk_block_t *b, const hk_segment_t *seg) {
    return hk_decode(b->next) == (const void *)seg;
}

/* The bytes of a block the quarantine checks when it leaves: where the fields a dangling pointer
 * writes usually are, at a fixed cost (straight-line loads, no loop). */
#define HK_QUARANTINE_CHECKED 64

/* Zero a freed block (its size a multiple of 16) but for its link word, which the caller writes:
 * the checked prefix by straight-line stores (a call costs more than they do), the rest of a
 * bigger block by memset. The whole block, always: what it held must not be read back. */
static inline void hk_quarantine_zero(hk_block_t *b, size_t size) {
    uint64_t *w = (uint64_t *)b;
    w[1] = 0;
    if (size >= HK_QUARANTINE_CHECKED) { /* 64 bytes or more (most blocks): one test */
        w[2] = w[3] = w[4] = w[5] = w[6] = w[7] = 0;
        if (size > HK_QUARANTINE_CHECKED)
            memset(w + HK_QUARANTINE_CHECKED / sizeof *w, 0, size - HK_QUARANTINE_CHECKED);
        return;
    }
    if (size >= 32) {
        w[2] = w[3] = 0;
        if (size >= 48) w[4] = w[5] = 0;
    }
}

/* A block leaves the quarantine (b, of `page` in `seg`): it must be as it was put there: marked,
 * and zero in its first 64 bytes (the whole of smaller blocks). */
static inline void hk_quarantine_check(const hk_segment_t *seg, const hk_page_t *page, const hk_block_t *b) {
    const uint64_t *w = (const uint64_t *)b;
    size_t size = page->block_size;
    uint64_t any = w[1];
    if (size >= HK_QUARANTINE_CHECKED) { /* 64 bytes or more (most blocks): one test */
        any |= w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
    } else if (size >= 32) {
        any |= w[2] | w[3];
        if (size >= 48) any |= w[4] | w[5];
    }
    if (hk_unlikely(!hk_quarantined(b, seg) || any != 0))
        hk_corrupt_block(page, b, "was written while it waited in the quarantine (freed blocks are zeroed)", NULL);
}

/* Put b (a block of `page`, just freed, checked not to be free already) in the quarantine, zeroed
 * and marked; returns the block it displaces, which the caller checks (hk_quarantine_check) and
 * frees for real, or NULL. The slot is drawn at random once the ring is full, so how long a block
 * waits cannot be counted on (HK_QUARANTINE_SLOTS frees on average). */
static inline hk_block_t *hk_quarantine_swap(hk_heap_t *heap, hk_block_t *b, const hk_page_t *page) {
    hk_quarantine_zero(b, page->block_size);
    b->next = hk_encode(hk_ptr_segment(b));
    uint32_t slot;
    if (hk_likely(heap->quarantine_at >= HK_QUARANTINE_SLOTS)) {
        /* One draw of the generator gives ten slots: 60 random bits over a marker bit, which
         * says when fewer than 6 are left (the word is then below HK_QUARANTINE_SLOTS). */
        uint64_t draws = heap->quarantine_draws;
        if (hk_unlikely(draws < HK_QUARANTINE_SLOTS)) draws = (hk_secure_random() >> 4) | ((uint64_t)1 << 60);
        slot = (uint32_t)(draws & (HK_QUARANTINE_SLOTS - 1));
        heap->quarantine_draws = draws >> HK_QUARANTINE_SLOT_BITS;
    } else {
        slot = heap->quarantine_at++; /* fill it first */
    }
    hk_block_t *out = heap->quarantine[slot];
    heap->quarantine[slot] = b;
    return out;
}

#endif /* HK_QUARANTINE_H */
