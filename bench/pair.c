/* pair.c — the fast-path probe for bench/callgrind-pair: after a warm-up, N malloc+free pairs of
 * one size (or calloc+free). Run it for N and 2N under callgrind; the difference divided by N is
 * the cost of one pair, start-up cancelled.  Usage: pair SIZE N [malloc|calloc] */
#include "bench.h"

static void *volatile sink; /* the compiler must not pair up and delete our malloc/free */

int main(int argc, char **argv) {
  size_t size = (size_t)arg_long(argc, argv, 1, 32);
  long n = arg_long(argc, argv, 2, 100000);
  int use_calloc = argc > 3 && strcmp(argv[3], "calloc") == 0;
  if (argc > 3 && !use_calloc && strcmp(argv[3], "malloc") != 0) {
    fprintf(stderr, "pair: mode must be malloc or calloc\n");
    return 2;
  }
  for (int i = 0; i < 1000; i++) { /* warm-up: thread heap, size class page, caches */
    sink = malloc(size);
    free(sink);
  }
  if (use_calloc) {
    for (long i = 0; i < n; i++) {
      sink = calloc(1, size);
      free(sink);
    }
  } else {
    for (long i = 0; i < n; i++) {
      sink = malloc(size);
      free(sink);
    }
  }
  return 0;
}
