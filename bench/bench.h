/* bench.h — the few helpers every benchmark workload shares: a seeded PRNG,
 * positional integer arguments with defaults, and the output conventions
 * ("checksum HEX" must match across allocators; "rss ..." lines are metrics). */
#ifndef HK_BENCH_H
#define HK_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pthread, nanosleep, open/read: include bench.h first */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* splitmix64: tiny, fast, good enough, and the same sequence everywhere. */
typedef struct { uint64_t s; } rng_t;

static inline rng_t rng_seed(uint64_t seed) { return (rng_t){ seed * 0x9E3779B97F4A7C15ull + 1 }; }

static inline uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi) {
  return lo + (size_t)(rng_next(r) % (hi - lo + 1));
}

/* In [lo, hi], skewed toward lo: the product of two uniforms, as in real heaps
 * where most blocks are small and few are big. */
static inline size_t rng_skewed(rng_t *r, size_t lo, size_t hi) {
  uint64_t x = rng_next(r);
  uint64_t a = x & 0xffff, b = (x >> 16) & 0xffff;
  return lo + (size_t)((a * b * (hi - lo)) / (0xffffull * 0xffff));
}

/* Argument i (1-based) as a positive integer, or dflt when absent. */
static inline long arg_long(int argc, char **argv, int i, long dflt) {
  if (i >= argc) return dflt;
  char *end;
  long v = strtol(argv[i], &end, 0);
  if (*end != '\0' || v <= 0) {
    fprintf(stderr, "%s: argument %d must be a positive integer, got '%s'\n", argv[0], i, argv[i]);
    exit(2);
  }
  return v;
}

static inline void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (p == NULL) {
    fprintf(stderr, "malloc(%zu) failed\n", n);
    abort();
  }
  return p;
}

static inline void *xrealloc(void *q, size_t n) {
  void *p = realloc(q, n);
  if (p == NULL) {
    fprintf(stderr, "realloc(%zu) failed\n", n);
    abort();
  }
  return p;
}

/* The kB value of one "Name:  N kB" line of /proc/self/status, or -1.
 * Reads with open/read into a stack buffer so it does not touch the heap. */
static inline long status_kb(const char *name) {
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  size_t len = strlen(name);
  for (char *line = buf; line != NULL; line = strchr(line, '\n')) {
    if (*line == '\n') line++;
    if (strncmp(line, name, len) == 0 && line[len] == ':') return strtol(line + len + 1, NULL, 10);
  }
  return -1;
}

/* The metrics line bench/compare parses: peak (VmHWM) and current (VmRSS) RSS. */
static inline void print_rss(void) {
  printf("rss peak_kb=%ld final_kb=%ld\n", status_kb("VmHWM"), status_kb("VmRSS"));
}

/* The false-sharing workloads' object life: allocate `size` bytes, write each of them `writes`
 * times, free; returns the sum of the final bytes so the writes cannot be optimised away. */
static inline uint64_t scribble_object(long size, long writes) {
  volatile unsigned char *p = xmalloc((size_t)size);
  uint64_t sum = 0;
  for (long k = 0; k < size; k++) p[k] = 0;
  for (long w = 0; w < writes; w++)
    for (long k = 0; k < size; k++) p[k]++;
  for (long k = 0; k < size; k++) sum += p[k];
  free((void *)p);
  return sum;
}

static inline void print_checksum(uint64_t sum) { printf("checksum %016llx\n", (unsigned long long)sum); }

/* small.c's steps, shared with liveread.c (which reads the live set they leave): `steps` times, a
 * random slot's block is freed and one of a random small size (8..1024 bytes, skewed small) made in
 * its place, its first and last bytes written. Returns the sum of the bytes read before each free. */
static inline uint64_t small_steps(unsigned char **slot, size_t *size, long live, long steps, rng_t *r) {
  uint64_t sum = 0;
  for (long i = 0; i < steps; i++) {
    size_t k = (size_t)(rng_next(r) % (uint64_t)live);
    if (slot[k] != NULL) {
      sum += slot[k][0] + slot[k][size[k] - 1];
      free(slot[k]);
    }
    size[k] = rng_skewed(r, 8, 1024);
    slot[k] = xmalloc(size[k]);
    slot[k][0] = (unsigned char)i;
    slot[k][size[k] - 1] = (unsigned char)k;
  }
  return sum;
}

#endif
