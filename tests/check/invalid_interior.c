/* invalid_interior.c — free of a pointer 8 bytes into a live 32-byte block. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(32); }
CK_FN static void release_middle(char *p) { free(ck_launder(p + 8)); }

int main(void) {
    char *p = ck_launder(make_block());
    release_middle(p);
    free(p);
    return 0;
}
