/* threads_mainfree.c — every thread allocates and exits, then the main thread verifies and frees
 * everything (frees into pages of dead threads). Repeated in rounds: memory must be reused, not grow.
 * Built as api_threads_mainfree and std_threads_mainfree. */
#define _GNU_SOURCE
#include "hkt.h"

#define MiB ((size_t)1 << 20)
enum { THREADS = 8 };

typedef struct {
    size_t id, count;
    void **ptrs;
    size_t *sizes;
} job_t;

static size_t size_for(size_t id, size_t i) {
    size_t x = (id * 7919 + i * 104729) ^ (i >> 3);
    if (i % 997 == 0) return (x % 300000) + 1;
    if (i % 13 == 0) return (x % 20000) + 1;
    return (x % 600) + 1;
}

static void *alloc_thread(void *arg) {
    job_t *j = arg;
    for (size_t i = 0; i < j->count; i++) {
        size_t n = size_for(j->id, i);
        j->sizes[i] = n;
        j->ptrs[i] = (i % 3 == 0) ? T_calloc(n, 1) : T_malloc(n);
        REQUIRE(j->ptrs[i]);
        hkt_fill(j->ptrs[i], n, (uint32_t)(j->id * 1000003 + i));
    }
    return NULL;
}

/* Reserved right after a round's threads exit, before main frees: the round's peak need. Read at
 * this point it does not depend on how soon the purger unmaps the segments the round freed. */
static size_t reserved_at_peak;

static void one_round(size_t round, size_t count) {
    job_t jobs[THREADS];
    pthread_t t[THREADS];
    for (size_t k = 0; k < THREADS; k++) {
        jobs[k].id = round * THREADS + k;
        jobs[k].count = count;
        jobs[k].ptrs = T_malloc(count * sizeof(void *));
        jobs[k].sizes = T_malloc(count * sizeof(size_t));
        REQUIRE(jobs[k].ptrs && jobs[k].sizes);
        REQUIRE(pthread_create(&t[k], NULL, alloc_thread, &jobs[k]) == 0);
    }
    for (size_t k = 0; k < THREADS; k++) pthread_join(t[k], NULL);
    hk_stats_t at_peak;
    reserved_at_peak = hkt_stats(&at_peak) ? at_peak.reserved : 0;
    /* all allocating threads are gone: main checks and frees everything, interleaving threads */
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < THREADS; k++) {
            job_t *j = &jobs[k];
            if (hkt_verify(j->ptrs[i], j->sizes[i], (uint32_t)(j->id * 1000003 + i)) != (size_t)-1) bad++;
            if (T_usable_size(j->ptrs[i]) < j->sizes[i]) bad++;
            T_free(j->ptrs[i]);
        }
    }
    CHECKF(bad == 0, "round %zu: %zu blocks of exited threads were wrong", round, bad);
    for (size_t k = 0; k < THREADS; k++) {
        T_free(jobs[k].ptrs);
        T_free(jobs[k].sizes);
    }
}

int main(void) {
    hkt_begin(T_FAMILY "_threads_mainfree", 240);
    hkt_check_running_on_heapkit();
    size_t count = hkt_scaled(10000);
    hk_stats_t s0, s;
    bool have = hkt_stats(&s0);
    size_t first_peak = 0;
    const size_t rounds = 8;
    size_t worst = 0;
    for (size_t r = 0; r < rounds; r++) {
        one_round(r, count);
        if (!have) continue;
        hkt_stats(&s);
        if (r == 0) first_peak = reserved_at_peak;
        /* Every round needs the same memory; dead threads' freed pages must be reused, so the
         * footprint may wobble but not climb round after round. */
        size_t bound = 2 * first_peak + 64 * MiB;
        size_t most = reserved_at_peak > s.reserved ? reserved_at_peak : s.reserved;
        CHECKF(most <= bound, "round %zu: reserved %zu MiB, bound %zu MiB (round 1 reserved %zu MiB at its peak)",
               r + 1, most / MiB, bound / MiB, first_peak / MiB);
        if (most > worst) worst = most;
    }
    if (have) {
        hkt_note("reserved %zu MiB at round 1's peak, at most %zu MiB over %zu rounds", first_peak / MiB,
                 worst / MiB, rounds);
        hkt_heapkit()->trim();
        hkt_stats(&s);
        CHECKF(s.live <= s0.live + MiB, "live %zu -> %zu after everything was freed", s0.live, s.live);
    }
    return hkt_done();
}
