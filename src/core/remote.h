/* remote.h — the one remote-free stack of the library: where a block freed by a thread that does
 * not own it waits for its owner. The core's pages (page->thread_free) and the pools' chunks
 * (chunk->remote) both use it. Static inline, so the fast paths pay no call and no file gains a
 * call edge.
 * One atomic word packs the stack: the head (a user-space address, below 2^47 and at least
 * 2-byte aligned) in the low 48 bits, with its low bit HK_REMOTE_NOTIFY free for the owner's use
 * (the core's pages: "tell me of the next remote free"), and in the top 16 bits the number of
 * blocks on the stack, so the owner takes the whole stack without walking it (a page or a chunk
 * holds at most 4096 blocks). 0 = empty.
 * The links are the user's: a push writes the block's link word as (the previous head, or `nil`
 * when the stack was empty) xor `key` — the core links to NULL with hk_key, a pool links to its
 * chunk with the pool's key, so each side's lists read as they always did. */
#ifndef HK_REMOTE_H
#define HK_REMOTE_H

#include "base.h"

typedef _Atomic uintptr_t hk_remote_t;

#define HK_REMOTE_NOTIFY ((uintptr_t)1)
#define HK_REMOTE_COUNT_SHIFT 48
#define HK_REMOTE_HEAD_MASK ((((uintptr_t)1 << HK_REMOTE_COUNT_SHIFT) - 1) & ~HK_REMOTE_NOTIFY)

/* The head of a stack word (0 when empty), and how many blocks are on it. */
static inline uintptr_t hk_remote_head(uintptr_t w) { return w & HK_REMOTE_HEAD_MASK; }
static inline uint32_t hk_remote_count(uintptr_t w) { return (uint32_t)(w >> HK_REMOTE_COUNT_SHIFT); }

static inline uintptr_t hk_remote_load(hk_remote_t *r, memory_order order) { return atomic_load_explicit(r, order); }

static inline void hk_remote_init(hk_remote_t *r) { atomic_store_explicit(r, 0, memory_order_relaxed); }

/* Push `block` (whose link word is *link) with one compare-and-swap. The push clears
 * HK_REMOTE_NOTIFY; the word before the push is returned, so the caller knows whether the owner
 * asked to be told. Release: the block's contents (and link) are visible to whoever takes it. */
static inline uintptr_t hk_remote_push(hk_remote_t *r, void *block, uintptr_t *link, uintptr_t nil, uintptr_t key) {
    uintptr_t w = atomic_load_explicit(r, memory_order_relaxed), pushed;
    do {
        uintptr_t head = hk_remote_head(w);
        *link = (head != 0 ? head : nil) ^ key;
        pushed = (uintptr_t)block | ((uintptr_t)(hk_remote_count(w) + 1) << HK_REMOTE_COUNT_SHIFT);
    } while (!atomic_compare_exchange_weak_explicit(r, &w, pushed, memory_order_release, memory_order_relaxed));
    return w;
}

/* Push n blocks at once, already linked among themselves by the caller (first's link word says
 * the second, and so on); *last_link, the last block's, gets the old head (or `nil`) xor `key`.
 * One compare-and-swap for the lot: a pool's cache sends home a run of one chunk's objects. */
static inline uintptr_t hk_remote_push_chain(hk_remote_t *r, void *first, uintptr_t *last_link, uint32_t n,
                                             uintptr_t nil, uintptr_t key) {
    uintptr_t w = atomic_load_explicit(r, memory_order_relaxed), pushed;
    do {
        uintptr_t head = hk_remote_head(w);
        *last_link = (head != 0 ? head : nil) ^ key;
        pushed = (uintptr_t)first | ((uintptr_t)(hk_remote_count(w) + n) << HK_REMOTE_COUNT_SHIFT);
    } while (!atomic_compare_exchange_weak_explicit(r, &w, pushed, memory_order_release, memory_order_relaxed));
    return w;
}

/* The owner takes the whole stack at once (HK_REMOTE_NOTIFY stays as it is): returns the word
 * it took (0: nothing was there), whose head and count say what was taken. Acquire: pairs with
 * the pushes. */
static inline uintptr_t hk_remote_take(hk_remote_t *r) {
    uintptr_t w = atomic_load_explicit(r, memory_order_relaxed);
    if (hk_remote_head(w) == 0) return 0;
    while (!atomic_compare_exchange_weak_explicit(r, &w, w & HK_REMOTE_NOTIFY, memory_order_acquire,
                                                  memory_order_relaxed)) {
    }
    return w;
}

/* Ask to be told of the next push, if the stack is empty now (true); false: blocks are waiting. */
static inline bool hk_remote_notify_if_empty(hk_remote_t *r) {
    uintptr_t w = atomic_load_explicit(r, memory_order_relaxed);
    do {
        if (hk_remote_head(w) != 0) return false;
    } while (!atomic_compare_exchange_weak_explicit(r, &w, w | HK_REMOTE_NOTIFY, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return true;
}

static inline void hk_remote_notify_clear(hk_remote_t *r) {
    atomic_fetch_and_explicit(r, ~HK_REMOTE_NOTIFY, memory_order_acq_rel);
}

/* Has a push cleared the notify bit since the owner set it? */
static inline bool hk_remote_notified(hk_remote_t *r) {
    return (atomic_load_explicit(r, memory_order_relaxed) & HK_REMOTE_NOTIFY) == 0;
}

#endif /* HK_REMOTE_H */
