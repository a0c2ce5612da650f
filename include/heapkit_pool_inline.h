/* heapkit_pool_inline.h — hk_pool_alloc and hk_pool_free inlined into the caller.
 * A file that includes this header (instead of, or after, heapkit.h) compiles every
 * hk_pool_alloc(pool) and hk_pool_free(pool, obj) into a few instructions that pop or push the
 * calling thread's cache of an HK_POOL_LOCAL pool (or its magazine of an HK_POOL_SHARED one),
 * as a hand-rolled free list does, and call the
 * library only when they cannot: the pool is not the one the thread used last, the cache is
 * empty or full, or the object does not look like a live object of this pool (a double free, an
 * object of another pool, an interior or foreign pointer: the library then says what is wrong).
 *
 * The thread's record (hk_pool_tls_v3) belongs to the library: it fills it in, on a call, for
 * the pool the thread uses, and empties it when that pool is destroyed, when the thread exits,
 * and whenever the inline path must not be used (a pool without thread caches, HEAPKIT_LEAKS=1 or heap
 * checking, Valgrind's memcheck, a library built with ASan): the code here then always calls.
 * While the record names a pool, the top of the thread's cache of it lives in the record itself
 * (not behind a pointer, so the compiler need not reload it after every store): the library
 * takes it back on its own paths. The record's layout is versioned by its name: a library whose
 * internals no longer fit a version keeps exporting that version's record but never fills it in
 * (this library still exports hk_pool_tls_v1 and hk_pool_tls_v2, always empty), so a program
 * built against an older header stays correct and merely calls.
 *
 * What the inline free does not do that hk_pool_free does: look the pointer up in heapkit's
 * segment map before it reads the word before it. NULL still goes to the library; any other
 * pointer is read at obj - 8, so a pointer into memory that is not mapped
 * at all (say, an object of a chunk that hk_pool_trim gave back, freed again) faults there instead
 * of being reported. Define HK_POOL_NO_INLINE before including this header to keep the calls. */
#ifndef HEAPKIT_POOL_INLINE_H
#define HEAPKIT_POOL_INLINE_H

#include "heapkit.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version 3 of the thread's record (version 2's layout; what changed is a promise: every object in
 * a cache the record serves has the word before it set to its address ^ live_key with bit 63
 * flipped, so the inline alloc makes it live by flipping the bit back, without the key).
 * Written by the library (the owning thread's calls, or a
 * destroy of `pool` under the library's lock) and, for `top` alone, by the inline paths of the
 * owning thread; `top` is read by other threads' statistics (see HK_POOL_TLS_TOP_LOAD). */
typedef struct hk_pool_tls_v3_s {
    hk_pool_t *pool;     /* the pool the record serves (LOCAL: the thread's cache of it; SHARED:
                            the thread's magazine of it); none: an address that is
                            no pool's (not NULL, so a NULL pool reads nothing here either) */
    void **top;          /* the thread's cache of `pool`: past its last free object (authoritative
                            while the record names the pool: the cache's own word is stale then) */
    void **floor;        /* the cache's first slot: top == floor means empty */
    void **end;          /* past its last slot: top == end means full */
    uintptr_t live_key;  /* the word before a live object is its address ^ live_key; a free
                            object in a cache has that word with bit 63 flipped */
} hk_pool_tls_v3_t;

#define HK_POOL_TLS_FREE_FLIP ((uintptr_t)1 << 63)

#if defined(__GNUC__)
extern __thread hk_pool_tls_v3_t hk_pool_tls_v3 __attribute__((tls_model("initial-exec"), visibility("default")));
#endif

#if defined(__GNUC__) && !defined(HK_POOL_NO_INLINE)

/* The owner's accesses to the record. Plain, so the compiler may keep the pool and the top in
 * registers between calls, as it does a hand-rolled free list's head: another thread reads the
 * top only for statistics, a figure of the moment either way (any call stores it), and writes
 * the pool only to destroy one that this thread no longer uses (any call reads it again).
 * Under ThreadSanitizer they are atomic, since TSan reports every such concurrent access. */
#if defined(__SANITIZE_THREAD__) /* GCC's name for -fsanitize=thread */
#define HK_POOL_TLS_TSAN 1
#elif defined(__has_feature) /* Clang's */
#if __has_feature(thread_sanitizer)
#define HK_POOL_TLS_TSAN 1
#endif
#endif
#ifdef HK_POOL_TLS_TSAN
#define HK_POOL_TLS_POOL_LOAD(t) __atomic_load_n(&(t)->pool, __ATOMIC_RELAXED)
#define HK_POOL_TLS_TOP_LOAD(t) __atomic_load_n(&(t)->top, __ATOMIC_RELAXED)
#define HK_POOL_TLS_TOP_STORE(t, v) __atomic_store_n(&(t)->top, (v), __ATOMIC_RELAXED)
#else
#define HK_POOL_TLS_POOL_LOAD(t) ((t)->pool)
#define HK_POOL_TLS_TOP_LOAD(t) ((t)->top)
#define HK_POOL_TLS_TOP_STORE(t, v) ((t)->top = (v))
#endif

/* A live object's link word flipped to "free, in a cache" (bit 63): one instruction on x86-64
 * (btc), where the compiler would load the 64-bit constant into a register first. */
static inline __attribute__((always_inline)) uintptr_t hk_pool_tls_flip(uintptr_t word) {
#if defined(__x86_64__)
    __asm__("btcq $63, %0" : "+r"(word) : : "cc");
    return word;
#else
    return word ^ HK_POOL_TLS_FREE_FLIP;
#endif
}

/* The same flip in memory, back to live: one read-modify-write instruction on x86-64. (Under
 * ThreadSanitizer in C, so that the sanitizer sees the access.) */
static inline __attribute__((always_inline)) void hk_pool_tls_flip_at(uintptr_t *link) {
#if defined(__x86_64__) && !defined(HK_POOL_TLS_TSAN)
    __asm__("btcq $63, %0" : "+m"(*link) : : "cc");
#else
    *link ^= HK_POOL_TLS_FREE_FLIP;
#endif
}

/* The object on top of the cache, made live: its word was its address ^ live_key with bit 63
 * flipped (the record's promise), so flipping the bit back is the whole mark. */
static inline __attribute__((always_inline)) void *hk_pool_alloc_inline(hk_pool_t *pool) {
    hk_pool_tls_v3_t *t = &hk_pool_tls_v3;
    if (__builtin_expect(HK_POOL_TLS_POOL_LOAD(t) == pool, 1)) {
        void **top = HK_POOL_TLS_TOP_LOAD(t);
        if (__builtin_expect(top != t->floor, 1)) {
            uintptr_t obj = ((uintptr_t *)top)[-1]; /* read as the free below writes it */
            HK_POOL_TLS_TOP_STORE(t, top - 1);
            hk_pool_tls_flip_at((uintptr_t *)obj - 1); /* live */
            return (void *)obj;
        }
    }
    return (hk_pool_alloc)(pool); // cppcheck-suppress CastIntegerToAddressAtReturn ; it is declared in heapkit.h
}

/* The word before obj is read before the cache is known to have room: one branch, not two.
 * NULL goes to the library (which ignores it); where the caller has just used the object, the
 * compiler knows it is not NULL and drops the test. */
static inline __attribute__((always_inline)) void hk_pool_free_inline(hk_pool_t *pool, void *obj) {
    hk_pool_tls_v3_t *t = &hk_pool_tls_v3;
    uintptr_t a = (uintptr_t)obj;
    if (__builtin_expect(HK_POOL_TLS_POOL_LOAD(t) == pool, 1) && __builtin_expect(obj != NULL, 1)) {
        /* The word is the pool's, before whatever obj was allocated as: the compiler is not to
         * reason about obj[-1] from what it knows of obj (an array's start, say). */
        __asm__("" : "+r"(a));
        uintptr_t *link = (uintptr_t *)a - 1;
        uintptr_t word = *link;
        void **top = HK_POOL_TLS_TOP_LOAD(t);
        if (__builtin_expect((word == (a ^ t->live_key)) & (top != t->end), 1)) {
            *link = hk_pool_tls_flip(word); /* free, in a cache */
            /* Stored as an integer: to the compiler it then cannot be the record's pool or top
             * (pointers), so an alloc that follows reuses them, and this object, unread. */
            *(uintptr_t *)top = a;
            HK_POOL_TLS_TOP_STORE(t, top + 1);
            return;
        }
        obj = (void *)a; /* the same pointer, from the register the checks used */
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
