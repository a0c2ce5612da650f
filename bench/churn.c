/* churn.c — a server that starts a thread per request: thousands of short threads, a few at a time,
 * each replacing random entries of one long-lived shared table (a cache) with blocks of its own,
 * so about 1 MiB stays live, made by many threads that are gone. Measures what the dead threads'
 * memory costs: peak and final RSS against the table's live bytes.
 * Usage: churn [threads=5000] [concurrent=4] [slots=4096] [per_thread=64] */
#include "bench.h"
#include <pthread.h>

typedef struct {
  long id;
  uint64_t sum;
} worker_t;

static long nslots, per_thread;
static uint64_t **slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
  worker_t *w = arg;
  rng_t r = rng_seed((uint64_t)w->id);
  /* The request's own temporaries: allocated and freed by this thread. */
  uint64_t *scratch[16];
  for (int i = 0; i < 16; i++) scratch[i] = xmalloc(rng_skewed(&r, 16, 4096));
  for (long i = 0; i < per_thread; i++) {
    size_t n = rng_skewed(&r, 16, 1024) & ~(size_t)7;
    if (n < 16) n = 16;
    uint64_t *b = xmalloc(n);
    b[0] = n;
    b[n / 8 - 1] = (uint64_t)w->id;
    size_t at = (size_t)(rng_next(&r) % (uint64_t)nslots);
    pthread_mutex_lock(&slots_lock);
    uint64_t *old = slots[at];
    slots[at] = b;
    pthread_mutex_unlock(&slots_lock);
    if (old != NULL) { /* usually a block of a thread that has exited */
      w->sum += old[0] + old[old[0] / 8 - 1];
      free(old);
    }
  }
  for (int i = 0; i < 16; i++) free(scratch[i]);
  return NULL;
}

int main(int argc, char **argv) {
  long total = arg_long(argc, argv, 1, 5000);
  long conc = arg_long(argc, argv, 2, 4);
  nslots = arg_long(argc, argv, 3, 4096);
  per_thread = arg_long(argc, argv, 4, 64);
  slots = calloc((size_t)nslots, sizeof *slots);
  worker_t *workers = calloc((size_t)conc, sizeof *workers);
  pthread_t *tid = xmalloc((size_t)conc * sizeof *tid);
  if (slots == NULL || workers == NULL) return 1;
  uint64_t sum = 0;
  for (long started = 0; started < total; started += conc) {
    for (long j = 0; j < conc; j++) {
      workers[j].id = started + j + 1;
      if (pthread_create(&tid[j], NULL, worker, &workers[j]) != 0) {
        fprintf(stderr, "churn: pthread_create failed\n");
        return 1;
      }
    }
    for (long j = 0; j < conc; j++) {
      pthread_join(tid[j], NULL);
      sum += workers[j].sum;
      workers[j].sum = 0;
    }
  }
  /* What is live now, then the RSS it costs (before the table is freed). */
  size_t live = 0;
  for (long i = 0; i < nslots; i++)
    if (slots[i] != NULL) live += slots[i][0];
  printf("rss peak_kb=%ld final_kb=%ld live_kb=%zu\n", status_kb("VmHWM"), status_kb("VmRSS"), live / 1024);
  for (long i = 0; i < nslots; i++) {
    if (slots[i] != NULL) sum += slots[i][0] + slots[i][slots[i][0] / 8 - 1];
    free(slots[i]);
  }
  free(slots);
  free(workers);
  free(tid);
  print_checksum(sum);
  return 0;
}
