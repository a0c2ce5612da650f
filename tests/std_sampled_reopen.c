/* std_sampled_reopen.c — a sampled guard slot whose pages a reported fault opened is closed again
 * before it serves its next block. Under HEAPKIT_SAMPLE_GUARD=1 (every allocation takes a slot)
 * and HEAPKIT_ON_ERROR=continue: a read after free is reported and its slot's pages are opened so
 * the program goes on; the slots are then cycled until the same slot serves a block of the same
 * size again (the same address), and a read one byte past that block must fault and be reported
 * too. A slot served without closing what the report opened (serving takes one mprotect of the
 * block's pages only, unless the slot was opened) lets that read through unreported. */
#define _GNU_SOURCE
#include "hkt.h"

enum { SIZE = 64, SLOTS_MAX = 256 };

int main(void) {
    hkt_begin("std_sampled_reopen", 300);
    hkt_check_running_on_heapkit();
    if (!hkt_env_is("HEAPKIT_SAMPLE_GUARD", "1")) return hkt_done();
    volatile unsigned char *p = hkt_launder(malloc(SIZE));
    REQUIRE(p);
    p[0] = 1;
    free((void *)p);
    size_t before = hkt_heap_errors();
    volatile unsigned char *dangling = hkt_launder((void *)p);
    unsigned char v = dangling[0]; /* a read after free: reported, and the slot's pages opened */
    (void)v;
    CHECKF(hkt_heap_errors() == before + 1, "read after free: %zu errors, 1 expected", hkt_heap_errors() - before);

    /* The same slot again: slots are served in turn, skipping live ones, each block of SIZE at the
     * same place in its slot. The blocks served meanwhile stay live: a free closes its slot's
     * pages with the guard pages it shares with its neighbours, which would close this slot's too. */
    static unsigned char *held[SLOTS_MAX];
    size_t nheld = 0;
    volatile unsigned char *q = NULL;
    while (nheld < SLOTS_MAX && q == NULL) {
        unsigned char *b = hkt_launder(malloc(SIZE));
        REQUIRE(b);
        if (b == (const unsigned char *)p) q = b;
        else held[nheld++] = b;
    }
    REQUIRE(q != NULL);
    q[SIZE - 1] = 2; /* its own bytes: no error */
    before = hkt_heap_errors();
    v = q[SIZE]; /* one past its end: the guard page after the slot, closed again */
    (void)v;
    CHECKF(hkt_heap_errors() == before + 1, "overflow read in a reused slot: %zu errors, 1 expected",
           hkt_heap_errors() - before);
    free((void *)q);
    while (nheld > 0) free(held[--nheld]);
    return hkt_done();
}
