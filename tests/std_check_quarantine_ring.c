/* std_check_quarantine_ring.c — heap checking's quarantine ring grows as blocks wait in it, up to
 * HEAPKIT_QUARANTINE_COUNT, keeping their order, and its memory is that of the blocks it held, not
 * of the count allowed. Two runs (tests/CMakeLists.txt), HEAPKIT_QUARANTINE_BYTES=1M in both:
 * - COUNT=20000: big blocks first, so the byte bound pushes some out and the ring's head moves;
 *   then small ones, which the ring (4,096 slots at first) holds ~13,000 of, growing around its
 *   moved head. A block freed and damaged then must leave, reported, after that many more frees,
 *   not before (a growth that lost the order, or a block, is found here).
 * - COUNT=16777216: two million frees of small blocks; a ring of the whole count walked 24 MiB of
 *   slots (12 bytes each), where the blocks held need ~13,000. */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/resource.h>

enum { SMALL = 8, BIG = 16384 };

/* Free `n` fresh blocks of `size` bytes, each freed as soon as it is made. */
static void free_fresh(int n, size_t size) {
    for (int i = 0; i < n; i++) {
        unsigned char *q = hkt_launder(malloc(size));
        REQUIRE(q != NULL);
        free(q);
    }
}

static long max_rss_kib(void) {
    struct rusage ru;
    REQUIRE(getrusage(RUSAGE_SELF, &ru) == 0);
    return ru.ru_maxrss;
}

int main(void) {
    hkt_begin("std_check_quarantine_ring", 300);
    hkt_check_running_on_heapkit();
    const char *count = getenv("HEAPKIT_QUARANTINE_COUNT");
    if (!hkt_env_is("HEAPKIT_QUARANTINE_BYTES", "1M")) return hkt_done();
    if (count != NULL && strcmp(count, "16777216") == 0) {
        free_fresh(20000, SMALL); /* the quarantine full by bytes: its pages are in */
        long before = max_rss_kib();
        free_fresh(2000000, SMALL);
        long grown = max_rss_kib() - before;
        CHECKF(grown < 8 * 1024, "2,000,000 frees with 1 MiB of quarantine grew the peak RSS by %ld KiB "
               "(the ring walked slots for the count allowed, not the blocks held)", grown);
        return hkt_done();
    }
    if (!hkt_env_is("HEAPKIT_QUARANTINE_COUNT", "20000")) return hkt_done();
    free_fresh(200, BIG); /* ~60 fit in 1 MiB: the others pushed out, the head moved */
    free_fresh(20000, SMALL); /* ~13,000 fit: the ring grew twice around the moved head */
    unsigned char *p = hkt_launder(malloc(SMALL));
    REQUIRE(p != NULL);
    free(p);
    size_t before = hkt_heap_errors();
    p[5] ^= 0x3c; /* after its free: still the checker's, in quarantine */
    free_fresh(11000, SMALL);
    size_t early = hkt_heap_errors() - before;
    CHECKF(early == 0, "11,000 frees after the damaged block: %zu errors found, 0 expected (1 MiB holds more)", early);
    free_fresh(5000, SMALL);
    size_t found = hkt_heap_errors() - before;
    CHECKF(found == 1, "16,000 frees after the damaged block: %zu errors found, 1 expected (1 MiB holds fewer)",
           found);
    return hkt_done();
}
