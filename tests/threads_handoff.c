/* threads_handoff.c — an exited thread's heap is handed on whole to the next thread to start: the
 * next thread's first block of a size is in the page the exited one's was, and still holds what
 * that thread wrote (the page stayed resident: not purged at exit and faulted in again, which would read
 * zero), thread after thread without mapping more; hk_trim gives a parked heap's memory back. Built as api_threads_handoff and std_threads_handoff. */
#define _GNU_SOURCE
#include "hkt.h"

#define MiB ((size_t)1 << 20)
enum { BLOCKS = 10, SIZE = 100, THREADS = 200 };

typedef struct {
    void *first; /* the first block this thread got of SIZE */
    bool stale;  /* it still held the pattern the thread before wrote */
} run_t;

enum { PATTERN = 0x5a };

/* One block each thread leaves behind for the next to free, as a request leaves an entry in a
 * server's cache: the exiting thread's segment holds a live block, so it is kept, not unmapped.
 * (A thread that frees everything leaves an empty segment, unmapped at exit as before.) */
static void *carry;

static void *one_thread(void *arg) {
    run_t *r = arg;
    void *p[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++) {
        p[i] = T_malloc(SIZE);
        REQUIRE(p[i] != NULL);
    }
    r->first = p[0];
    /* The first 16 bytes may hold free-list links; the rest is as the last owner left it. */
    const unsigned char *c = p[0];
    r->stale = true;
    for (size_t k = 16; k < SIZE; k++) r->stale &= c[k] == PATTERN;
    for (size_t i = 0; i < BLOCKS; i++) memset(p[i], PATTERN, SIZE);
    T_free(carry); /* the thread before's, in the heap it handed on: a local free now */
    carry = T_malloc(3000);
    REQUIRE(carry != NULL);
    for (size_t i = 0; i < BLOCKS; i++) T_free(p[i]);
    return NULL;
}

static run_t run_one(void) {
    run_t r = {0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, one_thread, &r) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    return r;
}

int main(void) {
    hkt_begin(T_FAMILY "_threads_handoff", 120);
    hkt_check_running_on_heapkit();
    hk_stats_t s0, s1, s2, s3;
    if (!hkt_stats(&s0)) return hkt_done(); /* HKT_ANY_MALLOC: another allocator, nothing to see */
    run_t prev = run_one();
    hkt_stats(&s1);
    size_t handed = 0;
    for (size_t i = 1; i < THREADS; i++) {
        run_t r = run_one();
        if (((uintptr_t)r.first >> 16) == ((uintptr_t)prev.first >> 16) && r.stale) handed++; /* same 64 KiB page */
        prev = r;
    }
    hkt_stats(&s2);
    hkt_note("%zu of %d threads began in the page of the thread before, its contents kept; reserved %zu -> %zu -> %zu KiB,"
             " committed %zu -> %zu KiB", handed, THREADS - 1, s0.reserved >> 10, s1.reserved >> 10,
             s2.reserved >> 10, s1.committed >> 10, s2.committed >> 10);
    /* Each thread starts after the previous one was joined, so every one of them finds the heap
     * parked (a heap expires only after a whole purge delay unused: a thread start on a loaded
     * machine could take that long, hence not all). Purged at exit, or unmapped, the block would
     * read zero. */
    CHECKF(handed >= (THREADS - 1) / 2, "only %zu of %d threads took over the heap of the thread before", handed,
           THREADS - 1);
    CHECKF(s2.reserved <= s1.reserved + 4 * MiB, "reserved grew from %zu to %zu KiB over %d threads",
           s1.reserved >> 10, s2.reserved >> 10, THREADS);
    CHECKF(s2.threads <= s0.threads + 1, "%zu thread heaps live after every thread was joined (%zu before)",
           s2.threads, s0.threads);
    /* hk_trim expires the parked heap: its empty segments are unmapped, its pages purged. */
    T_free(carry);
    carry = NULL;
    hkt_heapkit()->trim();
    hkt_stats(&s3);
    hkt_note("after hk_trim: %zu segments (%zu before the threads), committed %zu KiB, free pending %zu KiB",
             s3.segments, s0.segments, s3.committed >> 10, s3.free_pending >> 10);
    CHECKF(s3.committed <= s2.committed, "committed %zu KiB after hk_trim, %zu KiB before it", s3.committed >> 10,
           s2.committed >> 10);
    CHECKF(s3.free_pending == 0, "%zu bytes of free pages still pending after hk_trim", s3.free_pending);
    run_t after = run_one();
    T_free(carry);
    CHECKF(!after.stale, "a thread after hk_trim still got the parked heap's memory, not purged");
    return hkt_done();
}
