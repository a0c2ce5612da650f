/* overflow_at_exit.c — 4 bytes written past a 100-byte block that is never freed: found at exit. */
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

char *volatile kept;

CK_FN static char *make_block(void) { return malloc(100); }
CK_FN static void write_past(char *p) { memcpy(p + 100, "abcd", 4); }

int main(void) {
    kept = make_block();
    write_past(kept);
    return 0;
}
