/* prodcons.c — producer/consumer cross-thread frees (xmalloc-test style): producers
 * malloc blocks and pass them in batches through a bounded queue; consumers read and free them.
 * Usage: prodcons [items=10000000] [producers=2] [consumers=2]   Models: pipelines, message passing. */
#include "bench.h"
#include <pthread.h>

enum { BATCH = 64, QUEUE = 32 };

typedef struct { int n; uint64_t *item[BATCH]; } batch_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
  batch_t *ring[QUEUE];
  unsigned head, tail; /* head - tail = batches queued */
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0 };

static long per_producer;

static void push(batch_t *b) {
  pthread_mutex_lock(&q.lock);
  while (q.head - q.tail == QUEUE) pthread_cond_wait(&q.not_full, &q.lock);
  q.ring[q.head++ % QUEUE] = b;
  pthread_cond_signal(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
}

static batch_t *pop(void) {
  pthread_mutex_lock(&q.lock);
  while (q.head == q.tail) pthread_cond_wait(&q.not_empty, &q.lock);
  batch_t *b = q.ring[q.tail++ % QUEUE];
  pthread_cond_signal(&q.not_full);
  pthread_mutex_unlock(&q.lock);
  return b;
}

static void *producer(void *arg) {
  rng_t r = rng_seed((uint64_t)(uintptr_t)arg);
  batch_t *b = NULL;
  for (long i = 0; i < per_producer; i++) {
    if (b == NULL) {
      b = xmalloc(sizeof *b);
      b->n = 0;
    }
    size_t size = rng_skewed(&r, 16, 512);
    uint64_t *p = xmalloc(size);
    p[0] = rng_next(&r) >> 8;
    p[1] = size;
    p[size / 8 - 1] = size; /* touch the far end too */
    b->item[b->n++] = p;
    if (b->n == BATCH) {
      push(b);
      b = NULL;
    }
  }
  if (b != NULL) push(b);
  return NULL;
}

static void *consumer(void *arg) {
  uint64_t *sum = arg;
  for (batch_t *b; (b = pop()) != NULL; free(b)) {
    for (int i = 0; i < b->n; i++) {
      uint64_t *p = b->item[i];
      *sum += p[0] ^ p[1];
      free(p);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  long items = arg_long(argc, argv, 1, 10000000);
  long np = arg_long(argc, argv, 2, 2), nc = arg_long(argc, argv, 3, 2);
  per_producer = items / np;
  pthread_t *tp = xmalloc((size_t)np * sizeof *tp), *tc = xmalloc((size_t)nc * sizeof *tc);
  uint64_t *sums = calloc((size_t)nc, 8 * sizeof *sums); /* a cache line each */
  if (sums == NULL) return 1;

  for (long i = 0; i < nc; i++) pthread_create(&tc[i], NULL, consumer, &sums[8 * i]);
  for (long i = 0; i < np; i++) pthread_create(&tp[i], NULL, producer, (void *)(uintptr_t)(i + 1));
  for (long i = 0; i < np; i++) pthread_join(tp[i], NULL);
  for (long i = 0; i < nc; i++) push(NULL); /* one end marker per consumer */
  uint64_t sum = 0;
  for (long i = 0; i < nc; i++) {
    pthread_join(tc[i], NULL);
    sum += sums[8 * i];
  }
  free(tp);
  free(tc);
  free(sums);
  print_checksum(sum);
  return 0;
}
