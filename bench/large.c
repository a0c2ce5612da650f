/* large.c — large blocks: a small live set of 64 KiB .. 8 MiB blocks (log-uniform sizes) is
 * churned; every new block has each of its pages written once, as a program filling a buffer would.
 * Usage: large [ops=5000] [live=16]   Models: I/O buffers, images, big arrays. */
#include "bench.h"

int main(int argc, char **argv) {
  long ops = arg_long(argc, argv, 1, 5000);
  long live = arg_long(argc, argv, 2, 16);
  unsigned char **slot = calloc((size_t)live, sizeof *slot);
  size_t *size = calloc((size_t)live, sizeof *size);
  if (slot == NULL || size == NULL) return 1;
  rng_t r = rng_seed(6);
  uint64_t sum = 0;

  for (long i = 0; i < ops; i++) {
    size_t k = (size_t)(rng_next(&r) % (uint64_t)live);
    if (slot[k] != NULL) {
      sum += slot[k][0] + slot[k][size[k] - 1];
      free(slot[k]);
    }
    /* log-uniform: 2^16 .. 2^23 bytes */
    size[k] = (size_t)1 << rng_range(&r, 16, 22);
    size[k] += (size_t)(rng_next(&r) % size[k]);
    slot[k] = xmalloc(size[k]);
    for (size_t off = 0; off < size[k]; off += 4096) slot[k][off] = (unsigned char)off;
    slot[k][0] = (unsigned char)i;
    slot[k][size[k] - 1] = (unsigned char)k;
  }
  for (long k = 0; k < live; k++) free(slot[k]);
  free(slot);
  free(size);
  print_checksum(sum);
  return 0;
}
