/* uaf_read.c — a 64-byte block freed, then read 8 bytes in (seen only with guard pages). */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(64); }
CK_FN static void release(char *p) { free(p); }
CK_FN static int read_freed(const char *p) { return *(volatile const char *)(p + 8); }

int main(void) {
    char *p = ck_launder(make_block());
    p[8] = 1;
    release(p);
    return read_freed(ck_launder(p)) == 1000;
}
