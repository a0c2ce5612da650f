/* small.c — random small sizes in one thread: a live set of blocks (8..1024 bytes,
 * skewed small) where each step frees a random block and allocates a new one.
 * Usage: small [steps=20000000] [live=20000]   Models: the everyday heap of one thread. */
#include "bench.h"

int main(int argc, char **argv) {
  long steps = arg_long(argc, argv, 1, 20000000);
  long live = arg_long(argc, argv, 2, 20000);
  unsigned char **slot = calloc((size_t)live, sizeof *slot);
  size_t *size = calloc((size_t)live, sizeof *size);
  if (slot == NULL || size == NULL) return 1;
  rng_t r = rng_seed(1);
  uint64_t sum = 0;

  for (long i = 0; i < steps; i++) {
    size_t k = (size_t)(rng_next(&r) % (uint64_t)live);
    if (slot[k] != NULL) {
      sum += slot[k][0] + slot[k][size[k] - 1];
      free(slot[k]);
    }
    size[k] = rng_skewed(&r, 8, 1024);
    slot[k] = xmalloc(size[k]);
    slot[k][0] = (unsigned char)i;
    slot[k][size[k] - 1] = (unsigned char)k;
  }
  for (long k = 0; k < live; k++) free(slot[k]);
  free(slot);
  free(size);
  print_checksum(sum);
  return 0;
}
