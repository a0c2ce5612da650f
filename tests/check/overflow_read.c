/* overflow_read.c — one byte read just past a 32-byte block (seen only with guard pages). */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(32); }
CK_FN static int read_past(const char *p) { return *(volatile const char *)(p + 32); }

int main(void) {
    char *p = ck_launder(make_block());
    int c = read_past(p);
    free(p);
    return c == 1000; /* never: keeps the read */
}
