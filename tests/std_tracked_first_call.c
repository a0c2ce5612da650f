/* std_tracked_first_call.c — under HEAPKIT_LEAKS=1, threads whose first call into the allocator
 * hands them a block without a heap of their own: realloc in place of a block another thread
 * allocated. Many such threads at once, released by a barrier, round after round. The tracker used
 * to record these on the shared empty heap (its stack cache and serial), which the threads raced
 * on: a segfault in a few runs in a hundred of std_threads_realloc_tracked. */
#define _GNU_SOURCE
#include "hkt.h"

#include <stdatomic.h>

enum { THREADS = 8, BLOCK = 200 };

static pthread_barrier_t start;
static void *blocks[THREADS];

static void *first_call(void *arg) {
    size_t i = (size_t)(uintptr_t)arg;
    pthread_barrier_wait(&start);
    /* the thread's first allocator call: shrink in place, which needs no page of its own */
    void *q = realloc(blocks[i], BLOCK - 16 - (i % 4));
    blocks[i] = q;
    return NULL;
}

int main(void) {
    hkt_begin("std_tracked_first_call", 240);
    hkt_check_running_on_heapkit();
    size_t rounds = hkt_scaled(1500);
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < THREADS; i++) {
            blocks[i] = malloc(BLOCK);
            REQUIRE(blocks[i] != NULL);
            hkt_fill(blocks[i], BLOCK - 32, (uint32_t)(r * THREADS + i));
        }
        REQUIRE(pthread_barrier_init(&start, NULL, THREADS) == 0);
        pthread_t t[THREADS];
        for (size_t i = 0; i < THREADS; i++)
            REQUIRE(pthread_create(&t[i], NULL, first_call, (void *)(uintptr_t)i) == 0);
        for (size_t i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        pthread_barrier_destroy(&start);
        for (size_t i = 0; i < THREADS; i++) {
            CHECKF(blocks[i] != NULL, "round %zu: realloc returned NULL", r);
            if (blocks[i] == NULL) continue;
            CHECKF(hkt_verify(blocks[i], BLOCK - 32, (uint32_t)(r * THREADS + i)) == (size_t)-1,
                   "round %zu: block %zu lost its contents", r, i);
            free(blocks[i]);
        }
    }
    return hkt_done();
}
