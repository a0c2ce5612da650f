/* heuristics.c — blocks held only by interior pointers of the shapes memcheck's leak heuristics
 * (all on by default) call still reachable, laid out in C as C++ programs make them: an old
 * libstdc++ std::string (length, capacity, refcount, then the characters; the pointer is to the
 * characters), a length-prefixed buffer (a 64-bit length, the pointer past it), a new[] array of
 * objects with destructors (the element count, the pointer past it), and an object with two
 * bases (a vtable pointer at its start and one at the second base, which the pointer holds). A
 * pointer into the middle of a block of none of these shapes stays possibly lost. */
#include "leak_util.h"

typedef void (*vfn_t)(void);
LK_FN static void method_a(void) {}
LK_FN static void method_b(void) {}
static const vfn_t vtable_first[2] = {method_a, method_b};
static const vfn_t vtable_second[2] = {method_b, method_a};

char *volatile g_string;   /* 24 bytes into a string rep */
char *volatile g_length64; /* 8 bytes into a length-prefixed buffer */
char *volatile g_newarray; /* 8 bytes into a new[] array's block */
char *volatile g_second;   /* 16 bytes into an object with two bases */
char *volatile g_plain;    /* 40 bytes into a block of none of these shapes */

LK_FN void keep_string(void) {
    size_t capacity = 15, length = 11;
    size_t *rep = lk_alloc(3 * sizeof(size_t) + capacity + 1);
    rep[0] = length;
    rep[1] = capacity;
    rep[2] = 0;
    memcpy(rep + 3, "hello world", length + 1);
    g_string = (char *)(rep + 3);
}

LK_FN void keep_length64(void) {
    uint64_t *buf = lk_alloc(8 + 37);
    buf[0] = 37;
    g_length64 = (char *)(buf + 1);
}

LK_FN void keep_newarray(void) {
    size_t *block = lk_alloc(sizeof(size_t) + 5 * 24);
    block[0] = 5;
    g_newarray = (char *)(block + 1);
}

LK_FN void keep_second_base(void) {
    const vfn_t **object = lk_alloc(48);
    object[0] = vtable_first;
    object[1] = NULL;
    object[2] = vtable_second;
    g_second = (char *)(object + 2);
}

LK_FN void keep_plain_middle(void) { g_plain = (char *)lk_alloc(96) + 40; }

int main(void) {
    keep_string();
    keep_length64();
    keep_newarray();
    keep_second_base();
    keep_plain_middle();
    lk_scrub_stack();
    return 0;
}
