/* gap_read.c — one byte read just past a 20-byte block. Guard mode keeps malloc's 16-byte
 * alignment, so the block ends 12 bytes before its guard page: a read there is not seen (a write
 * would be, at the free); the read 12 bytes further faults. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(20); }
CK_FN static int read_at(const char *p, size_t i) { return *(volatile const char *)(p + i); }

int main(void) {
    char *p = ck_launder(make_block());
    int c = read_at(p, 20) + read_at(p, 32);
    free(p);
    return c == 1000;
}
