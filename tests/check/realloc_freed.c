/* realloc_freed.c — realloc of a 32-byte block already freed. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(32); }
CK_FN static void release(char *p) { free(p); }
CK_FN static char *grow(char *p) { return realloc(p, 64); }

int main(void) {
    char *p = ck_launder(make_block());
    release(p);
    char *q = grow(ck_launder(p));
    return q != NULL && q == p; /* heapkit refuses it: NULL */
}
