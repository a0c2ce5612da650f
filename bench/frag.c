/* frag.c — fragmentation: each round allocates many small blocks of mixed sizes, frees 90% of
 * them in a scattered pattern (the survivors pin their pages), then allocates and frees bigger
 * blocks. Prints peak and final RSS (after a short idle) next to the bytes still live.
 * Usage: frag [rounds=4] [blocks=500000] [idle_ms=100] */
#include "bench.h"
#include <time.h>

int main(int argc, char **argv) {
  long rounds = arg_long(argc, argv, 1, 4);
  long nblocks = arg_long(argc, argv, 2, 500000);
  long idle_ms = arg_long(argc, argv, 3, 100);
  size_t nkept = 0, kept_bytes = 0;
  unsigned char **kept = xmalloc((size_t)(rounds * nblocks / 8 + 16) * sizeof *kept);
  unsigned char **block = xmalloc((size_t)nblocks * sizeof *block);
  rng_t r = rng_seed(7);
  uint64_t sum = 0;

  for (long round = 0; round < rounds; round++) {
    size_t freed = 0;
    for (long i = 0; i < nblocks; i++) {
      size_t n = rng_skewed(&r, 16, 256);
      block[i] = xmalloc(n);
      memset(block[i], (int)n, n); /* the fill byte is the size (256 wraps to 0) */
    }
    for (long i = 0; i < nblocks; i++) { /* keep about one in ten, scattered */
      size_t n = block[i][0] ? block[i][0] : 256;
      if (rng_next(&r) % 10 == 0 && nkept < (size_t)(rounds * nblocks / 8)) {
        kept[nkept++] = block[i];
        kept_bytes += n;
      } else {
        sum += block[i][n - 1];
        freed += n;
        free(block[i]);
      }
    }
    size_t nbig = 0; /* bigger blocks, half the bytes just freed */
    for (size_t bytes = 0; bytes < freed / 2 && nbig < (size_t)nblocks; nbig++) {
      size_t n = rng_range(&r, 512, 4096);
      block[nbig] = xmalloc(n);
      memset(block[nbig], 1, n);
      bytes += n;
    }
    for (size_t i = 0; i < nbig; i++) {
      sum += block[i][i % 512];
      free(block[i]);
    }
  }

  /* A program keeps running after a burst: idle a little, then do a bit of work, giving
   * allocators with a purge delay the chance to return memory. */
  struct timespec ts = { idle_ms / 1000, (idle_ms % 1000) * 1000000 };
  nanosleep(&ts, NULL);
  for (int i = 0; i < 100; i++) free(xmalloc(64));

  printf("rss peak_kb=%ld final_kb=%ld live_kb=%zu\n", status_kb("VmHWM"), status_kb("VmRSS"), kept_bytes / 1024);
  for (size_t i = 0; i < nkept; i++) sum += kept[i][0];
  for (size_t i = 0; i < nkept; i++) free(kept[i]);
  free(kept);
  free(block);
  print_checksum(sum);
  return 0;
}
