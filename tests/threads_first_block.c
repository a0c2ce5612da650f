/* threads_first_block.c — a thread whose first block starts the purger thread ends up with one
 * heap. Starting a thread allocates (the new thread's TLS, in the starting thread), so a thread
 * that started the purger before it had a heap took a heap in that inner call and another on
 * return: the first, a parked heap handed on whole, had nobody left to hand it on again, and its
 * pages (a page per size class it had used) stayed resident in every threaded program. The first
 * thread's exit parks its heap and wakes the purger, which is started at the next allocator slow
 * path: the second thread's first block. Built as api_threads_first_block and std_threads_first_block. */
#define _GNU_SOURCE
#include "hkt.h"

enum { BLOCKS = 200 };

/* Every other block of the first thread, left for the second to free: the first thread's heap is
 * parked holding live blocks in pages of many size classes, and free memory in them. */
static void *left[BLOCKS];

static void *first_thread(void *arg) {
    (void)arg;
    for (size_t i = 0; i < BLOCKS; i++) REQUIRE((left[i] = T_malloc(16 + i * 37 % 2032)) != NULL);
    for (size_t i = 0; i < BLOCKS; i += 2) {
        T_free(left[i]);
        left[i] = NULL;
    }
    return NULL;
}

static void *second_thread(void *arg) {
    (void)arg;
    void *p = T_malloc(1600); /* the first block: the slow path, where the purger is started */
    REQUIRE(p != NULL);
    for (size_t i = 0; i < BLOCKS; i++) T_free(left[i]);
    T_free(p);
    return NULL;
}

static void run(void *(*fn)(void *)) {
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, fn, NULL) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
}

int main(void) {
    hkt_begin(T_FAMILY "_threads_first_block", 60);
    hkt_check_running_on_heapkit();
    hk_stats_t s0, s1, s2;
    if (!hkt_stats(&s0)) return hkt_done(); /* HKT_ANY_MALLOC: another allocator, nothing to see */
    run(first_thread);
    hkt_stats(&s1);
    run(second_thread);
    hkt_stats(&s2);
    hkt_note("live thread heaps %zu, after the first thread %zu, after the second %zu; segments %zu, %zu, %zu",
             s0.threads, s1.threads, s2.threads, s0.segments, s1.segments, s2.segments);
    /* Each thread's heap is parked at its exit (or, when parking is full or off, given up): none
     * stays live once the thread is joined. */
    CHECKF(s1.threads == s0.threads, "%zu heaps live after the first thread was joined, %zu before", s1.threads,
           s0.threads);
    CHECKF(s2.threads == s0.threads, "%zu heaps live after the second thread was joined, %zu before: a heap "
           "was taken and never handed on", s2.threads, s0.threads);
    return hkt_done();
}
