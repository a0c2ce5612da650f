/* state.c — the one process state and the free-list key: data only, so that every file may name
 * them without calling anything. What the fields mean is in base.h; who takes which lock when is
 * the lock table there. */
#include "base.h"

hk_internal hk_state_t hk_state = {
    .heaps_lock = PTHREAD_MUTEX_INITIALIZER,
    .segments_lock = PTHREAD_MUTEX_INITIALIZER,
    .huge_lock = PTHREAD_MUTEX_INITIALIZER,
    .purger_lock = PTHREAD_MUTEX_INITIALIZER,
    .purger_wake = PTHREAD_COND_INITIALIZER,
};

hk_internal uintptr_t hk_key;

hk_internal __thread bool hk_own_work __attribute__((tls_model("initial-exec")));
