/* threads_realloc.c — realloc across threads: a pipeline where one thread allocates, the next
 * grows the block, the next shrinks it and the last frees it, all checking contents; blocks of
 * every size range including huge ones. Built as api_threads_realloc and std_threads_realloc. */
#define _GNU_SOURCE
#include "hkt.h"

enum { STAGES = 4, LINES = 2 };

typedef struct {
    uint32_t seed;
    uint32_t pad;
    size_t size; /* bytes of pattern after the header */
} hdr_t;

static hkt_queue_t q[LINES][STAGES];
static size_t items;
static size_t bad_total;

static size_t base_size(size_t i) {
    switch (i % 8) {
    case 0: return 1 + i % 50;
    case 1: return 100 + i % 900;
    case 2: return 5000 + i % 3000;
    case 3: return 60000 + i % 70000;
    case 4: return i % 1024 == 4 ? ((size_t)2 << 20) + i : 200 + i % 100;
    default: return 16 + i % 300;
    }
}

static bool ok(const hdr_t *h) {
    return hkt_verify(h + 1, h->size, h->seed) == (size_t)-1;
}

typedef struct {
    size_t line, stage;
} who_t;

static void *stage_thread(void *arg) {
    who_t w = *(who_t *)arg;
    size_t bad = 0;
    for (size_t i = 0; i < items; i++) {
        hdr_t *h;
        if (w.stage == 0) {
            size_t n = base_size(i);
            h = T_malloc(sizeof(hdr_t) + n);
            REQUIRE(h);
            h->seed = (uint32_t)(i * 2 + w.line);
            h->size = n;
            hkt_fill(h + 1, n, h->seed);
        } else {
            h = hkt_queue_pop(&q[w.line][w.stage - 1]);
            if (!ok(h)) bad++;
        }
        if (w.stage == 1) { /* grow: 1x to 5x, sometimes into the huge range */
            size_t n = h->size * (2 + i % 4) + (i % 2000 == 1 ? ((size_t)3 << 20) : 0);
            hdr_t *g = T_realloc(h, sizeof(hdr_t) + n);
            REQUIRE(g);
            if (!ok(g)) bad++;
            hkt_fill(g + 1, n, g->seed);
            g->size = n;
            h = g;
        } else if (w.stage == 2) { /* shrink to a third */
            size_t n = h->size / 3;
            hdr_t *g = T_realloc(h, sizeof(hdr_t) + n);
            REQUIRE(g);
            g->size = n;
            if (!ok(g)) bad++;
            h = g;
        }
        if (w.stage == STAGES - 1) {
            T_free(h);
        } else {
            hkt_queue_push(&q[w.line][w.stage], h);
        }
    }
    __atomic_add_fetch(&bad_total, bad, __ATOMIC_RELAXED);
    return NULL;
}

int main(void) {
    hkt_begin(T_FAMILY "_threads_realloc", 240);
    hkt_check_running_on_heapkit();
    items = hkt_scaled(20000);
    hk_stats_t s0, s1;
    bool have = hkt_stats(&s0);
    pthread_t t[LINES][STAGES];
    who_t who[LINES][STAGES];
    for (size_t l = 0; l < LINES; l++)
        for (size_t s = 0; s < STAGES; s++) hkt_queue_init(&q[l][s]);
    for (size_t l = 0; l < LINES; l++)
        for (size_t s = 0; s < STAGES; s++) {
            who[l][s] = (who_t){l, s};
            REQUIRE(pthread_create(&t[l][s], NULL, stage_thread, &who[l][s]) == 0);
        }
    for (size_t l = 0; l < LINES; l++)
        for (size_t s = 0; s < STAGES; s++) pthread_join(t[l][s], NULL);
    for (size_t l = 0; l < LINES; l++)
        for (size_t s = 0; s < STAGES; s++) hkt_queue_destroy(&q[l][s]);
    CHECKF(bad_total == 0, "%zu blocks lost contents while realloc'ed across threads", bad_total);
    if (have) {
        hkt_heapkit()->trim();
        hkt_stats(&s1);
        CHECKF(s1.live <= s0.live + (1 << 20), "live %zu -> %zu after the pipeline drained", s0.live, s1.live);
    }
    return hkt_done();
}
