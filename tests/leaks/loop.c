/* loop.c — many blocks lost from one call site: a loop drops 1000 blocks of 24 bytes (one
 * group, one stack), another drops 100 blocks of ten different sizes (8..80 bytes, ten each),
 * still one group because the group is the stack, not the size. */
#include "leak_util.h"

LK_FN void leak_in_loop(int n) {
    for (int i = 0; i < n; i++) {
        void *volatile p = lk_alloc(24);
        (void)p;
    }
}

LK_FN void leak_sizes(void) {
    for (int i = 0; i < 100; i++) {
        void *volatile p = lk_alloc(8 + (size_t)(i % 10) * 8);
        (void)p;
    }
}

int main(void) {
    leak_in_loop(1000);
    leak_sizes();
    lk_scrub_stack();
    return 0;
}
