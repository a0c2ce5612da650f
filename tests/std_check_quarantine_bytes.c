/* std_check_quarantine_bytes.c — HEAPKIT_QUARANTINE_BYTES bounds the memory the quarantine holds
 * back: a freed block counts with its header and canaries (the allocator's whole block), not only
 * the bytes asked for. Under HEAPKIT_CHECK=1, HEAPKIT_QUARANTINE_BYTES=4096 and
 * HEAPKIT_QUARANTINE_COUNT=100 (too few for per-thread batches: each free enters at once): a block
 * of 8 bytes is freed and written after its free, then 60 more blocks of 8 bytes are freed. Each
 * holds 72 bytes or more (48 before the block, 16 canary bytes after it), so they pass 4096 bytes
 * and push the first one out, whose check reports the write; counted by the bytes asked for (488)
 * they would not, and the write would be found only at exit. */
#define _GNU_SOURCE
#include "hkt.h"

enum { SMALL = 8, MORE = 60 };

int main(void) {
    hkt_begin("std_check_quarantine_bytes", 300);
    hkt_check_running_on_heapkit();
    if (!hkt_env_is("HEAPKIT_QUARANTINE_BYTES", "4096") ||
        !hkt_env_is("HEAPKIT_QUARANTINE_COUNT", "100"))
        return hkt_done();
    static unsigned char *more[MORE];
    for (int i = 0; i < MORE; i++) REQUIRE((more[i] = hkt_launder(malloc(SMALL))) != NULL);
    unsigned char *p = hkt_launder(malloc(SMALL));
    REQUIRE(p);
    free(p);
    size_t before = hkt_heap_errors();
    p[3] ^= 0x5a; /* after its free: still the checker's, in quarantine */
    for (int i = 0; i < MORE; i++) free(more[i]);
    size_t found = hkt_heap_errors() - before;
    CHECKF(found == 1, "%d freed blocks of %d bytes after it: %zu errors found, 1 expected (the first block pushed "
           "out of a 4096-byte quarantine)", MORE, SMALL, found);
    return hkt_done();
}
