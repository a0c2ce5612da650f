/* cycle.c — lost cycles: blocks that point at each other with no pointer from outside. Valgrind
 * memcheck counts one block of each lost cycle as definitely lost (the "leader" of its clique)
 * and the others as indirectly lost; blocks of one cycle have one size, so which block leads does
 * not change the byte counts. A ring of 6, a pair, a block pointing at itself, a doubly linked
 * ring of 4, and a ring of 3 that a global still holds (reachable). */
#include "leak_util.h"

struct ring {
    struct ring *next;
    long payload[3];
}; /* 32 bytes */

struct pair {
    struct pair *other;
    long payload[5];
}; /* 48 bytes */

struct self {
    struct self *me;
    long payload[7];
}; /* 64 bytes */

struct dnode {
    struct dnode *next, *prev;
    long payload[3];
}; /* 40 bytes */

struct ring *g_kept_ring;

LK_FN struct ring *make_ring(int n) {
    struct ring *first = lk_alloc(sizeof *first), *last = first;
    for (int i = 1; i < n; i++) {
        struct ring *r = lk_alloc(sizeof *r);
        last->next = r;
        last = r;
    }
    last->next = first;
    return first;
}

LK_FN void lose_ring(void) {
    struct ring *volatile r = make_ring(6);
    r = NULL;
    (void)r;
}

LK_FN void lose_pair(void) {
    struct pair *a = lk_alloc(sizeof *a), *b = lk_alloc(sizeof *b);
    a->other = b;
    b->other = a;
}

LK_FN void lose_self(void) {
    struct self *s = lk_alloc(sizeof *s);
    s->me = s;
}

LK_FN void lose_doubly_ring(void) {
    struct dnode *n[4];
    for (int i = 0; i < 4; i++) n[i] = lk_alloc(sizeof *n[i]);
    for (int i = 0; i < 4; i++) {
        n[i]->next = n[(i + 1) % 4];
        n[i]->prev = n[(i + 3) % 4];
    }
}

LK_FN void keep_ring(void) {
    g_kept_ring = make_ring(3);
}

int main(void) {
    lose_ring();
    lose_pair();
    lose_self();
    lose_doubly_ring();
    keep_ring();
    lk_scrub_stack();
    return 0;
}
