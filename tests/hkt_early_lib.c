/* hkt_early_lib.c — a small shared library for std_early: preloaded after heapkit, its
 * constructor runs before heapkit's own initialiser and before main, and allocates, frees and
 * starts a thread there. It hands its surviving block to the test through hkt_early_block(). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *hkt_early_block(void);
int hkt_early_status(void);

static char *early_block;
static int early_status = -1;

static void *early_thread(void *arg) {
    char *p = malloc(3000);
    if (p) memset(p, 0x42, 3000);
    /* return a block that the constructor frees: a cross-thread free before main */
    return p ? p : arg;
}

__attribute__((constructor(101))) static void early_ctor(void) {
    int st = 0;
    for (int i = 0; i < 1000; i++) {
        void *p = malloc((size_t)i * 13 + 1);
        if (!p) st |= 1;
        else free(p);
    }
    early_block = calloc(1, 4096);
    if (!early_block) st |= 2;
    else {
        for (int i = 0; i < 4096; i++)
            if (early_block[i]) st |= 4;
        memcpy(early_block, "made before main", 17);
    }
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, early_thread, NULL) != 0 || pthread_join(t, &ret) != 0 || !ret) st |= 8;
    else {
        const unsigned char *r = ret;
        if (r[0] != 0x42 || r[2999] != 0x42) st |= 16;
        free(ret);
    }
    early_status = st;
}

char *hkt_early_block(void) {
    return early_block;
}

int hkt_early_status(void) {
    return early_status;
}
