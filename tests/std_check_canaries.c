/* std_check_canaries.c — heap checking's canary and pattern checks, byte by byte: under
 * HEAPKIT_CHECK=1, a single byte changed anywhere in a block's left canary, in the first 16 bytes of
 * its right canary (every block has at least that many) or, after it is freed, anywhere in its
 * bytes or those canaries, is found exactly once, for every size from 1 to 80 (every alignment of the block's end in
 * an 8-byte word, zones shorter and longer than a word); a block used only within its bounds is
 * never reported. The checks read the zones a word at a time (check.c), so this holds their ends. */
#define _GNU_SOURCE
#include "hkt.h"

enum { MAX_SIZE = 80, RIGHT = 16, LEFT = 8 };

/* Change one byte at `off` from the block's start, free it: one error, or none when off is inside. */
static void poke_and_free(size_t size, long off) {
    unsigned char *p = hkt_launder(malloc(size));
    REQUIRE(p);
    memset(p, 0x11, size);
    size_t before = hkt_heap_errors();
    p[off] ^= 0x5a;
    free(p);
    size_t found = hkt_heap_errors() - before;
    bool inside = off >= 0 && (size_t)off < size;
    CHECKF(found == (inside ? 0u : 1u), "size %zu, byte %ld: %zu errors found, %u expected", size, off, found,
           inside ? 0u : 1u);
}

/* Write byte `off` of a freed block in quarantine (its bytes, or, off < 0 or off >= size, its
 * canaries, which a block leaving the quarantine has checked in the same pass as its pattern);
 * the next two frees push it out (the quarantine holds one block here): exactly one error. */
static void write_after_free(size_t size, long off) {
    unsigned char *p = hkt_launder(malloc(size));
    REQUIRE(p);
    free(p);
    size_t before = hkt_heap_errors();
    p[off] ^= 0x5a; /* still the checker's: the quarantine holds it */
    free(hkt_launder(malloc(8)));
    free(hkt_launder(malloc(8)));
    size_t found = hkt_heap_errors() - before;
    CHECKF(found == 1, "size %zu, byte %ld written after free: %zu errors found, 1 expected", size, off, found);
}

int main(void) {
    hkt_begin("std_check_canaries", 300);
    hkt_check_running_on_heapkit();
    if (!hkt_env_is("HEAPKIT_CHECK", "1")) return hkt_done();
    for (size_t size = 1; size <= MAX_SIZE; size++) {
        for (long off = -LEFT; off < (long)(size + RIGHT); off++) poke_and_free(size, off);
        for (long off = -LEFT; off < (long)(size + RIGHT); off++) write_after_free(size, off);
    }
    return hkt_done();
}
