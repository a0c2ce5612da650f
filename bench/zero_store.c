/* zero_store.c — what it costs to zero a freed big block's pages, by store and by where the
 * lines are: the measurement behind the hardened mode's choice in src/core/scrub.c. Three
 * tables, per 4 KiB page (CPU time of this thread): "cold", buffers of 64 KiB .. 8 MiB from a
 * pool bigger than the caches, a byte written per page, then zeroed and a byte per page written
 * again (bench `large`'s pattern); "hot", one buffer filled, zeroed, filled again (a program that
 * fills its buffer and frees it); "ticks", what one page's memset takes on the time stamp
 * counter with its lines in the core's cache and not (the test scrub.c makes); and "given back",
 * the alternative to writing zeros: 8 MiB buffers with a byte per page written, handed to the
 * kernel with madvise(MADV_DONTNEED) and a byte per page written again (a page fault and the
 * kernel's zeroing per page), in 4 KiB pages and in transparent huge pages (MADV_HUGEPAGE: one
 * fault per 2 MiB), beside non-temporal zeroing of the same buffers. Not linked with heapkit: it
 * times the stores, not an allocator. Usage: zero_store [reps=3]  (x86-64) */
#include "bench.h"

#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#include <x86intrin.h>

static double thread_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void zero_stream(unsigned char *p, size_t n) {
  __m128i z = _mm_setzero_si128();
  for (size_t i = 0; i < n; i += 64) {
    _mm_stream_si128((__m128i *)(p + i), z);
    _mm_stream_si128((__m128i *)(p + i + 16), z);
    _mm_stream_si128((__m128i *)(p + i + 32), z);
    _mm_stream_si128((__m128i *)(p + i + 48), z);
  }
  _mm_sfence();
}

static void zero_with(int how, unsigned char *p, size_t n) {
  if (how == 0) memset(p, 0, n);
  else zero_stream(p, n);
}

static unsigned char *map(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) exit(1);
  return p;
}

int main(int argc, char **argv) {
  long reps = arg_long(argc, argv, 1, 3);
  static const char *names[] = {"memset", "non-temporal"};
  size_t sizes[] = {(size_t)64 << 10, (size_t)256 << 10, (size_t)1 << 20, (size_t)4 << 20, (size_t)8 << 20};
  printf("cold (ns per page: zero, then a byte per page written)\n");
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    size_t n = sizes[s];
    size_t count = ((size_t)96 << 20) / n; /* 96 MiB in all: past the caches */
    unsigned char **buf = xmalloc(count * sizeof *buf);
    for (size_t i = 0; i < count; i++) memset(buf[i] = map(n), 1, n);
    printf("%6zu KiB", n >> 10);
    for (int how = 0; how < 2; how++) {
      double t = 0;
      size_t pages = 0;
      for (long r = 0; r < reps; r++)
        for (size_t i = 0; i < count; i++) {
          unsigned char *p = buf[i];
          for (size_t o = 0; o < n; o += 4096) p[o] = (unsigned char)o;
          double t0 = thread_ns();
          zero_with(how, p, n);
          for (size_t o = 0; o < n; o += 4096) p[o] = (unsigned char)(o + 1);
          t += thread_ns() - t0;
          pages += n / 4096;
        }
      printf("  %s %4.0f", names[how], t / (double)pages);
    }
    printf("\n");
    for (size_t i = 0; i < count; i++) munmap(buf[i], n);
    free(buf);
  }
  printf("hot (ns per page: zero, then the whole buffer written)\n");
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    size_t n = sizes[s];
    unsigned char *p = map(n);
    long rounds = (long)(((size_t)256 << 20) / n) * reps;
    printf("%6zu KiB", n >> 10);
    for (int how = 0; how < 2; how++) {
      double t = 0;
      for (long r = 0; r < rounds; r++) {
        memset(p, (int)r, n);
        double t0 = thread_ns();
        zero_with(how, p, n);
        memset(p, (int)r + 1, n);
        t += thread_ns() - t0;
      }
      printf("  %s %4.0f", names[how], t / (double)rounds / (double)(n / 4096));
    }
    printf("\n");
    munmap(p, n);
  }
  printf("given back (ns per page: zeroed or given back, then a byte per page written; 8 MiB buffers)\n");
  {
    size_t n = (size_t)8 << 20, huge = (size_t)2 << 20, count = 24; /* 192 MiB */
    static const char *ways[] = {"non-temporal", "DONTNEED 4 KiB pages", "DONTNEED huge pages"};
    for (int how = 0; how < 3; how++) {
      unsigned char *raw = map(count * n + huge);
      unsigned char *base = (unsigned char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
      madvise(base, count * n, how == 2 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
      for (size_t o = 0; o < count * n; o += 4096) base[o] = 1;
      double t = 0;
      size_t pages = 0;
      for (long r = 0; r < reps + 1; r++)
        for (size_t i = 0; i < count; i++) {
          unsigned char *p = base + i * n;
          double t0 = thread_ns();
          if (how == 0) zero_stream(p, n);
          else madvise(p, n, MADV_DONTNEED);
          for (size_t o = 0; o < n; o += 4096) p[o] = (unsigned char)(o + 1);
          t += thread_ns() - t0;
          pages += n / 4096;
        }
      printf("  %-22s %5.0f\n", ways[how], t / (double)pages);
      munmap(raw, count * n + huge);
    }
  }
  size_t big = (size_t)64 << 20;
  unsigned char *cold = map(big), *hot = map(4096);
  memset(cold, 1, big);
  rng_t r = rng_seed(3);
  printf("ticks of a 4 KiB memset (the time stamp counter)\n");
  for (int i = 0; i < 8; i++) {
    unsigned char *p = cold + (rng_next(&r) % (big / 4096)) * 4096;
    p[0] = 1;
    uint64_t t0 = __rdtsc();
    memset(p, 0, 4096);
    uint64_t t1 = __rdtsc();
    memset(hot, i, 4096);
    uint64_t t2 = __rdtsc();
    memset(hot, 0, 4096);
    uint64_t t3 = __rdtsc();
    printf("  cold %5llu  hot %5llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(t3 - t2));
  }
  return 0;
}
#else
int main(void) {
  printf("zero_store: x86-64 only (the non-temporal stores and the time stamp counter)\n");
  return 0;
}
#endif
