/* threads_churn.c — 10,000 short-lived threads, each allocating and freeing, some leaving blocks
 * for later threads to free. Memory must stay bounded: reserved < 256 MiB, no growth between
 * the first and second half, no leaked thread heaps. Built as api_threads_churn and std_threads_churn. */
#define _GNU_SOURCE
#include "hkt.h"

#define MiB ((size_t)1 << 20)
enum { WAVE = 8, LEFT_SLOTS = 512, KEEP = 64 };

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

int main(void) {
    hkt_begin(T_FAMILY "_threads_churn", 300);
    hkt_check_running_on_heapkit();
    size_t half = hkt_scaled(5000);
    hk_stats_t s0, s1, s2, s3;
    bool have = hkt_stats(&s0);

    run_threads(0, half);
    hkt_stats(&s1);
    run_threads(half, half);
    hkt_stats(&s2);
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
                 " segments %zu, abandoned %zu, heaps %zu",
                 2 * half, s1.reserved / MiB, s2.reserved / MiB, s3.reserved / MiB, s3.segments, s3.abandoned,
                 s3.threads);
        CHECKF(s1.reserved < 256 * MiB, "reserved %zu MiB after %zu threads (bound 256 MiB)", s1.reserved / MiB, half);
        CHECKF(s2.reserved < 256 * MiB, "reserved %zu MiB after %zu threads (bound 256 MiB)", s2.reserved / MiB,
               2 * half);
        /* the same work again must fit in the same memory (a little wobble allowed; a per-thread
         * leak of even one 64 KiB page would add over 300 MiB) */
        CHECKF(s2.reserved <= s1.reserved + s1.reserved / 4 + 32 * MiB,
               "reserved grew from %zu MiB to %zu MiB between the first and second %zu threads", s1.reserved / MiB,
               s2.reserved / MiB, half);
        CHECKF(s2.committed <= s1.committed + s1.committed / 4 + 32 * MiB,
               "committed grew from %zu MiB to %zu MiB between halves", s1.committed / MiB, s2.committed / MiB);
        CHECKF(s3.threads < 64, "%zu thread heaps alive after all %zu threads were joined", s3.threads, 2 * half);
        CHECKF(s3.live <= s0.live + 1 * MiB, "live %zu -> %zu after every block was freed", s0.live, s3.live);
    }
    return hkt_done();
}
