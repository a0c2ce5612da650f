/* realloc.c — realloc growth: many strings and vectors grow step by step, interleaved, until
 * each reaches its own target length; then its contents are checked and it starts over. Even
 * ones grow to the exact length (string building), odd ones double their capacity (vectors).
 * Usage: realloc [appends=8000000] [count=1000] [maxlen=65536] */
#include "bench.h"

typedef struct {
  unsigned char *data;
  size_t len, cap, target;
} vec_t;

static unsigned char byte_at(size_t id, size_t i) { return (unsigned char)(i * 31 + id); }

int main(int argc, char **argv) {
  long appends = arg_long(argc, argv, 1, 8000000);
  long count = arg_long(argc, argv, 2, 1000);
  size_t maxlen = (size_t)arg_long(argc, argv, 3, 65536);
  vec_t *v = calloc((size_t)count, sizeof *v);
  if (v == NULL) return 1;
  rng_t r = rng_seed(5);
  uint64_t sum = 0;

  for (long i = 0; i < count; i++) v[i].target = rng_skewed(&r, 16, maxlen);
  for (long n = 0; n < appends; n++) {
    size_t id = (size_t)(rng_next(&r) % (uint64_t)count);
    vec_t *s = &v[id];
    size_t add = rng_range(&r, 1, 64);
    if (s->len + add > s->cap) {
      s->cap = id % 2 ? (s->len + add) * 2 : s->len + add;
      s->data = xrealloc(s->data, s->cap);
    }
    for (size_t k = 0; k < add; k++) s->data[s->len + k] = byte_at(id, s->len + k);
    s->len += add;
    if (s->len >= s->target) {
      for (size_t k = 0; k < s->len; k += 61) {
        if (s->data[k] != byte_at(id, k)) {
          fprintf(stderr, "realloc: vector %zu corrupt at %zu\n", id, k);
          return 1;
        }
      }
      sum += s->len;
      free(s->data);
      *s = (vec_t){ NULL, 0, 0, rng_skewed(&r, 16, maxlen) };
    }
  }
  for (long i = 0; i < count; i++) free(v[i].data);
  free(v);
  print_checksum(sum);
  return 0;
}
