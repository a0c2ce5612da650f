/* pool_handle_wrap.c — a thread's remembered pool or arena must not vouch for a handle after any
 * number of destroys. Each thread remembers the last pool and arena it found live together with
 * the count of destroys at that moment; when that count was folded into the handle's high bits
 * it wrapped after 65,536 destroys, so exactly that many later:
 *  - a new pool made at the address of a destroyed one the thread had used was served from the
 *    destroyed pool's freed cache (objects of the wrong size and alignment, or a crash);
 *  - a destroyed arena's handle was taken for live again and allocated from freed memory instead
 *    of being refused.
 * Both are set up here with exactly 65,536 destroys (and 131,072 for the pool, a second wrap) between
 * the remembering call and the next one. */
#include "pool_test.h"

#include <errno.h>

#define WRAP 65536L /* destroys after which the old folded count came back to the same value */

/* `n` destroys of members of the other kind than the one under test (so the allocator does not
 * put one at the address the test watches). */
static void destroy_pools(long n) {
    for (long i = 0; i < n; i++) {
        hk_pool_t *p = hk_pool_create("wrap-filler", 24, 0, HK_POOL_SHARED, NULL, NULL, NULL);
        REQUIRE(p != NULL);
        hk_pool_destroy(p);
    }
}

static void destroy_arenas(long n) {
    for (long i = 0; i < n; i++) {
        hk_arena_t *a = hk_arena_create("wrap-filler", NULL, 0);
        REQUIRE(a != NULL);
        hk_arena_destroy(a);
    }
}

/* A LOCAL pool used by this thread, `destroys_between` destroys (its own the last), and a new
 * pool made at its address. */
static void pool_at_old_address(long destroys_between) {
    hk_pool_t *old = hk_pool_create("wrap-old", 32, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(old != NULL);
    void *o = hk_pool_alloc(old); /* the thread remembers old and its cache (with objects in it) */
    REQUIRE(o != NULL);
    hk_pool_free(old, o);
    /* The other destroys first, while old (and its cache) still lives: nothing reuses its memory
     * before the call below, so a stale cache would still hold objects of old. */
    destroy_arenas(destroys_between - 1);
    uintptr_t old_address = (uintptr_t)old;
    hk_pool_destroy(old); /* the last destroy */
    hk_pool_t *fresh = hk_pool_create("wrap-new", 4096, 4096, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(fresh != NULL);
    if ((uintptr_t)fresh != old_address) {
        hkt_note("the new pool is not at the old one's address: nothing to test here");
        exit(77);
    }
    /* Whatever reuses the memory of old's freed cache: a stale cache would read these bytes
     * (destroy left it empty, so the old code's stale fast path needed them to go wrong). */
    enum { FILLERS = (16384 - 4096) / 256 + 1 };
    void *fillers[FILLERS];
    for (int i = 0; i < FILLERS; i++) {
        size_t size = 4096 + (size_t)i * 256;
        fillers[i] = hk_malloc(size);
        REQUIRE(fillers[i] != NULL);
        memset(fillers[i], 0x5b, size);
    }
    void *obj = hk_pool_alloc(fresh);
    REQUIRE(obj != NULL);
    REQUIRE(((uintptr_t)obj & 4095) == 0); /* the new pool's alignment: not an object of the old one */
    memset(obj, 0xab, 4096);                   /* all of it is the new pool's (ASan would say otherwise) */
    hk_pool_stats_t s;
    hk_pool_stats(fresh, &s);
    CHECK(s.live == 1 && s.object_size == 4096);
    hk_pool_free(fresh, obj);
    hk_pool_stats(fresh, &s);
    CHECK(s.live == 0);
    hk_pool_destroy(fresh);
    for (int i = 0; i < FILLERS; i++) hk_free(fillers[i]);
}

/* An arena used by this thread, destroyed, then used again: refused, however many destroys later. */
static void arena_after_destroy(void) {
    hk_arena_t *a = hk_arena_create("wrap-arena", NULL, 0);
    REQUIRE(a != NULL);
    REQUIRE(hk_arena_alloc(a, 16) != NULL); /* remembered */
    hk_arena_destroy(a);                       /* destroy 1 */
    destroy_pools(WRAP - 1);
    errno = 0;
    void *p = hk_arena_alloc(a, 16); // cppcheck-suppress deallocuse ; the use after destroy is the point
    CHECK(p == NULL && errno == EINVAL);
}

int main(void) {
    hkt_begin("pool_handle_wrap", 120);
    pool_at_old_address(WRAP);
    pool_at_old_address(2 * WRAP);
    arena_after_destroy();
    return hkt_done();
}
