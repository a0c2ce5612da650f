/* scrub.c — writing zeros over whole pages the program is done with (the hardened mode's freed
 * big blocks), by whichever store costs less for them. Pages whose lines are still in the core's
 * cache (a buffer filled just before its free) are cheapest to zero with ordinary stores: the
 * lines are there, and the next owner finds them there. Pages that are not (written long ago, or
 * only a byte per page, then pushed out to the shared cache or memory) are cheapest with
 * non-temporal stores: an ordinary store first reads each line to own it, a non-temporal one
 * only writes it. Which case a run of pages is in shows in what its first page costs: that page
 * is zeroed with memset and timed with the time stamp counter, and the rest of the run follows
 * its way. Measured on this project's VM (bench/RESULTS.md, "Hardened big blocks: the store"):
 * a 4 KiB memset takes 170-270 ticks when its lines are in the core's cache, 450-650 when they
 * are in the shared cache, 1,400-3,200 from memory. Only the speed depends on the guess; every
 * byte is zero either way. */
#include "core.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#include <x86intrin.h>

/* Ticks above which a 4 KiB memset missed the core's cache for most of its lines (see above). */
#define HK_SCRUB_COLD_TICKS 500

void hk_scrub_stream(void *at, size_t bytes) {
    uint8_t *p = at, *end = p + bytes;
    __m128i zero = _mm_setzero_si128();
    if (((uintptr_t)p & 15) != 0) { /* never for pages; the stores below need 16-byte alignment */
        memset(p, 0, bytes);
        return;
    }
    for (; (size_t)(end - p) >= 64; p += 64) {
        _mm_stream_si128((__m128i *)p, zero);
        _mm_stream_si128((__m128i *)(p + 16), zero);
        _mm_stream_si128((__m128i *)(p + 32), zero);
        _mm_stream_si128((__m128i *)(p + 48), zero);
    }
    _mm_sfence(); /* ordered before whatever hands the pages on (the cache of mappings' lock) */
    memset(p, 0, (size_t)(end - p));
}

void hk_scrub_pages(void *p, size_t bytes, size_t ps) {
    if (bytes <= ps) {
        memset(p, 0, bytes);
        return;
    }
    uint64_t start = __rdtsc();
    memset(p, 0, ps);
    bool cold = __rdtsc() - start > HK_SCRUB_COLD_TICKS;
    if (cold) hk_scrub_stream((uint8_t *)p + ps, bytes - ps);
    else memset((uint8_t *)p + ps, 0, bytes - ps);
}
#else
void hk_scrub_stream(void *p, size_t bytes) { memset(p, 0, bytes); }
void hk_scrub_pages(void *p, size_t bytes, size_t ps) {
    (void)ps;
    memset(p, 0, bytes);
}
#endif
