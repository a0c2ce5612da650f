/* quiet_thread_overflow.c — a thread that never allocates recurses into its stack guard page:
 * every checking mode reports the stack overflow in that thread, with its stack (heapkit gives
 * every thread, from its start, the alternate stack the fault handler needs); the program still
 * dies of SIGSEGV. */
#include <pthread.h>
#include "check_util.h"

CK_FN static void *worker(void *arg) { return (void *)(long)ck_descend(arg, 0); }

int main(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 2;
    pthread_join(t, NULL);
    return 0;
}
