/* thread_stack_overflow.c — a thread's unbounded recursion runs into its stack guard page: every
 * checking mode reports a stack overflow in that thread, with its stack; the program still dies of
 * SIGSEGV. The thread allocates first, which is when heap checking gives it the alternate stack
 * its fault handler needs. */
#include <pthread.h>
#include <stdlib.h>
#include "check_util.h"

CK_FN static void *worker(void *arg) {
    free(ck_launder(malloc(100)));
    return (void *)(long)ck_descend(arg, 0);
}

int main(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 2;
    pthread_join(t, NULL);
    return 0;
}
