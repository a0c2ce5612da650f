/* uaf_write_live_thread.c — a thread frees a 48-byte block, writes into it 20 bytes in, and is
 * still running when the program exits: the freed block waits in that thread's own batch on its
 * way into the quarantine (check.c), so only the exit scan of blocks in quarantine state can find
 * the write (it was missed when the scan looked at live blocks alone). */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "check_util.h"

static int ready[2];

CK_FN static char *make_block(void) { return malloc(48); }
CK_FN static void release(char *p) { free(p); }
CK_FN static void write_freed(char *p) { p[20] = 'x'; }

CK_FN static void *worker(void *arg) {
    (void)arg;
    char *p = ck_launder(make_block());
    release(p);
    write_freed(ck_launder(p));
    if (write(ready[1], "", 1) != 1) abort();
    for (;;) pause(); /* alive at exit */
    return NULL;
}

int main(void) {
    pthread_t t;
    char c;
    if (pipe(ready) != 0 || pthread_create(&t, NULL, worker, NULL) != 0) return 2;
    if (read(ready[0], &c, 1) != 1) return 2;
    return 0;
}
