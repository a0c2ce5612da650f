/* larson.c — a larson-style server simulation: each thread works on a set of slots, replacing
 * random blocks; after every round the sets rotate between threads, so blocks are freed by a
 * thread other than the one that allocated them.  Usage: larson [rounds=400] [ops=50000] [threads=2] [slots=2000] */
#include "bench.h"
#include <pthread.h>

typedef struct {
  rng_t rng;
  uint64_t sum;
  uint32_t **block; /* block[k][0] holds the block's size in bytes */
  char pad[64];     /* sets are worked on by different threads: no false sharing */
} set_t;

static long rounds, ops, nthreads, nslots;
static set_t *sets;
static pthread_barrier_t barrier;

static void work(set_t *s) {
  for (long i = 0; i < ops; i++) {
    size_t k = (size_t)(rng_next(&s->rng) % (uint64_t)nslots);
    uint32_t *b = s->block[k];
    if (b != NULL) {
      s->sum += b[0] + b[b[0] / 4 - 1];
      free(b);
    }
    uint32_t size = (uint32_t)rng_skewed(&s->rng, 8, 512) & ~3u;
    b = xmalloc(size);
    b[0] = size;
    b[size / 4 - 1] = (uint32_t)i;
    s->block[k] = b;
  }
}

static void *thread_main(void *arg) {
  long t = (long)(intptr_t)arg;
  for (long r = 0; r < rounds; r++) {
    work(&sets[(t + r) % nthreads]);
    pthread_barrier_wait(&barrier); /* then hand the sets on */
  }
  return NULL;
}

int main(int argc, char **argv) {
  rounds = arg_long(argc, argv, 1, 400);
  ops = arg_long(argc, argv, 2, 50000);
  nthreads = arg_long(argc, argv, 3, 2);
  nslots = arg_long(argc, argv, 4, 2000);
  sets = calloc((size_t)nthreads, sizeof *sets);
  pthread_t *tid = xmalloc((size_t)nthreads * sizeof *tid);
  if (sets == NULL) return 1;
  for (long t = 0; t < nthreads; t++) {
    sets[t].rng = rng_seed((uint64_t)t + 1);
    sets[t].block = calloc((size_t)nslots, sizeof *sets[t].block);
    if (sets[t].block == NULL) return 1;
  }
  pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
  for (long t = 0; t < nthreads; t++) pthread_create(&tid[t], NULL, thread_main, (void *)(intptr_t)t);
  for (long t = 0; t < nthreads; t++) pthread_join(tid[t], NULL);
  uint64_t sum = 0;
  for (long t = 0; t < nthreads; t++) {
    for (long k = 0; k < nslots; k++) free(sets[t].block[k]);
    free(sets[t].block);
    sum += sets[t].sum;
  }
  pthread_barrier_destroy(&barrier);
  free(sets);
  free(tid);
  print_checksum(sum);
  return 0;
}
