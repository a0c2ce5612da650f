/* largebuf.c — large buffers per thread: each thread keeps a few blocks of 64 KiB .. 64 MiB
 * (log-uniform sizes) live; each round one is freed and replaced by a block of a new random size,
 * a quarter of them through calloc, then written page by page, as a program filling I/O, image or
 * array buffers does. An allocator that keeps what was freed and hands it out again saves the
 * page faults and the system calls; one that maps and unmaps each block pays them every round.
 * Usage: largebuf [ops_per_thread=300] [threads=2] [live=4] */
#include "bench.h"
#include <pthread.h>

typedef struct {
  long ops, live, id;
  uint64_t sum;
} worker_t;

static void *work(void *arg) {
  worker_t *w = arg;
  unsigned char **slot = calloc((size_t)w->live, sizeof *slot);
  size_t *size = calloc((size_t)w->live, sizeof *size);
  if (slot == NULL || size == NULL) abort();
  rng_t r = rng_seed(15 + (uint64_t)w->id);
  for (long i = 0; i < w->ops; i++) {
    size_t k = (size_t)(rng_next(&r) % (uint64_t)w->live);
    if (slot[k] != NULL) {
      w->sum += slot[k][0] + slot[k][(size[k] / 2) & ~(size_t)4095] + slot[k][size[k] - 1];
      free(slot[k]);
    }
    /* log-uniform: 2^16 .. 2^26 bytes */
    size[k] = (size_t)1 << rng_range(&r, 16, 25);
    size[k] += (size_t)(rng_next(&r) % size[k]);
    int zeroed = rng_next(&r) % 4 == 0;
    slot[k] = zeroed ? calloc(1, size[k]) : malloc(size[k]);
    if (slot[k] == NULL) {
      fprintf(stderr, "largebuf: allocation of %zu bytes failed\n", size[k]);
      abort();
    }
    if (zeroed) w->sum += slot[k][size[k] / 3] + slot[k][size[k] - 1]; /* must read 0 */
    for (size_t off = 0; off < size[k]; off += 4096) slot[k][off] = (unsigned char)(off >> 12);
    slot[k][0] = (unsigned char)i;
    slot[k][size[k] - 1] = (unsigned char)k;
  }
  for (long k = 0; k < w->live; k++) free(slot[k]);
  free(slot);
  free(size);
  return NULL;
}

int main(int argc, char **argv) {
  long ops = arg_long(argc, argv, 1, 300);
  long nthreads = arg_long(argc, argv, 2, 2);
  long live = arg_long(argc, argv, 3, 4);
  pthread_t *tid = xmalloc((size_t)nthreads * sizeof *tid);
  worker_t *w = xmalloc((size_t)nthreads * sizeof *w);
  for (long t = 0; t < nthreads; t++) {
    w[t] = (worker_t){ops, live, t, 0};
    if (pthread_create(&tid[t], NULL, work, &w[t]) != 0) return 1;
  }
  uint64_t sum = 0;
  for (long t = 0; t < nthreads; t++) {
    pthread_join(tid[t], NULL);
    sum += w[t].sum;
  }
  free(tid);
  free(w);
  print_checksum(sum);
  return 0;
}
