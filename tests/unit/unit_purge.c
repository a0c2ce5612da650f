/* unit_purge.c — memory goes back to the OS after a burst: with the background purger, while the
 * program makes no allocator call at all; with HEAPKIT_PURGE_THREAD=0, at the next allocator call
 * after the delay; and at once with hk_trim. Waits are bounded polls, not timing assertions. */
#include "unit.h"

#include <stdlib.h>
#include <time.h>

enum { BLOCKS = 200000 };
static void *blocks[BLOCKS];

static size_t resident(void) {
    hk_stats_t s;
    hk_stats_get(&s);
    return s.resident;
}

static void burst(void) {
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = hk_malloc(64 + (i % 7) * 48); /* ~44 MiB of small blocks, every page touched */
        memset(blocks[i], 1, 64);
    }
    for (size_t i = 0; i < BLOCKS; i++) hk_free(blocks[i]);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll for up to 5 s until resident memory is under `bound`; `poke` makes an allocator call each
 * round (for the mode without the purger thread). */
static bool falls_below(size_t bound, bool poke) {
    for (int i = 0; i < 100; i++) {
        if (poke) hk_free(hk_malloc(HK_MEDIUM_MAX)); /* a slow-path call: the heap's purge pass runs */
        if (resident() < bound) return true;
        sleep_ms(50);
    }
    return false;
}

int main(void) {
    hk_process_init();
    bool thread = hk_state.options.purge_thread && hk_state.options.purge_delay_ms > 0;
    size_t base = resident();
    burst();
    size_t peak = atomic_load(&hk_state.committed_peak);
    CHECK(peak > base + ((size_t)16 << 20), "the burst should have committed memory (peak %zu)", peak);
    size_t bound = base + ((size_t)8 << 20);
    CHECK(falls_below(bound, !thread), "resident %zu did not fall below %zu after the burst (purge %s)", resident(),
          bound, thread ? "thread" : "on allocator calls");
    fprintf(stderr, "resident %zu KiB before, %zu KiB after the burst and the delay\n", base >> 10, resident() >> 10);

    burst();
    hk_trim();
    CHECK(resident() < bound, "hk_trim left %zu resident", resident());
    return unit_done("unit_purge");
}
