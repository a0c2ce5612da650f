/* detached.c — leaks in detached threads that have exited by the time main returns: each of four
 * threads loses three 50-byte blocks and keeps one 70-byte block in a global array. main waits
 * until the kernel has reaped every thread (its /proc/self/task entry is gone), so no thread is
 * alive at exit and what a dead thread's cached stack still holds counts for nothing. */
#include <pthread.h>
#include <semaphore.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "leak_util.h"

#define THREADS 4

static void *volatile g_kept[THREADS];
static pid_t g_tids[THREADS];
static sem_t g_done;

LK_FN void leak_in_detached(int index) {
    for (int i = 0; i < 3; i++) {
        void *volatile p = lk_alloc(50);
        (void)p;
    }
    g_kept[index] = lk_alloc(70);
}

static void *detached_main(void *arg) {
    int index = (int)(intptr_t)arg;
    g_tids[index] = (pid_t)syscall(SYS_gettid);
    leak_in_detached(index);
    lk_scrub_stack();
    sem_post(&g_done);
    return NULL;
}

LK_FN void run_detached(void) {
    pthread_attr_t attr;
    LK_CHECK(pthread_attr_init(&attr) == 0);
    LK_CHECK(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_t t;
        LK_CHECK(pthread_create(&t, &attr, detached_main, (void *)(intptr_t)i) == 0);
    }
    pthread_attr_destroy(&attr);
    for (int i = 0; i < THREADS; i++)
        while (sem_wait(&g_done) != 0) {
        }
    /* sem_post is not the end of a thread: wait for the kernel to be done with each */
    for (int i = 0; i < THREADS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d", (int)g_tids[i]);
        struct stat st;
        for (int tries = 0; stat(path, &st) == 0; tries++) {
            LK_CHECK(tries < 10000);
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    }
}

int main(void) {
    LK_CHECK(sem_init(&g_done, 0, 0) == 0);
    run_detached();
    lk_scrub_stack();
    return 0;
}
