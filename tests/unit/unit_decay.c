/* unit_decay.c — the decay curve that paces purging (decay.c), driven by the test's own clock:
 * recently freed bytes stay, bytes unused for a whole window all go, the limit falls smoothly and
 * never rises while nothing new is freed, reuse is not counted as freeing, 0 and -1 mean at once
 * and never. Then the huge cache's use of it (huge_cache.c): a partly purged extent reads zero
 * past its dirty part, which is all calloc has to clear. No timing assertion: the curve is checked
 * on the injected clock; the cache part polls, bounded, for the purger's work. */
#include "unit.h"

#include <stdlib.h>
#include <time.h>

#define MIB ((size_t)1 << 20)

static void curve(void) {
    hk_decay_t d;
    hk_decay_init(&d, 1000, 5000);
    size_t r = 100 * MIB;
    CHECK(hk_decay_excess(&d, 5000, r) == 0, "bytes freed just now all stay");
    CHECK(hk_decay_excess(&d, 5040, r) == 0, "and still within the first step");
    size_t prev = r, at_half = 0;
    for (uint64_t t = 5050; t <= 6100; t += 50) {
        size_t limit = hk_decay_limit(&d, t, r);
        CHECK(limit <= prev, "the limit never rises while nothing is freed (t=%llu: %zu > %zu)",
              (unsigned long long)t, limit, prev);
        prev = limit;
        if (t == 5500) at_half = limit;
    }
    CHECK(at_half > 35 * MIB && at_half < 65 * MIB, "halfway through the window about half may stay: %zu", at_half);
    CHECK(hk_decay_limit(&d, 6000, r) == 0, "after a whole window nothing may stay");
    CHECK(hk_decay_excess(&d, 6000, r) == r, "so all of it is over");

    /* What the owner purged is no longer counted; new frees are, at full weight. */
    hk_decay_purged(&d, 0);
    CHECK(hk_decay_excess(&d, 6010, 8 * MIB) == 0, "8 MiB freed now stay");
    /* Reused (taken again) and freed again: the second free is as new as the first. */
    CHECK(hk_decay_excess(&d, 6020, 2 * MIB) == 0, "reuse shrinks what is retained");
    size_t limit = hk_decay_limit(&d, 6030, 8 * MIB);
    CHECK(limit == 8 * MIB, "freed again at once: all stays (%zu)", limit);

    /* Steps keep their own weight: an old burst goes before a recent one. */
    hk_decay_t e;
    hk_decay_init(&e, 1000, 0);
    (void)hk_decay_limit(&e, 0, 10 * MIB);          /* a burst at t=0 */
    (void)hk_decay_limit(&e, 800, 20 * MIB);        /* another 10 MiB at t=800 */
    size_t l = hk_decay_limit(&e, 900, 20 * MIB);   /* the first is nearly gone, the second nearly whole */
    CHECK(l > 9 * MIB && l < 12 * MIB, "old burst decayed, new one kept: %zu", l);
    CHECK(hk_decay_limit(&e, 1850, 20 * MIB) == 0, "both gone a window after the last");

    /* Odd windows and huge counts. */
    hk_decay_t z, never, tiny, big;
    hk_decay_init(&z, 0, 0);
    CHECK(hk_decay_excess(&z, 0, MIB) == MIB, "a window of 0 purges at once");
    hk_decay_init(&never, -1, 0);
    CHECK(hk_decay_excess(&never, 1000000, MIB) == 0, "a window of -1 never purges");
    hk_decay_init(&tiny, 3, 0); /* shorter than the number of steps: steps of 1 ms */
    (void)hk_decay_limit(&tiny, 0, MIB);
    CHECK(hk_decay_limit(&tiny, 100, MIB) == 0, "a 3 ms window still ends");
    hk_decay_init(&big, 1000, 0);
    size_t huge = SIZE_MAX / 2;
    CHECK(hk_decay_limit(&big, 0, huge) == huge, "no overflow on huge counts");
    size_t mid = hk_decay_limit(&big, 500, huge);
    CHECK(mid > huge / 3 && mid < huge / 3 * 2, "nor halfway: %zu", mid);
    CHECK(hk_decay_limit(&big, 10, 4096) <= 4096, "the limit never exceeds what is retained");
    /* A clock that steps back (another thread read it first) changes nothing. */
    CHECK(hk_decay_excess(&big, 0, 4096) == 0, "time going back is no time passing");
}

/* The free pages' pace (page_decay.c), on the test's clock: pages freed just now get no budget,
 * a window later all of them do, and the budget is spent page by page. (HEAPKIT_DECAY=200.) */
static void page_budget(void) {
    hk_process_init();
    const uint64_t t0 = (uint64_t)1 << 40; /* far from the real clock: the curve starts here */
    size_t before = hk_page_decay_free_dirty();
    uint64_t events = hk_page_decay_events();
    hk_page_decay_refresh(t0);
    hk_page_decay_freed(MIB);
    CHECK(hk_page_decay_events() > events, "a freed page is an event: the program is busy");
    CHECK(hk_page_decay_free_dirty() == before + MIB, "counted free and unpurged");
    hk_page_decay_refresh(t0 + 1);
    CHECK(!hk_page_decay_take(4096), "no budget for pages freed just now");
    hk_page_decay_refresh(t0 + 250);
    CHECK(hk_page_decay_take(MIB / 2) && hk_page_decay_take(MIB / 2 - 4096), "a window later all may go");
    CHECK(hk_page_decay_take(8192), "the last page may overdraw what is left");
    CHECK(!hk_page_decay_take(4096), "and then the budget is spent");
    hk_page_decay_purged(MIB);
    hk_page_decay_freed(MIB);
    hk_page_decay_reused(MIB); /* freed and taken again before the next look: never over */
    hk_page_decay_refresh(t0 + 600);
    CHECK(!hk_page_decay_take(4096) || before != 0, "reused pages are not purged");
    CHECK(hk_page_decay_free_dirty() == before, "counts back where they were");
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A 32 MiB extent written with 0xAB, cached, then left unused while huge allocations go on
 * (asked for a node that has no extent, so nothing is taken): the decay purges its end part by
 * part. Whenever it is taken back, every byte past its dirty part must read zero. */
static void huge_cache(void) {
    size_t size = 32 * MIB, mapped = 0, dirty = 0;
    hk_process_init();
    uint8_t *base = hk_os_map_aligned(size, HK_SEGMENT_SIZE, &mapped);
    CHECK(base != NULL && mapped == size, "mapped");
    if (base == NULL) return;
    memset(base, 0xAB, size);
    hk_huge_cache_put(base, size, 0);
    CHECK(hk_huge_cached() == size, "cached: %zu", hk_huge_cached());
    bool partial = false;
    for (int i = 0; i < 400 && !partial; i++) { /* up to 4 s for a 200 ms window */
        size_t got = 0;
        (void)hk_huge_cache_take(size, &got, &dirty, 1); /* node 1: keeps the program busy, takes nothing */
        hk_huge_purge(false);
        partial = hk_os_resident(base, size) < size;
        if (!partial) sleep_ms(10);
    }
    CHECK(hk_huge_cached() == size, "still cached, not unmapped: the program never went idle");
    size_t got = 0;
    uint8_t *back = hk_huge_cache_take(size, &got, &dirty, 0);
    CHECK(back == base && got == size, "taken back whole: %p %zu", (void *)back, got);
    if (back == NULL) return;
    CHECK(dirty < size, "part of it was purged: dirty %zu of %zu", dirty, size);
    size_t nonzero = 0;
    for (size_t off = dirty; off < size; off += 512) nonzero += base[off] != 0;
    CHECK(nonzero == 0, "past the dirty part (%zu of %zu) all reads zero: %zu nonzero", dirty, size, nonzero);
    CHECK(dirty == 0 || (base[0] == 0xAB && base[dirty - 1] == 0xAB), "the dirty part is left as it was");
    hk_huge_cache_put(back, size, 0);
    CHECK(partial, "the decay purged part of an unused extent while huge allocations went on");
    hk_huge_purge(true);
    CHECK(hk_huge_cached() == 0, "a forced purge empties the cache: %zu", hk_huge_cached());
}

int main(void) {
    curve();
    page_budget();
    huge_cache();
    return unit_done("unit_decay");
}
