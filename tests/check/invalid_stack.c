/* invalid_stack.c — free of a local variable's address. */
#include <stdlib.h>
#include "check_util.h"

CK_FN static void release_local(void) {
    char local[16] = "on the stack";
    free(ck_launder(local));
}

int main(void) {
    release_local();
    return 0;
}
