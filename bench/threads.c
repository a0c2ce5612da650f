/* threads.c — thread churn: many short-lived threads, a few at a time, each allocating and
 * freeing; half of each thread's blocks outlive it and are freed by a later thread, so an exiting
 * thread's memory must be handed on. Reports RSS.  Usage: threads [threads=10000] [concurrent=2] [blocks=200] */
#include "bench.h"
#include <pthread.h>

typedef struct {
  long id;
  uint64_t sum;
  uint64_t **left; /* blocks the previous thread of this lane left behind */
} lane_t;

static long nblocks;

static void *thread_main(void *arg) {
  lane_t *lane = arg;
  rng_t r = rng_seed((uint64_t)lane->id);
  uint64_t **mine = xmalloc((size_t)nblocks * sizeof *mine);
  for (long i = 0; i < nblocks; i++) {
    size_t n = rng_skewed(&r, 16, 2048);
    mine[i] = xmalloc(n);
    mine[i][0] = n;
    mine[i][n / 8 - 1] = (uint64_t)lane->id;
  }
  if (lane->left != NULL) { /* free what a dead thread allocated */
    for (long i = 0; i < nblocks / 2; i++) {
      lane->sum += lane->left[i][0] + lane->left[i][lane->left[i][0] / 8 - 1];
      free(lane->left[i]);
    }
    free(lane->left);
  }
  uint64_t **keep = xmalloc((size_t)(nblocks / 2 + 1) * sizeof *keep);
  for (long i = 0; i < nblocks; i++) {
    if (i % 2 == 0 && i / 2 < nblocks / 2) {
      keep[i / 2] = mine[i];
    } else {
      lane->sum += mine[i][0];
      free(mine[i]);
    }
  }
  free(mine);
  lane->left = keep;
  return NULL;
}

int main(int argc, char **argv) {
  long total = arg_long(argc, argv, 1, 10000);
  long conc = arg_long(argc, argv, 2, 2);
  nblocks = arg_long(argc, argv, 3, 200);
  lane_t *lanes = calloc((size_t)conc, sizeof *lanes);
  pthread_t *tid = xmalloc((size_t)conc * sizeof *tid);
  if (lanes == NULL) return 1;
  for (long started = 0; started < total; started += conc) {
    for (long j = 0; j < conc; j++) {
      lanes[j].id = started + j + 1;
      if (pthread_create(&tid[j], NULL, thread_main, &lanes[j]) != 0) {
        fprintf(stderr, "threads: pthread_create failed\n");
        return 1;
      }
    }
    for (long j = 0; j < conc; j++) pthread_join(tid[j], NULL);
  }
  uint64_t sum = 0;
  for (long j = 0; j < conc; j++) {
    for (long i = 0; i < nblocks / 2; i++) free(lanes[j].left[i]);
    free(lanes[j].left);
    sum += lanes[j].sum;
  }
  free(lanes);
  free(tid);
  print_rss();
  print_checksum(sum);
  return 0;
}
