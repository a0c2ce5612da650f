/* pair.c — the fast-path probe for bench/callgrind-pair: after a warm-up, N malloc+free pairs of
 * one size (or calloc+free). Run it for N and 2N under callgrind; the difference divided by N is
 * the cost of one pair, start-up cancelled.  Usage: pair SIZE N [malloc|calloc|mixed]
 * mixed: a live set of MIXED_LIVE blocks; each step frees a random one and allocates a block of a
 * random size in 8..SIZE in its place (small.c's pattern), through the noinline mixed_malloc and
 * mixed_free, so callgrind can count each function apart whatever the allocator names its own. */
#include "bench.h"

static void *volatile sink; /* the compiler must not pair up and delete our malloc/free */

#define MIXED_LIVE 10000

/* Not inlined, not tail calls (the empty asm after the call): each is a function of its own whose
 * inclusive cost minus its self cost is the allocator's. */
__attribute__((noinline)) static void *mixed_malloc(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" ::: "memory");
  return p;
}
__attribute__((noinline)) static void mixed_free(void *p) {
  free(p);
  __asm__ volatile("" ::: "memory");
}

/* The live set is filled and churned for a warm-up of MIXED_LIVE * 10 steps, then n steps. */
static int mixed(size_t max, long n) {
  unsigned char **slot = calloc(MIXED_LIVE, sizeof *slot);
  if (slot == NULL || max < 8) return 1;
  rng_t r = rng_seed(3);
  long warm = MIXED_LIVE * 10L;
  for (long i = 0; i < warm + n; i++) {
    size_t k = (size_t)(rng_next(&r) % MIXED_LIVE);
    if (slot[k] != NULL) mixed_free(slot[k]);
    slot[k] = mixed_malloc(rng_range(&r, 8, max));
    if (slot[k] == NULL) return 1;
    slot[k][0] = (unsigned char)i; /* touch it, as a program would */
  }
  for (long k = 0; k < MIXED_LIVE; k++) free(slot[k]);
  free(slot);
  return 0;
}

int main(int argc, char **argv) {
  size_t size = (size_t)arg_long(argc, argv, 1, 32);
  long n = arg_long(argc, argv, 2, 100000);
  int use_calloc = argc > 3 && strcmp(argv[3], "calloc") == 0;
  if (argc > 3 && strcmp(argv[3], "mixed") == 0) return mixed(size, n);
  if (argc > 3 && !use_calloc && strcmp(argv[3], "malloc") != 0) {
    fprintf(stderr, "pair: mode must be malloc, calloc or mixed\n");
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
