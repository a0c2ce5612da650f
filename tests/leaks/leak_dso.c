/* leak_dso.c — the shared object dlopen.c loads (built twice, as leak_dso_a.so and
 * leak_dso_b.so): it loses blocks of its own, and keeps one in its .bss, where it is still
 * reachable while the object is loaded and lost once it is unloaded. */
#include "leak_util.h"

void dso_leak(int n);
void dso_keep(void);

static void *dso_kept; /* .bss */

LK_FN void dso_leak(int n) {
    for (int i = 0; i < n; i++) {
        void *volatile p = lk_alloc(64);
        (void)p;
    }
}

LK_FN void dso_keep(void) { dso_kept = lk_alloc(512); }

/* keeps the compiler from dropping the store to dso_kept, a static never read otherwise */
void *dso_kept_block(void);
void *dso_kept_block(void) { return dso_kept; }
