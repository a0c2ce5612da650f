/* double_free.c — a 16-byte block freed twice, from two functions. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(16); }
CK_FN static void release(char *p) { free(p); }
CK_FN static void release_again(char *p) { free(p); }

int main(void) {
    char *p = ck_launder(make_block());
    release(p);
    release_again(ck_launder(p));
    return 0;
}
