/* heapkit_pool_inline.h — hk_pool_alloc and hk_pool_free inlined into the caller.
 * A file that includes this header (instead of, or after, heapkit.h) compiles every
 * hk_pool_alloc(pool) and hk_pool_free(pool, obj) into a few instructions that pop or push the
 * calling thread's cache of an HK_POOL_LOCAL pool, as a hand-rolled free list does, and call the
 * library only when they cannot: the pool is not the one the thread used last, the cache is
 * empty or full, or the object does not look like a live object of this pool (a double free, an
 * object of another pool, an interior or foreign pointer: the library then says what is wrong).
 *
 * The thread's record (hk_pool_tls_v1) belongs to the library: it fills it in, on a call, for
 * the pool the thread uses, and empties it when that pool is destroyed, when the thread exits,
 * and whenever the inline path must not be used (HK_POOL_SHARED pools, HEAPKIT_LEAKS=1 or heap
 * checking, Valgrind's memcheck, a library built with ASan): the code here then always calls.
 * The record's layout is versioned by its name: a library whose internals no longer fit version
 * 1 keeps exporting hk_pool_tls_v1 but never fills it in, so a program built against this header
 * stays correct and merely calls.
 *
 * What the inline free does not do that hk_pool_free does: look the pointer up in heapkit's
 * segment map before it reads the word before it. A pointer below 4096 (NULL included) still
 * goes to the library; any other is read at obj - 8, so a pointer into memory that is not mapped
 * at all (say, an object of a chunk that hk_pool_trim gave back, freed again) faults there instead
 * of being reported. Define HK_POOL_NO_INLINE before including this header to keep the calls. */
#ifndef HEAPKIT_POOL_INLINE_H
#define HEAPKIT_POOL_INLINE_H

#include "heapkit.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version 1 of the thread's record. Written only by the library (the owning thread's calls, or a
 * destroy of `pool` under the library's lock); read by the inline paths of the owning thread. */
typedef struct hk_pool_tls_v1_s {
    hk_pool_t *pool;     /* the HK_POOL_LOCAL pool the record serves; none: an address that is
                            no pool's (not NULL, so a NULL pool reads nothing here either) */
    void ***top;         /* where the cache's top is: *top points past the last free object */
    void **floor;        /* the cache's first slot: *top == floor means empty */
    void **end;          /* past its last slot: *top == end means full */
    uintptr_t live_key;  /* the word before a live object is its address ^ live_key; a free
                            object in a cache has that word with bit 63 flipped */
} hk_pool_tls_v1_t;

#define HK_POOL_TLS_FREE_FLIP ((uintptr_t)1 << 63)

#if defined(__GNUC__)
extern __thread hk_pool_tls_v1_t hk_pool_tls_v1 __attribute__((tls_model("initial-exec"), visibility("default")));
#endif

#if defined(__GNUC__) && !defined(HK_POOL_NO_INLINE)

static inline __attribute__((always_inline)) void *hk_pool_alloc_inline(hk_pool_t *pool) {
    const hk_pool_tls_v1_t *t = &hk_pool_tls_v1;
    if (__builtin_expect(__atomic_load_n(&t->pool, __ATOMIC_RELAXED) == pool, 1)) {
        void ***at = t->top; /* read once: the stores below may alias the record for the compiler */
        uintptr_t live_key = t->live_key;
        void **top = __atomic_load_n(at, __ATOMIC_RELAXED);
        if (__builtin_expect(top != t->floor, 1)) {
            void *obj = top[-1];
            __atomic_store_n(at, top - 1, __ATOMIC_RELAXED);
            ((uintptr_t *)obj)[-1] = (uintptr_t)obj ^ live_key; /* live */
            return obj;
        }
    }
    return (hk_pool_alloc)(pool); // cppcheck-suppress CastIntegerToAddressAtReturn ; it is declared in heapkit.h
}

/* The word before obj is read before the cache is known to have room: one branch, not two. */
static inline __attribute__((always_inline)) void hk_pool_free_inline(hk_pool_t *pool, void *obj) {
    const hk_pool_tls_v1_t *t = &hk_pool_tls_v1;
    uintptr_t a = (uintptr_t)obj;
    if (__builtin_expect(__atomic_load_n(&t->pool, __ATOMIC_RELAXED) == pool, 1) &&
        __builtin_expect(a >= 4096, 1)) {
        void ***at = t->top;
        void **end = t->end;
        uintptr_t at_link = a - sizeof(uintptr_t);
        __asm__("" : "+r"(at_link)); /* the word is the pool's, before whatever obj was allocated as */
        uintptr_t *link = (uintptr_t *)at_link;
        uintptr_t word = *link;
        void **top = __atomic_load_n(at, __ATOMIC_RELAXED);
        if (__builtin_expect((word == (a ^ t->live_key)) & (top != end), 1)) {
            __atomic_store_n(at, top + 1, __ATOMIC_RELAXED);
            *top = obj;
            *link = word ^ HK_POOL_TLS_FREE_FLIP; /* free, in a cache */
            return;
        }
    }
    (hk_pool_free)(pool, obj);
}

#define hk_pool_alloc(pool) hk_pool_alloc_inline(pool)
#define hk_pool_free(pool, obj) hk_pool_free_inline((pool), (obj))

#endif

#ifdef __cplusplus
}
#endif
#endif /* HEAPKIT_POOL_INLINE_H */
