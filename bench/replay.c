/* replay.c — small.c's steps with the allocator's calls taken out, to tell the cost of where an
 * allocator puts the blocks from the cost of its own code (bench/RESULTS.md, "small against
 * mimalloc"). `replay record FILE [steps]` runs small's steps under the allocator (preloaded) and
 * writes every address malloc returned to FILE; `replay run FILE [steps]` maps the 2 MiB regions
 * those addresses lie in at the same addresses, then runs the same steps with the recorded
 * addresses in place of malloc and nothing in place of free: the program's own loads and stores on
 * the allocator's layout, and nothing else. Both print the step loop's CPU time per step (set-up
 * and the trace file excluded). Run both under `setarch -R` (no address randomization), so that
 * the recorded addresses are free in the replaying process.
 * Usage: replay record|run FILE [steps=10000000] */
#include "bench.h"
#include <sys/mman.h>
#include <time.h>

#define LIVE 20000

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The program's arrays come from mmap in both modes, so the allocator's layout is all that differs. */
static void *map_anon(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  return p;
}

/* free and malloc, or (trace replayed) nothing and the next recorded address: out of line in both
 * modes, so the step loop is the same code apart from the call. */
static __attribute__((noinline)) void step_free(void *p, int replaying) {
  if (!replaying) free(p);
  __asm__ volatile("" ::"r"(p) : "memory");
}

static __attribute__((noinline)) void *step_malloc(size_t n, uintptr_t **trace, int replaying) {
  if (replaying) return (void *)*(*trace)++;
  void *p = xmalloc(n);
  *(*trace)++ = (uintptr_t)p;
  return p;
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[1], "record") != 0 && strcmp(argv[1], "run") != 0)) {
    fprintf(stderr, "usage: replay record|run FILE [steps]\n");
    return 2;
  }
  int replaying = strcmp(argv[1], "run") == 0;
  long steps = arg_long(argc, argv, 3, 10000000);
  size_t bytes = (size_t)steps * sizeof(uintptr_t);
  uintptr_t *trace;
  if (replaying) {
    int fd = open(argv[2], O_RDONLY);
    trace = fd < 0 ? MAP_FAILED : mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (trace == MAP_FAILED) {
      perror(argv[2]);
      return 1;
    }
    /* 4 MiB at every 2 MiB region a block starts in: its block cannot run past the end. */
    uintptr_t last = 0;
    for (long i = 0; i < steps; i++) {
      uintptr_t region = trace[i] & ~(uintptr_t)0x1fffff;
      if (region == last) continue;
      last = region;
      void *m = mmap((void *)region, (size_t)4 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
      if (m != MAP_FAILED && m != (void *)region) {
        fprintf(stderr, "replay: the kernel does not place at a fixed address\n");
        return 1;
      }
      if (m == MAP_FAILED && errno != EEXIST) {
        fprintf(stderr, "replay: %#lx is taken in this process: run both modes under setarch -R\n",
                (unsigned long)region);
        return 1;
      }
    }
  } else {
    trace = map_anon(bytes);
  }
  unsigned char **slot = map_anon(LIVE * sizeof *slot);
  size_t *size = map_anon(LIVE * sizeof *size);
  uintptr_t *t = trace;
  rng_t r = rng_seed(1);
  uint64_t sum = 0;
  double t0 = cpu_seconds();
  for (long i = 0; i < steps; i++) { /* small_steps (bench.h), with the calls above */
    size_t k = (size_t)(rng_next(&r) % LIVE);
    if (slot[k] != NULL) {
      sum += slot[k][0] + slot[k][size[k] - 1];
      step_free(slot[k], replaying);
    }
    size[k] = rng_skewed(&r, 8, 1024);
    slot[k] = step_malloc(size[k], &t, replaying);
    slot[k][0] = (unsigned char)i;
    slot[k][size[k] - 1] = (unsigned char)k;
  }
  double t1 = cpu_seconds();
  if (!replaying) {
    FILE *f = fopen(argv[2], "wb");
    if (f == NULL || fwrite(trace, sizeof *trace, (size_t)steps, f) != (size_t)steps || fclose(f) != 0) {
      perror(argv[2]);
      return 1;
    }
  }
  printf("%s: %.1f ns per step (CPU)\n", argv[1], (t1 - t0) * 1e9 / (double)steps);
  print_checksum(sum);
  return 0;
}
