/* tls.c — still reachable blocks whose only pointer is in thread-local storage: the main thread's
 * copy of a __thread variable (static TLS, set up by the dynamic loader), and the copy of a thread
 * that is still alive, blocked, when main returns (its static TLS sits above its stack). The live
 * thread's block heads a chain of two. A thread that has exited has no TLS any more, so no such
 * thread is used here. */
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include "leak_util.h"

struct link {
    struct link *next;
    long payload[8];
}; /* 72 bytes */

static __thread struct link *t_block;
static sem_t g_ready;

LK_FN void keep_in_main_tls(void) {
    t_block = lk_alloc(80);
}

LK_FN void keep_in_thread_tls(void) {
    t_block = lk_alloc(sizeof *t_block);
    t_block->next = lk_alloc(sizeof *t_block);
    t_block->next->next = NULL;
}

static void *thread_main(void *arg) {
    (void)arg;
    keep_in_thread_tls();
    lk_scrub_stack();
    sem_post(&g_ready);
    for (;;) pause(); /* alive until the process exits */
    return NULL;
}

LK_FN void spawn_holder(void) {
    pthread_t t;
    LK_CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
    while (sem_wait(&g_ready) != 0) {
    }
}

int main(void) {
    LK_CHECK(sem_init(&g_ready, 0, 0) == 0);
    keep_in_main_tls();
    spawn_holder();
    lk_scrub_stack();
    return 0;
}
