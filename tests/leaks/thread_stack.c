/* thread_stack.c — pointers held only in the stacks of other threads that are still alive when
 * main returns: one thread blocked in pthread_cond_wait holds a block that holds another, one
 * blocked in pause() holds one, and one that lost a block of its own (definitely lost: its stack
 * was scrubbed) waits on the condition too. The pointers are in volatile locals, so they are in
 * the stack, not only in a register. */
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include "leak_util.h"

struct holder {
    void *inner;
    long payload[14];
}; /* 120 bytes */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_never = PTHREAD_COND_INITIALIZER;
static sem_t g_ready;

static void wait_forever(void) {
    pthread_mutex_lock(&g_lock);
    for (;;) pthread_cond_wait(&g_never, &g_lock);
}

LK_FN void hold_on_stack(void) {
    struct holder *volatile h = lk_alloc(sizeof *h);
    h->inner = lk_alloc(56);
    sem_post(&g_ready);
    wait_forever(); /* h stays in this frame */
}

LK_FN void hold_in_pause(void) {
    void *volatile p = lk_alloc(200);
    (void)p;
    sem_post(&g_ready);
    for (;;) pause();
}

LK_FN void lose_in_thread(void) {
    void *volatile p = lk_alloc(300);
    p = NULL;
    (void)p;
}

static void *holder_main(void *arg) {
    (void)arg;
    hold_on_stack();
    return NULL;
}

static void *pauser_main(void *arg) {
    (void)arg;
    hold_in_pause();
    return NULL;
}

static void *loser_main(void *arg) {
    (void)arg;
    lose_in_thread();
    lk_scrub_stack();
    sem_post(&g_ready);
    wait_forever();
    return NULL;
}

LK_FN void spawn_threads(void) {
    void *(*mains[3])(void *) = {holder_main, pauser_main, loser_main};
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        LK_CHECK(pthread_create(&t, NULL, mains[i], NULL) == 0);
    }
    for (int i = 0; i < 3; i++)
        while (sem_wait(&g_ready) != 0) {
        }
}

int main(void) {
    LK_CHECK(sem_init(&g_ready, 0, 0) == 0);
    spawn_threads();
    lk_scrub_stack();
    return 0; /* exit() with the three threads still blocked */
}
