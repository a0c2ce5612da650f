/* threads_churn.c — 10,000 short-lived threads, each allocating and freeing, some leaving blocks
 * for later threads to free. Memory must stay bounded: reserved < 256 MiB, no segment kept but
 * those holding the blocks still in use, no leaked thread heaps. Built as api_threads_churn and std_threads_churn. */
#define _GNU_SOURCE
#include "hkt.h"

#define MiB ((size_t)1 << 20)
enum { WAVE = 8, LEFT_SLOTS = 512, KEEP = 64 };
enum { SEGMENT_SHIFT = 22 }; /* heapkit's segments are 4 MiB, aligned to their size (src/internal.h) */

typedef struct {
    uint32_t seed, size;
    uint8_t data[];
} blk_t;

static pthread_mutex_t left_lock = PTHREAD_MUTEX_INITIALIZER;
static blk_t *left[LEFT_SLOTS]; /* blocks left behind by exited threads */
static size_t left_bad;

static blk_t *make(uint64_t *rng, uint32_t seed) {
    uint64_t x = hkt_rand(rng);
    size_t n = (x & 7) == 0 ? (x >> 8) % 40000 + 1 : (x >> 8) % 400 + 1;
    blk_t *b = (x & 0x100) ? T_calloc(1, sizeof(blk_t) + n) : T_malloc(sizeof(blk_t) + n);
    REQUIRE(b);
    b->seed = seed;
    b->size = (uint32_t)n;
    hkt_fill(b->data, n, seed);
    return b;
}

static bool intact(const blk_t *b) {
    return hkt_verify(b->data, b->size, b->seed) == (size_t)-1;
}

static void *churn_thread(void *arg) {
    size_t id = (size_t)arg;
    uint64_t rng = 0xabcdef + id * 1315423911u;
    blk_t *mine[KEEP];
    size_t bad = 0;
    for (size_t i = 0; i < KEEP; i++) mine[i] = make(&rng, (uint32_t)(id * KEEP + i));
    /* some churn inside the thread */
    for (size_t r = 0; r < 100; r++) {
        size_t k = hkt_rand(&rng) % KEEP;
        if (!intact(mine[k])) bad++;
        if (r % 10 == 0) {
            size_t n = mine[k]->size;
            blk_t *g = T_realloc(mine[k], sizeof(blk_t) + n * 2 + 1);
            REQUIRE(g);
            if (!intact(g)) bad++;
            mine[k] = g;
            continue;
        }
        T_free(mine[k]);
        mine[k] = make(&rng, (uint32_t)(r * 7 + id));
    }
    /* leave two blocks behind for later threads; free two left by earlier ones */
    pthread_mutex_lock(&left_lock);
    for (size_t j = 0; j < 2; j++) {
        size_t slot = (id * 2 + j) % LEFT_SLOTS;
        blk_t *old = left[slot];
        left[slot] = mine[j];
        mine[j] = old;
    }
    pthread_mutex_unlock(&left_lock);
    for (size_t i = 0; i < KEEP; i++) {
        if (!mine[i]) continue;
        if (!intact(mine[i])) bad++;
        T_free(mine[i]);
    }
    if (bad) __atomic_add_fetch(&left_bad, bad, __ATOMIC_RELAXED);
    return NULL;
}

/* How many segments the blocks in left[] lie in: those must stay mapped whatever else is freed.
 * Which segments they are depends on which exited thread's segment each later thread adopted,
 * so the count varies from run to run (about 20 to 40 here). */
static size_t pinned_segments(void) {
    uintptr_t seen[LEFT_SLOTS];
    size_t n = 0;
    for (size_t i = 0; i < LEFT_SLOTS; i++) {
        if (!left[i]) continue;
        uintptr_t seg = (uintptr_t)left[i] >> SEGMENT_SHIFT;
        size_t k = 0;
        while (k < n && seen[k] != seg) k++;
        if (k == n) seen[n++] = seg;
    }
    return n;
}

static void run_threads(size_t first, size_t count) {
    pthread_t t[WAVE];
    for (size_t i = 0; i < count; i += WAVE) {
        size_t n = count - i < WAVE ? count - i : WAVE;
        for (size_t k = 0; k < n; k++) {
            int rc = pthread_create(&t[k], NULL, churn_thread, (void *)(first + i + k));
            REQUIRE(rc == 0);
        }
        for (size_t k = 0; k < n; k++) pthread_join(t[k], NULL);
    }
}

/* The purge delay (50 ms by default) several times over with no thread started: the heaps of the
 * last exited threads, parked for threads that might start next, expire, and what they held that no
 * live block needs is given back. Measured only after that: memory kept for a moment is not churn. */
static void let_parked_heaps_expire(void) {
    struct timespec quiet = {0, 250 * 1000 * 1000};
    nanosleep(&quiet, NULL);
}

int main(void) {
    hkt_begin(T_FAMILY "_threads_churn", 300);
    hkt_check_running_on_heapkit();
    size_t half = hkt_scaled(5000);
    hk_stats_t s0, s1, s2, s3;
    bool have = hkt_stats(&s0);

    run_threads(0, half);
    let_parked_heaps_expire();
    hkt_stats(&s1);
    size_t pinned1 = pinned_segments();
    run_threads(half, half);
    let_parked_heaps_expire();
    hkt_stats(&s2);
    size_t pinned2 = pinned_segments();
    CHECKF(left_bad == 0, "%zu blocks corrupted during thread churn", left_bad);

    for (size_t i = 0; i < LEFT_SLOTS; i++) {
        if (left[i] && !intact(left[i])) left_bad++;
        T_free(left[i]);
        left[i] = NULL;
    }
    CHECKF(left_bad == 0, "%zu blocks left by exited threads were corrupted", left_bad);
    if (have) {
        hkt_heapkit()->trim();
        hkt_stats(&s3);
        hkt_note("%zu threads: reserved %zu MiB after first half, %zu MiB after second, %zu MiB after trim;"
                 " segments %zu (%zu hold live blocks) and %zu (%zu), then %zu; abandoned %zu, heaps %zu",
                 2 * half, s1.reserved / MiB, s2.reserved / MiB, s3.reserved / MiB, s1.segments, pinned1,
                 s2.segments, pinned2, s3.segments, s3.abandoned, s3.threads);
        CHECKF(s1.reserved < 256 * MiB, "reserved %zu MiB after %zu threads (bound 256 MiB)", s1.reserved / MiB, half);
        CHECKF(s2.reserved < 256 * MiB, "reserved %zu MiB after %zu threads (bound 256 MiB)", s2.reserved / MiB,
               2 * half);
        /* Thread churn must not accumulate memory: besides the segments holding the blocks left
         * behind, only the few of the main heap remain (a per-thread leak of even one 64 KiB page
         * would keep hundreds more). Comparing reserved between halves instead would measure how
         * the left blocks happened to scatter, which varies by tens of MiB with scheduling. */
        CHECKF(s1.segments <= pinned1 + 4, "after %zu threads %zu segments mapped, only %zu hold live blocks", half,
               s1.segments, pinned1);
        CHECKF(s2.segments <= pinned2 + 4, "after %zu threads %zu segments mapped, only %zu hold live blocks",
               2 * half, s2.segments, pinned2);
        CHECKF(s2.reserved <= s2.segments * ((size_t)1 << SEGMENT_SHIFT) + 8 * MiB,
               "reserved %zu MiB, beyond the %zu segments mapped", s2.reserved / MiB, s2.segments);
        CHECKF(s3.threads < 64, "%zu thread heaps alive after all %zu threads were joined", s3.threads, 2 * half);
        CHECKF(s3.live <= s0.live + 1 * MiB, "live %zu -> %zu after every block was freed", s0.live, s3.live);
    }
    return hkt_done();
}
