/* churn_threads.c — heavy multithreaded churn that ends with nothing allocated: four waves of
 * eight threads (joined) each make 8,000 allocations, free most themselves and hand every eighth
 * to a shared queue that other threads free (cross-thread frees); each thread also keeps a buffer
 * in thread-specific data, freed by the key's destructor when it exits, and a __thread one it
 * frees itself. Dead threads' stacks stay cached by glibc, with their TLS: nothing to report. */
#include <pthread.h>

#include "leak_util.h"

#define WAVES 4
#define THREADS 8
#define OPS 8000
#define WINDOW 64
#define QUEUE 4096

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_queue[QUEUE];
static size_t g_queued;
static pthread_key_t g_key;
static __thread char *t_buffer;

static void free_specific(void *p) { free(p); }

/* Pushes p for another thread to free; returns a block pushed by someone else, or NULL. */
static void *swap_through_queue(void *p) {
    void *other = NULL;
    pthread_mutex_lock(&g_lock);
    if (g_queued > 0 && (g_queued == QUEUE || ((uintptr_t)p >> 4) % 2 == 0)) other = g_queue[--g_queued];
    if (g_queued < QUEUE) {
        g_queue[g_queued++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    free(p);
    return other;
}

LK_FN void churn_worker(unsigned seed) {
    void *slots[WINDOW] = {0};
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
    t_buffer = malloc(100);
    LK_CHECK(t_buffer != NULL);
    LK_CHECK(pthread_setspecific(g_key, malloc(200)) == 0);
    for (int i = 0; i < OPS; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        size_t k = rng % WINDOW;
        if (slots[k] != NULL) {
            if (i % 8 == 0)
                free(swap_through_queue(slots[k]));
            else
                free(slots[k]);
        }
        slots[k] = malloc(1 + (rng >> 20) % 2048);
        LK_CHECK(slots[k] != NULL);
    }
    for (int k = 0; k < WINDOW; k++) free(slots[k]);
    free(t_buffer);
    t_buffer = NULL;
}

static void *worker_main(void *arg) {
    churn_worker((unsigned)(uintptr_t)arg);
    return NULL;
}

LK_FN void churn_waves(void) {
    LK_CHECK(pthread_key_create(&g_key, free_specific) == 0);
    for (int w = 0; w < WAVES; w++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            LK_CHECK(pthread_create(&t[i], NULL, worker_main, (void *)(uintptr_t)(w * THREADS + i + 1)) == 0);
        for (int i = 0; i < THREADS; i++) LK_CHECK(pthread_join(t[i], NULL) == 0);
    }
    while (g_queued > 0) free(g_queue[--g_queued]);
    pthread_key_delete(g_key);
}

int main(void) {
    churn_waves();
    lk_scrub_stack();
    return 0;
}
