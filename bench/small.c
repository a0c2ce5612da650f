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
  uint64_t sum = small_steps(slot, size, live, steps, &r);
  for (long k = 0; k < live; k++) free(slot[k]);
  free(slot);
  free(size);
  print_checksum(sum);
  return 0;
}
