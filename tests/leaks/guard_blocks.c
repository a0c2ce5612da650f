/* guard_blocks.c — lost blocks and what only they point to, made to be run in every heap-checking
 * mode too (leaks_guard: HEAPKIT_CHECK=guard, each block on pages of its own; leaks_sampled:
 * HEAPKIT_SAMPLE_GUARD=1, blocks on the sampled guard slots): such blocks are heap blocks for the
 * leak check, reported when lost, and their pages are no roots, so a lost one does not keep what
 * it points to reachable. A chain of three lost from its head (one definitely lost, two
 * indirectly), and a block a global keeps. */
#include "leak_util.h"

struct link {
    struct link *next;
    long payload[5];
}; /* 48 bytes */

struct link *g_kept;

LK_FN void lose_chain(void) {
    struct link *head = lk_alloc(sizeof *head), *mid = lk_alloc(sizeof *mid), *tail = lk_alloc(sizeof *tail);
    head->next = mid;
    mid->next = tail;
    tail->next = NULL;
}

LK_FN void keep_one(void) {
    g_kept = lk_alloc(sizeof *g_kept);
    g_kept->next = NULL;
}

int main(void) {
    lose_chain();
    keep_one();
    lk_scrub_stack();
    return 0;
}
