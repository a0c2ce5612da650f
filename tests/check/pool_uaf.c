/* pool_uaf.c — an object of an hk_pool written after hk_pool_free. Under heap checking each pool
 * object is a checked block of its own, named by its pool. Linked with heapkit for the pool API. */
#include <heapkit.h>
#include "check_util.h"

CK_FN static char *take(hk_pool_t *pool) { return hk_pool_alloc(pool); }
CK_FN static void give_back(hk_pool_t *pool, char *o) { hk_pool_free(pool, o); }
CK_FN static void write_freed(char *o) { o[5] = 9; }

int main(void) {
    hk_pool_t *pool = hk_pool_create("widgets", 24, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    if (pool == NULL) return 2;
    char *o = ck_launder(take(pool));
    give_back(pool, o);
    write_freed(ck_launder(o));
    hk_pool_destroy(pool);
    return 0;
}
