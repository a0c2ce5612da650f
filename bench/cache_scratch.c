/* cache_scratch.c — passive false sharing: the main thread allocates one small object per thread
 * (likely neighbours in a cache line) and hands them out; each thread frees its object, then
 * allocates, writes and frees its own. An allocator that reuses the freed neighbour locally
 * keeps the threads writing into one line.  Usage: cache_scratch [iters=10000] [writes=10000] [threads=2] [size=8] */
#include "bench.h"
#include <pthread.h>

static long iters, writes, size;

typedef struct {
  void *initial;
  uint64_t sum;
  char pad[48];
} job_t;

static void *thread_main(void *arg) {
  job_t *job = arg;
  free(job->initial); /* a remote free of a block that shares a line with the others */
  for (long i = 0; i < iters; i++) {
    job->sum += scribble_object(size, writes);
  }
  return NULL;
}

int main(int argc, char **argv) {
  iters = arg_long(argc, argv, 1, 10000);
  writes = arg_long(argc, argv, 2, 10000);
  long nthreads = arg_long(argc, argv, 3, 2);
  size = arg_long(argc, argv, 4, 8);
  pthread_t *tid = xmalloc((size_t)nthreads * sizeof *tid);
  job_t *jobs = calloc((size_t)nthreads, sizeof *jobs);
  if (jobs == NULL) return 1;
  for (long t = 0; t < nthreads; t++) jobs[t].initial = xmalloc((size_t)size);
  for (long t = 0; t < nthreads; t++) pthread_create(&tid[t], NULL, thread_main, &jobs[t]);
  uint64_t sum = 0;
  for (long t = 0; t < nthreads; t++) {
    pthread_join(tid[t], NULL);
    sum += jobs[t].sum;
  }
  free(tid);
  free(jobs);
  print_checksum(sum);
  return 0;
}
