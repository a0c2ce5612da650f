/* wrong_size.c — free_sized (C23) told 48 bytes for a block of 40. Found by name at run time:
 * the C library may not have it, heapkit does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(40); }

CK_FN static void release_sized(char *p, size_t n) {
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    if (fs != NULL) fs(p, n);
    else free(p);
}

int main(void) {
    char *p = ck_launder(make_block());
    release_sized(p, 48);
    return 0;
}
