/* globals.c — still reachable blocks held by the program's own data: a .bss pointer, an
 * initialised .data pointer, a function-local static, a static array, a pointer member at an
 * offset inside a global struct, and a chain of three blocks hanging from a global (the two
 * inner ones are reachable through heap memory). Nothing is lost. */
#include "leak_util.h"

void *g_bss_ptr;
static int g_dummy;
void *g_data_ptr = &g_dummy;
/* volatile: the compiler may not drop stores to a static that is never read */
static void *volatile g_table[8];
static struct {
    long header[5];
    void *volatile block;
    long trailer;
} g_struct = {{1, 2, 3, 4, 5}, NULL, 6};

struct link {
    struct link *next;
    long payload[2];
}; /* 24 bytes */

struct link *g_chain;

LK_FN void keep_in_bss(void) { g_bss_ptr = lk_alloc(48); }

LK_FN void keep_in_data(void) { g_data_ptr = lk_alloc(56); }

LK_FN void *keep_in_function_static(void) {
    static void *cache;
    if (cache == NULL) cache = lk_alloc(72);
    return cache;
}

LK_FN void keep_in_static_array(void) {
    for (int i = 0; i < 8; i++) g_table[i] = lk_alloc(16);
}

LK_FN void keep_in_struct_member(void) { g_struct.block = lk_alloc(88); }

LK_FN void keep_chain(void) {
    struct link *a = lk_alloc(sizeof *a), *b = lk_alloc(sizeof *b), *c = lk_alloc(sizeof *c);
    a->next = b;
    b->next = c;
    c->next = NULL;
    g_chain = a;
}

int main(void) {
    keep_in_bss();
    keep_in_data();
    keep_in_function_static();
    keep_in_static_array();
    keep_in_struct_member();
    keep_chain();
    lk_scrub_stack();
    return 0;
}
