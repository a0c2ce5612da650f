/* underflow_write.c — the byte just before a 40-byte block written, then the block freed. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(40); }
CK_FN static void write_before(char *p) { p[-1] = 'x'; }

int main(void) {
    char *p = ck_launder(make_block());
    write_before(p);
    free(p);
    return 0;
}
