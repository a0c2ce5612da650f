/* cache_thrash.c — active false sharing: every thread repeatedly allocates a small object,
 * writes it many times and frees it. An allocator that hands neighbouring bytes of one cache
 * line to different threads makes the lines bounce between cores.  Usage: cache_thrash [iters=10000] [writes=10000] [threads=2] [size=8] */
#include "bench.h"
#include <pthread.h>

static long iters, writes, size;

static void *thread_main(void *arg) {
  uint64_t *sum = arg;
  for (long i = 0; i < iters; i++) {
    *sum += scribble_object(size, writes);
  }
  return NULL;
}

int main(int argc, char **argv) {
  iters = arg_long(argc, argv, 1, 10000);
  writes = arg_long(argc, argv, 2, 10000);
  long nthreads = arg_long(argc, argv, 3, 2);
  size = arg_long(argc, argv, 4, 8);
  pthread_t *tid = xmalloc((size_t)nthreads * sizeof *tid);
  uint64_t *sums = calloc((size_t)nthreads, 8 * sizeof *sums); /* a cache line each */
  if (sums == NULL) return 1;
  for (long t = 0; t < nthreads; t++) pthread_create(&tid[t], NULL, thread_main, &sums[8 * t]);
  uint64_t sum = 0;
  for (long t = 0; t < nthreads; t++) {
    pthread_join(tid[t], NULL);
    sum += sums[8 * t];
  }
  free(tid);
  free(sums);
  print_checksum(sum);
  return 0;
}
