/* quiet_thread_overflow.c — a thread that never allocates recurses into its stack guard page:
 * every checking mode reports the stack overflow in that thread, with its stack (heapkit gives
 * every thread, from its start, the alternate stack the fault handler needs); the program still
 * dies of SIGSEGV. */
#include <pthread.h>
#include "check_util.h"

CK_FN static int descend(volatile char *prev, int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[511] = prev != NULL ? prev[0] : 0;
    if (depth == -1) return 0; /* never: the recursion has no end the compiler can see */
    return descend(frame, depth + 1) + frame[1];
}

CK_FN static void *worker(void *arg) { return (void *)(long)descend(arg, 0); }

int main(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 2;
    pthread_join(t, NULL);
    return 0;
}
