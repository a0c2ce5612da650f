/* liveread.c — how fast the program reads the live set an allocator left it: small.c's pattern
 * (a live set of blocks of 8..1024 bytes, skewed small, each step freeing a random one and
 * allocating another) builds the heap, then only reads it, with no allocator call: random blocks,
 * their first and last byte, as small.c touches them. Prints the time per read and the shape of
 * the layout (distinct 4 KiB pages, 16 KiB groups and 2 MiB regions holding the blocks; with root,
 * how many neighbouring pages are also neighbours in physical memory, from /proc/self/pagemap).
 * It tells the allocator's own instructions from the cost of where it put the blocks: small's
 * time with heapkit against mimalloc (bench/RESULTS.md, "speed branch, second pass").
 * Usage: liveread [steps=2000000] [live=20000] [reads=20000000] */
#include "bench.h"
#include <time.h>

static int by_address(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Of the pairs of neighbouring pages in pages[] (sorted page numbers), how many are neighbours in
 * physical memory too; -1 when the frame numbers cannot be read (they read as 0 without root). */
static long physical_neighbours(const uintptr_t *pages, long n, long *pairs) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) return -1;
  long adjacent = 0, unknown = 0;
  *pairs = 0;
  for (long i = 1; i < n; i++) {
    if (pages[i] != pages[i - 1] + 1) continue;
    uint64_t e[2];
    if (pread(fd, e, sizeof e, (off_t)(pages[i - 1] * sizeof(uint64_t))) != (ssize_t)sizeof e) continue;
    uint64_t pfn0 = e[0] & ((1ull << 55) - 1), pfn1 = e[1] & ((1ull << 55) - 1);
    if (!(e[0] >> 63) || !(e[1] >> 63)) continue;
    if (pfn0 == 0) unknown++;
    (*pairs)++;
    if (pfn1 == pfn0 + 1) adjacent++;
  }
  close(fd);
  return unknown == *pairs && *pairs > 0 ? -1 : adjacent;
}

int main(int argc, char **argv) {
  long steps = arg_long(argc, argv, 1, 2000000);
  long live = arg_long(argc, argv, 2, 20000);
  long reads = arg_long(argc, argv, 3, 20000000);
  unsigned char **slot = calloc((size_t)live, sizeof *slot);
  size_t *size = calloc((size_t)live, sizeof *size);
  uintptr_t *pages = malloc(2 * (size_t)live * sizeof *pages);
  if (slot == NULL || size == NULL || pages == NULL) {
    free(slot);
    free(size);
    free(pages);
    return 1;
  }
  rng_t r = rng_seed(1);
  uint64_t sum = small_steps(slot, size, live, steps, &r);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < reads; i++) {
    size_t k = (size_t)(rng_next(&r) % (uint64_t)live);
    if (slot[k] != NULL) sum += slot[k][0] + slot[k][size[k] - 1]; /* NULL: never filled (few steps) */
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)reads;

  long n = 0;
  for (long k = 0; k < live; k++) {
    if (slot[k] == NULL) continue;
    uintptr_t first = (uintptr_t)slot[k] >> 12, last = ((uintptr_t)slot[k] + size[k] - 1) >> 12;
    pages[n++] = first;
    if (last != first) pages[n++] = last;
  }
  qsort(pages, (size_t)n, sizeof *pages, by_address);
  long distinct = 0, groups = 0, regions = 0, kept = 0;
  for (long i = 0; i < n; i++) {
    if (i > 0 && pages[i] == pages[i - 1]) continue;
    pages[kept++] = pages[i];
    distinct++;
    if (kept == 1 || (pages[kept - 1] >> 2) != (pages[kept - 2] >> 2)) groups++;
    if (kept == 1 || (pages[kept - 1] >> 9) != (pages[kept - 2] >> 9)) regions++;
  }
  long pairs = 0, adjacent = physical_neighbours(pages, kept, &pairs);
  printf("read_ns %.1f\n", ns);
  printf("layout pages=%ld groups16k=%ld regions2m=%ld", distinct, groups, regions);
  if (adjacent >= 0) printf(" neighbour_pairs=%ld physically_adjacent=%ld", pairs, adjacent);
  printf("\n");
  print_checksum(sum);
  for (long k = 0; k < live; k++) free(slot[k]);
  free(slot);
  free(size);
  free(pages);
  return 0;
}
