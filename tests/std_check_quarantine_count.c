/* std_check_quarantine_count.c — a quarantine full by its count pushes its oldest block out and
 * takes that block's bytes off its byte count too. Under HEAPKIT_CHECK=1, HEAPKIT_QUARANTINE_COUNT=100
 * (too few for per-thread batches: each free enters at once) and HEAPKIT_QUARANTINE_BYTES=20000
 * (100 freed blocks of 8 bytes hold 10,000 bytes at most): after 400 frees, a block freed and
 * written after its free must stay in quarantine through the next 99 frees, and be pushed out,
 * its write reported, by the 100th. When blocks pushed out by the count kept their bytes on the
 * count, the count passed 20,000 and the quarantine held 99 blocks, not 100. */
#define _GNU_SOURCE
#include "hkt.h"

enum { SMALL = 8, CAP = 100, BEFORE = 400 };

/* Free `n` fresh blocks of SMALL bytes, each freed as soon as it is made. */
static void free_fresh(int n) {
    for (int i = 0; i < n; i++) {
        unsigned char *q = hkt_launder(malloc(SMALL));
        REQUIRE(q != NULL);
        free(q);
    }
}

int main(void) {
    hkt_begin("std_check_quarantine_count", 300);
    hkt_check_running_on_heapkit();
    if (!hkt_env_is("HEAPKIT_QUARANTINE_BYTES", "20000") ||
        !hkt_env_is("HEAPKIT_QUARANTINE_COUNT", "100"))
        return hkt_done();
    free_fresh(BEFORE); /* the quarantine full by count, 300 blocks pushed out by it */
    unsigned char *p = hkt_launder(malloc(SMALL));
    REQUIRE(p != NULL);
    free(p);
    size_t before = hkt_heap_errors();
    p[5] ^= 0x3c; /* after its free: still the checker's, in quarantine */
    free_fresh(CAP - 1);
    size_t early = hkt_heap_errors() - before;
    CHECKF(early == 0, "%d frees after the damaged block: %zu errors found, 0 expected (it is one of the %d "
           "newest blocks, still in quarantine)", CAP - 1, early, CAP);
    free_fresh(1);
    size_t found = hkt_heap_errors() - before;
    CHECKF(found == 1, "%d frees after the damaged block: %zu errors found, 1 expected (pushed out by the count)", CAP,
           found);
    return hkt_done();
}
