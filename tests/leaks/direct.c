/* direct.c — definitely lost blocks: the only pointer to each was overwritten or went out of
 * scope. A global is assigned four times (three blocks lost, the last one still reachable), a
 * local twice, and five zero-byte blocks are dropped (they count, with 0 bytes). */
#include "leak_util.h"

char *g_last;

LK_FN void overwrite_global(void) {
    for (int i = 0; i < 4; i++) g_last = lk_alloc(40);
}

LK_FN void drop_local(void) {
    void *volatile p = lk_alloc(100);
    p = lk_alloc(200);
    p = NULL;
    (void)p;
}

LK_FN void drop_zero_sized(void) {
    for (int i = 0; i < 5; i++) {
        void *volatile p = malloc(0);
        LK_CHECK(p != NULL);
    }
}

int main(void) {
    overwrite_global();
    drop_local();
    drop_zero_sized();
    lk_scrub_stack();
    return 0;
}
