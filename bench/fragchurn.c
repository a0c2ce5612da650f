/* fragchurn.c — fragmenting churn: each round allocates many small blocks (16..128 B, one in 32
 * up to 8 KiB), frees 7 of every 8 in a scattered pattern, so the survivors pin their pages, then
 * allocates bigger blocks (1.5..16 KiB) that only fit in the holes if freed memory is reused
 * well, and frees those. After the rounds everything is freed and the program idles for a
 * second, then prints its peak and its resident memory: what a busy program pays in time, and
 * what an idle one keeps.
 * bench/compare times the work (busy_us), not the idle second.
 * Usage: fragchurn [rounds=6] [blocks=300000] [idle_ms=1000] */
#include "bench.h"
#include <time.h>

int main(int argc, char **argv) {
  long rounds = arg_long(argc, argv, 1, 6);
  long nblocks = arg_long(argc, argv, 2, 300000);
  long idle_ms = arg_long(argc, argv, 3, 1000);
  size_t cap = (size_t)(rounds * nblocks / 8 + 16), nkept = 0;
  unsigned char **kept = xmalloc(cap * sizeof *kept);
  unsigned char **block = xmalloc((size_t)nblocks * sizeof *block);
  size_t *len = xmalloc((size_t)nblocks * sizeof *len);
  rng_t r = rng_seed(8);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t sum = 0;

  for (long round = 0; round < rounds; round++) {
    size_t freed = 0;
    for (long i = 0; i < nblocks; i++) {
      size_t n = rng_next(&r) % 32 == 0 ? rng_range(&r, 129, 8192) : rng_range(&r, 16, 128);
      block[i] = xmalloc(n);
      len[i] = n;
      memset(block[i], (int)(n & 0xff), n < 64 ? n : 64);
    }
    for (long i = 0; i < nblocks; i++) { /* keep one in eight, scattered */
      if (rng_next(&r) % 8 == 0 && nkept < cap) {
        kept[nkept++] = block[i];
      } else {
        sum += block[i][0];
        freed += len[i];
        free(block[i]);
      }
    }
    size_t nbig = 0; /* bigger blocks, as many bytes as were just freed */
    for (size_t bytes = 0; bytes < freed && nbig < (size_t)nblocks; nbig++) {
      size_t n = rng_range(&r, 1536, 16384);
      block[nbig] = xmalloc(n);
      for (size_t off = 0; off < n; off += 1024) block[nbig][off] = (unsigned char)off;
      bytes += n;
    }
    for (size_t i = 0; i < nbig; i++) {
      sum += block[i][0];
      free(block[i]);
    }
  }
  long peak = status_kb("VmHWM");
  for (size_t i = 0; i < nkept; i++) {
    sum += kept[i][0];
    free(kept[i]);
  }
  free(kept);
  free(block);
  free(len);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  /* Idle: an allocator with a purge delay or a background thread gives the memory back now. */
  struct timespec ts = { idle_ms / 1000, (idle_ms % 1000) * 1000000 };
  nanosleep(&ts, NULL);
  long busy_us = (long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
  /* bench/compare times the work by busy_us (the idle second is everyone's) and shows final_kb */
  printf("rss peak_kb=%ld final_kb=%ld busy_us=%ld\n", peak, status_kb("VmRSS"), busy_us);
  print_checksum(sum);
  return 0;
}
