/* calloc_realloc.c — calloc and realloc leaks; a block's size is the last size asked for and its
 * stack the last call that sized it (all calls of one chain are in one function). calloc(10, 12);
 * malloc(16) grown by realloc to 1000 then 5000; malloc(4000) shrunk to 10; realloc(NULL, 77);
 * reallocarray(NULL, 7, 9); a small block grown to 2 MiB (past the size classes); and a global
 * grown from 8 to 300 bytes, still reachable. */
#define _GNU_SOURCE
#include "leak_util.h"

void *g_grown;

LK_FN void lose_calloc(void) {
    char *volatile p = calloc(10, 12);
    LK_CHECK(p != NULL && p[119] == 0);
    p = NULL;
    (void)p;
}

LK_FN void lose_realloc_grow(void) {
    char *p = lk_alloc(16);
    p = realloc(p, 1000);
    LK_CHECK(p != NULL);
    p = realloc(p, 5000);
    LK_CHECK(p != NULL);
    memset(p, 0xA5, 5000);
    __asm__ volatile("" ::"r"(p) : "memory");
}

LK_FN void lose_realloc_shrink(void) {
    char *p = lk_alloc(4000);
    p = realloc(p, 10);
    LK_CHECK(p != NULL);
    __asm__ volatile("" ::"r"(p) : "memory");
}

LK_FN void lose_realloc_null(void) {
    char *p = realloc(NULL, 77);
    LK_CHECK(p != NULL);
    memset(p, 0xA5, 77);
}

LK_FN void lose_reallocarray(void) {
    char *p = reallocarray(NULL, 7, 9);
    LK_CHECK(p != NULL);
    memset(p, 0xA5, 63);
}

LK_FN void lose_realloc_huge(void) {
    char *p = lk_alloc(100);
    p = realloc(p, 2 * 1024 * 1024);
    LK_CHECK(p != NULL);
    memset(p, 0xA5, 2 * 1024 * 1024);
}

LK_FN void keep_realloc(void) {
    g_grown = lk_alloc(8);
    g_grown = realloc(g_grown, 300);
    LK_CHECK(g_grown != NULL);
    memset(g_grown, 0xA5, 300);
}

int main(void) {
    lose_calloc();
    lose_realloc_grow();
    lose_realloc_shrink();
    lose_realloc_null();
    lose_reallocarray();
    lose_realloc_huge();
    keep_realloc();
    lk_scrub_stack();
    return 0;
}
