/* invalid_global.c — free of a global array. */
#include <stdlib.h>
#include "check_util.h"

char global_buffer[64];

CK_FN static void release_global(void) { free(ck_launder(global_buffer)); }

int main(void) {
    release_global();
    return 0;
}
