/* list.c — lost linked structures: when the head of a list is lost, the head is definitely lost
 * and every node it reaches is indirectly lost. Four cases: a list linked in address order, one
 * linked against address order (a checker that picks leaders in address order must demote the
 * leaders it picked too early), a list whose middle is still held by a global (the part before
 * it is lost, the rest reachable), and a binary tree. */
#include "leak_util.h"

struct node {
    struct node *next;
    long payload[3];
}; /* 32 bytes */

struct tree {
    struct tree *left, *right;
    long value;
}; /* 24 bytes */

struct node *g_list_middle;

LK_FN struct node *new_node(void) {
    struct node *n = lk_alloc(sizeof *n);
    n->next = NULL;
    return n;
}

LK_FN void lose_list_ascending(void) {
    struct node *volatile head = NULL;
    struct node *tail = NULL;
    for (int i = 0; i < 10; i++) {
        struct node *n = new_node();
        if (tail) tail->next = n; else head = n;
        tail = n;
    }
    head = NULL;
    (void)head;
}

static int by_address_descending(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

LK_FN void lose_list_descending(void) {
    struct node *nodes[10];
    for (int i = 0; i < 10; i++) nodes[i] = new_node();
    qsort(nodes, 10, sizeof nodes[0], by_address_descending);
    for (int i = 0; i + 1 < 10; i++) nodes[i]->next = nodes[i + 1];
    /* the head has the highest address, the tail the lowest */
    LK_CHECK((uintptr_t)nodes[0] > (uintptr_t)nodes[9]);
    memset(nodes, 0, sizeof nodes);
    __asm__ volatile("" ::"r"(nodes) : "memory");
}

LK_FN void keep_list_middle(void) {
    struct node *a = new_node(), *b = new_node(), *c = new_node(), *d = new_node(), *e = new_node();
    a->next = b;
    b->next = c;
    c->next = d;
    d->next = e;
    g_list_middle = c; /* a: definite, b: indirect, c d e: reachable */
}

LK_FN struct tree *new_tree(int depth) {
    struct tree *t = lk_alloc(sizeof *t);
    t->value = depth;
    t->left = depth > 1 ? new_tree(depth - 1) : NULL;
    t->right = depth > 1 ? new_tree(depth - 1) : NULL;
    return t;
}

LK_FN void lose_tree(void) {
    struct tree *volatile root = new_tree(3); /* 7 nodes */
    root = NULL;
    (void)root;
}

int main(void) {
    lose_list_ascending();
    lose_list_descending();
    keep_list_middle();
    lose_tree();
    lk_scrub_stack();
    return 0;
}
