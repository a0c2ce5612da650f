/* overflow_write.c — one byte written just past a 32-byte block, which is then freed. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(32); }
CK_FN static void write_past(char *p) { p[32] = 'x'; }
CK_FN static void release(char *p) { free(p); }

int main(void) {
    char *p = ck_launder(make_block());
    write_past(p);
    release(p);
    return 0;
}
