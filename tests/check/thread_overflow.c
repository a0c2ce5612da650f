/* thread_overflow.c — a thread allocates a 56-byte block and writes 2 bytes past it; the main
 * thread frees it. */
#include <pthread.h>
#include <stdlib.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(56); }

CK_FN static void *worker(void *arg) {
    (void)arg;
    char *p = ck_launder(make_block());
    p[56] = 1;
    p[57] = 2;
    return p;
}

int main(void) {
    pthread_t t;
    void *p;
    if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, &p) != 0) return 2;
    free(p);
    return 0;
}
