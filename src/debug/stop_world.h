/* stop_world.h — pausing the other threads of the process (stop_world.c), for the leak scan. */
#ifndef HK_STOP_WORLD_H
#define HK_STOP_WORLD_H

#include "base.h"

typedef struct hk_stopped_thread_s {
    uintptr_t sp; /* its stack pointer while stopped: the live part of its stack starts here */
    uintptr_t tp; /* its thread pointer (the TLS base) */
    bool own;     /* one of the library's own threads (hk_own_thread_start) */
    _Atomic bool ready;
} hk_stopped_thread_t;

/* Stop every other thread; *threads gets the stopped ones (the return value counts them),
 * *not_stopped those that did not answer within a second. */
hk_internal size_t hk_stop_world(hk_stopped_thread_t **threads, size_t *not_stopped);
/* Let the `stopped` threads go on. */
hk_internal void hk_start_world(size_t stopped);

#endif
