/* threads_xfree.c — cross-thread frees: producers allocate and fill blocks, consumers on other
 * threads verify every byte and free them; plus a ring of threads passing blocks around.
 * Built as api_threads_xfree (also under TSan/ASan) and std_threads_xfree. */
#define _GNU_SOURCE
#include "hkt.h"

enum { PAIRS = 4, RING = 4 };

typedef struct {
    uint32_t seed;
    uint32_t size;
    uint8_t data[];
} msg_t;

static hkt_queue_t queues[PAIRS];
static size_t per_producer;
static size_t corrupt_count;

static size_t pick_size(uint64_t *rng) {
    uint64_t x = hkt_rand(rng);
    switch (x & 15) {
    case 0: return (x >> 8) % (256 * 1024) + 1;   /* medium/large */
    case 1: return (x >> 8) % 16384 + 1;
    default: return (x >> 8) % 512 + 1;          /* small, the common case */
    }
}

static void *producer(void *arg) {
    size_t id = (size_t)arg;
    uint64_t rng = 0x1234567 + id * 7777;
    for (size_t i = 0; i < per_producer; i++) {
        size_t n = pick_size(&rng);
        /* one in 500 is a huge block */
        if (i % 500 == 499) n = ((size_t)2 << 20) + i;
        msg_t *m = (i & 1) ? T_malloc(sizeof(msg_t) + n) : T_calloc(1, sizeof(msg_t) + n);
        REQUIRE(m);
        m->seed = (uint32_t)(id << 24 | i);
        m->size = (uint32_t)n;
        hkt_fill(m->data, n, m->seed);
        hkt_queue_push(&queues[id], m);
    }
    hkt_queue_push(&queues[id], NULL);
    return NULL;
}

static void *consumer(void *arg) {
    size_t id = (size_t)arg;
    size_t bad = 0, got = 0;
    for (;;) {
        msg_t *m = hkt_queue_pop(&queues[id]);
        if (!m) break;
        got++;
        if (T_usable_size(m) < sizeof(msg_t) + m->size) bad++;
        if (hkt_verify(m->data, m->size, m->seed) != (size_t)-1) bad++;
        /* let this thread also allocate, so its own heap is busy while remote frees land */
        void *mine = T_malloc(m->size / 2 + 1);
        REQUIRE(mine);
        memset(mine, 0x77, m->size / 2 + 1);
        T_free(m);
        T_free(mine);
    }
    CHECKF(got == per_producer, "consumer %zu got %zu of %zu blocks", id, got, per_producer);
    __atomic_add_fetch(&corrupt_count, bad, __ATOMIC_RELAXED);
    return NULL;
}

static void test_pairs(void) {
    per_producer = hkt_scaled(30000);
    pthread_t p[PAIRS], c[PAIRS];
    for (size_t i = 0; i < PAIRS; i++) hkt_queue_init(&queues[i]);
    for (size_t i = 0; i < PAIRS; i++) {
        REQUIRE(pthread_create(&c[i], NULL, consumer, (void *)i) == 0);
        REQUIRE(pthread_create(&p[i], NULL, producer, (void *)i) == 0);
    }
    for (size_t i = 0; i < PAIRS; i++) {
        pthread_join(p[i], NULL);
        pthread_join(c[i], NULL);
    }
    for (size_t i = 0; i < PAIRS; i++) hkt_queue_destroy(&queues[i]);
    CHECKF(corrupt_count == 0, "%zu blocks arrived corrupted across threads", corrupt_count);
}

/* A ring: each thread frees what its left neighbour allocated and allocates for its right one. */
static hkt_queue_t ring_q[RING];
static size_t ring_rounds;
static size_t ring_bad;

static void *ring_worker(void *arg) {
    size_t id = (size_t)arg;
    hkt_queue_t *in = &ring_q[id], *out = &ring_q[(id + 1) % RING];
    uint64_t rng = 99 + id;
    size_t bad = 0;
    /* prime the ring with a few blocks */
    for (int k = 0; k < 8; k++) {
        size_t n = pick_size(&rng);
        msg_t *m = T_malloc(sizeof(msg_t) + n);
        REQUIRE(m);
        m->seed = (uint32_t)(id * 1000 + (size_t)k);
        m->size = (uint32_t)n;
        hkt_fill(m->data, n, m->seed);
        hkt_queue_push(out, m);
    }
    for (size_t r = 0; r < ring_rounds; r++) {
        msg_t *m = hkt_queue_pop(in);
        if (hkt_verify(m->data, m->size, m->seed) != (size_t)-1) bad++;
        T_free(m);
        size_t n = pick_size(&rng);
        m = T_malloc(sizeof(msg_t) + n);
        REQUIRE(m);
        m->seed = (uint32_t)(r * 31 + id);
        m->size = (uint32_t)n;
        hkt_fill(m->data, n, m->seed);
        hkt_queue_push(out, m);
    }
    /* drain: 8 blocks per thread are still in flight; each thread frees what reaches it */
    for (int k = 0; k < 8; k++) {
        msg_t *m = hkt_queue_pop(in);
        if (hkt_verify(m->data, m->size, m->seed) != (size_t)-1) bad++;
        T_free(m);
    }
    __atomic_add_fetch(&ring_bad, bad, __ATOMIC_RELAXED);
    return NULL;
}

static void test_ring(void) {
    ring_rounds = hkt_scaled(20000);
    pthread_t t[RING];
    for (size_t i = 0; i < RING; i++) hkt_queue_init(&ring_q[i]);
    for (size_t i = 0; i < RING; i++) REQUIRE(pthread_create(&t[i], NULL, ring_worker, (void *)i) == 0);
    for (size_t i = 0; i < RING; i++) pthread_join(t[i], NULL);
    for (size_t i = 0; i < RING; i++) hkt_queue_destroy(&ring_q[i]);
    CHECKF(ring_bad == 0, "%zu blocks corrupted in the ring", ring_bad);
}

int main(void) {
    hkt_begin(T_FAMILY "_threads_xfree", 240);
    hkt_check_running_on_heapkit();
    hk_stats_t s0, s1;
    bool have = hkt_stats(&s0);
    test_pairs();
    test_ring();
    if (have) {
        hkt_heapkit()->trim(); /* collect any deferred remote frees before counting */
        hkt_stats(&s1);
        /* every block was freed: nothing may stay live (a lost remote free would) */
        CHECKF(s1.live <= s0.live + 256 * 1024, "live %zu -> %zu after all cross-thread blocks were freed",
               s0.live, s1.live);
    }
    return hkt_done();
}
