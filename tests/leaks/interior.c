/* interior.c — possibly lost blocks: the only pointers to them point into their middle. A global
 * points 100 bytes into a block; a block reached only through an interior pointer holds the start
 * of another, which is then possibly lost too (memcheck: reached from a possibly lost block); a
 * reachable heap block holds an interior pointer to a third. A block with both a start pointer
 * and an interior pointer is reachable. A pointer past the end of the 100 bytes asked for (but
 * inside the block as the allocator rounded it) points to nothing: that block is definitely lost.
 * Offsets avoid memcheck's heuristics (8, 16 and 24 bytes in, the std::string/new[] shapes). */
#include "leak_util.h"

char *g_mid;        /* 100 bytes into a 256-byte block */
char *g_mid_chain;  /* 40 bytes into a 128-byte block that holds the start of a 64-byte one */
void *g_both_start; /* a 32-byte block: start ... */
char *g_both_mid;   /* ... and middle */
void **g_holder;    /* a reachable 32-byte block holding an interior pointer to a 96-byte one */
char *g_past_end;   /* 104 bytes into a 100-byte block */

LK_FN void keep_interior(void) { g_mid = (char *)lk_alloc(256) + 100; }

LK_FN void keep_interior_chain(void) {
    void **p = lk_alloc(128);
    p[0] = lk_alloc(64);
    g_mid_chain = (char *)p + 40;
}

LK_FN void keep_both(void) {
    g_both_start = lk_alloc(32);
    g_both_mid = (char *)g_both_start + 20;
}

LK_FN void keep_interior_from_heap(void) {
    g_holder = lk_alloc(32);
    g_holder[0] = (char *)lk_alloc(96) + 50;
}

LK_FN void keep_past_end(void) { g_past_end = (char *)lk_alloc(100) + 104; }

int main(void) {
    keep_interior();
    keep_interior_chain();
    keep_both();
    keep_interior_from_heap();
    keep_past_end();
    lk_scrub_stack();
    return 0;
}
