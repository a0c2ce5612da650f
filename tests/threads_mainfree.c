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
    hk_stats_t s0, s_first, s;
    bool have = hkt_stats(&s0);
    const size_t rounds = 8;
    size_t worst = 0;
    for (size_t r = 0; r < rounds; r++) {
        one_round(r, count);
        if (!have) continue;
        hkt_stats(&s);
        if (r == 0) s_first = s;
        /* Every round needs the same memory; dead threads' freed pages must be reused, so the
         * footprint may wobble but not climb round after round. */
        size_t bound = 2 * s_first.reserved + 64 * MiB;
        CHECKF(s.reserved <= bound, "round %zu: reserved %zu MiB, bound %zu MiB (round 1 reserved %zu MiB)", r + 1,
               s.reserved / MiB, bound / MiB, s_first.reserved / MiB);
        if (s.reserved > worst) worst = s.reserved;
    }
    if (have) {
        hkt_note("reserved %zu MiB after round 1, at most %zu MiB over %zu rounds", s_first.reserved / MiB,
                 worst / MiB, rounds);
        hkt_heapkit()->trim();
        hkt_stats(&s);
        CHECKF(s.live <= s0.live + MiB, "live %zu -> %zu after everything was freed", s0.live, s.live);
    }
    return hkt_done();
}
