/* clean.c — every allocation call used right: no mode may report anything. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "check_util.h"

int main(void) {
    char *keep[256];
    for (int i = 0; i < 256; i++) {
        keep[i] = malloc((size_t)i + 1);
        memset(keep[i], 'a', (size_t)i + 1);
    }
    for (int i = 0; i < 256; i += 2) {
        keep[i] = realloc(keep[i], (size_t)i * 3 + 1);
        memset(keep[i], 'b', (size_t)i * 3 + 1);
    }
    char *z = calloc(100, 10);
    for (int i = 0; i < 1000; i++)
        if (z[i] != 0) return 1;
    void *a = aligned_alloc(64, 200), *m = memalign(4096, 100), *pm;
    if (((uintptr_t)a & 63) || ((uintptr_t)m & 4095) || posix_memalign(&pm, 256, 1000) != 0 || ((uintptr_t)pm & 255))
        return 1;
    memset(a, 1, 200);
    memset(m, 1, 100);
    memset(pm, 1, 1000);
    size_t u = malloc_usable_size(keep[5]);
    memset(keep[5], 'c', u);
    char *big = malloc(1 << 20);
    memset(big, 1, 1 << 20);
    big = realloc(big, 3 << 20);
    memset(big, 2, 3 << 20);
    free(big);
    free(a);
    free(m);
    free(pm);
    free(z);
    for (int i = 0; i < 256; i++) free(keep[i]);
    free(NULL);
    return 0;
}
