/* uaf_write.c — a 48-byte block freed, then written 20 bytes in. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return calloc(1, 48); }
CK_FN static void release(char *p) { free(p); }
CK_FN static void write_freed(char *p) { p[20] = 'x'; }

int main(void) {
    char *p = ck_launder(make_block());
    release(p);
    write_freed(ck_launder(p));
    return 0;
}
