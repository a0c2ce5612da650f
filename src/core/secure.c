/* secure.c — the hardened mode (HEAPKIT_SECURE=1, or built in with -DHEAPKIT_SECURE=ON): the parts
 * of it that are not a check on a path of their own. Blocks are carved in a random order; every
 * small/medium segment has guard pages after its metadata and at its end; a freed block is zeroed
 * and waits in its thread's quarantine, marked, so a second free of it is certain and a write
 * through a dangling pointer is seen when it leaves. Every page of the mode is flagged
 * HK_PAGE_OBSERVED (page.c), so every free leaves the default fast path for alloc.c's hardened
 * one (hk_free_hardened, its common case) or its generic path (everything else), where the
 * quarantine is; allocations keep the fast path, whose link check holds in both modes. docs/security.md says
 * what each part stops and what it costs. */
#include "hooks.h"
#include "quarantine.h"

#include <sys/random.h>

/* Draws of one thread's generator between two reseeds from the kernel: often enough that what a
 * program sees of the carving order tells little about the next pages, rarely enough to cost
 * nothing (one getrandom per 4096 carved blocks at most). */
#define HK_RANDOM_RESEED 4096
/* A carving batch holds at most this many blocks (4 KiB of the smallest, 16-byte, blocks). */
#define HK_SHUFFLE_MAX 256

/* ------------------------------------------------------------- randomness */

/* The generator of quarantine.h; its state is per thread. */
__thread uint64_t hk_random_state __attribute__((tls_model("initial-exec")));
__thread uint32_t hk_random_left __attribute__((tls_model("initial-exec")));

hk_noinline void hk_secure_reseed(void) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) seed = hk_random_state ^ hk_key; /* keep going */
    hk_random_state ^= seed;
    hk_random_left = HK_RANDOM_RESEED;
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
    ok = hk_os_guard((uint8_t *)seg + seg->size - ps, ps) && ok; /* a short segment (segment.c) ends early */
    if (!ok) hk_message("HEAPKIT_SECURE: mprotect refused a guard page of segment %p (errno %d)", (void *)seg, errno);
}

/* A huge block's offset from its header: one page more, so that a guard page lies between the
 * header (the segment's record) and the block, unless the block is aligned to 4 MiB or more
 * (its header then lies in the page just before it, where huge.c finds it). The mapping also
 * has room for a guard page right after the block's last page (hk_secure_tail_guard; the block
 * ends there even when the mapping goes on: huge.c's hk_huge_set_size). */
size_t hk_secure_huge_offset(size_t offset, bool big_aligned) {
    size_t ps = hk_os_page_size();
    return big_aligned || offset >= 2 * ps ? offset : 2 * ps; /* 2 pages keep any alignment up to 2 pages */
}

/* Put up (on) or take down a huge block's guard pages: before the block (when its offset left
 * room for one) and right after its last page (the mapping may go on: a reused extent bigger than
 * the block). Taken down while the mapping is resized, as mremap moves only a range of one
 * protection. */
void hk_secure_huge_guard(hk_segment_t *seg, bool on) {
    size_t ps = hk_os_page_size();
    uint8_t *front = seg->block_offset >= 2 * ps ? (uint8_t *)seg + seg->block_offset - ps : NULL;
    size_t end = seg->block_offset + seg->block_size; /* a page boundary: the offset and the size are pages */
    uint8_t *tail = (uint8_t *)seg + end;
    bool ok = true;
    if (front != NULL) ok = on ? hk_os_guard(front, ps) : hk_os_unguard(front, ps);
    ok = (on ? hk_os_guard(tail, ps) : hk_os_unguard(tail, ps)) && ok;
    if (!ok) hk_message("HEAPKIT_SECURE: mprotect refused a guard page of the huge block at %p (errno %d)",
                        (void *)((uint8_t *)seg + seg->block_offset), errno);
}

/* A freed big block (not aligned to 4 MiB: those are unmapped) goes back to the cache of mappings
 * as plain memory that holds nothing of it: guard pages down (the cache merges and splits
 * extents anywhere), the block and the header zeroed. The rest of a mapping bigger than its
 * block was zero when the block was placed in it (the cache holds only zeroed memory in this
 * mode) and lies past the tail guard, where no overflow of the block reaches: the block is all
 * there is to zero. A block cut from the extent later gets guard pages of its own where it needs
 * them. */
void hk_secure_huge_scrub(hk_segment_t *seg) {
    uint8_t *block = (uint8_t *)seg + seg->block_offset;
    size_t bytes = seg->block_size;
    hk_secure_huge_guard(seg, false);
    hk_os_zero_pages(block, bytes);
    memset(seg, 0, sizeof(hk_segment_t) + sizeof(hk_page_t)); /* the header page's only written bytes */
}

/* -------------------------------------------------------------- quarantine
 * The swap and the check are inline in quarantine.h (every hardened free runs them). */

/* Take the blocks out one by one at thread exit (unchecked: the caller checks); NULL when empty. */
hk_block_t *hk_quarantine_take(hk_heap_t *heap) {
    while (heap->quarantine_at > 0) {
        hk_block_t *out = heap->quarantine[--heap->quarantine_at];
        heap->quarantine[heap->quarantine_at] = NULL;
        if (out != NULL) return out;
    }
    return NULL;
}
