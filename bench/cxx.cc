// cxx.cc — what a C++ program does to the heap: a std::map from std::string keys to std::string
// values churned (inserts, value rewrites, erases), a std::unordered_map of small objects held by
// std::shared_ptr, and std::vector growth, all through operator new and delete (sized deletes too).
// Usage: cxx [steps=3000000] [live=20000]   Models: C++ services and compilers, std containers.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

// bench.h's conventions in C++ (bench.h itself is C): splitmix64 with a constant seed, positional
// arguments with defaults, and the checksum line every allocator must print alike.
struct rng_t {
  uint64_t s;
};
static rng_t rng_seed(uint64_t seed) { return rng_t{seed * 0x9E3779B97F4A7C15ull + 1}; }
static uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static size_t rng_range(rng_t *r, size_t lo, size_t hi) { return lo + (size_t)(rng_next(r) % (hi - lo + 1)); }
static long arg_long(int argc, char **argv, int i, long dflt) {
  if (i >= argc) return dflt;
  char *end;
  long v = std::strtol(argv[i], &end, 0);
  if (*end != '\0' || v <= 0) {
    std::fprintf(stderr, "%s: argument %d must be a positive integer, got '%s'\n", argv[0], i, argv[i]);
    std::exit(2);
  }
  return v;
}
static void print_checksum(uint64_t sum) { std::printf("checksum %016llx\n", (unsigned long long)sum); }

struct Item {
  uint64_t id;
  std::string label;
  std::vector<uint32_t> refs;
};

int main(int argc, char **argv) {
  long steps = arg_long(argc, argv, 1, 3000000);
  long live = arg_long(argc, argv, 2, 20000);
  rng_t r = rng_seed(5);
  std::map<std::string, std::string> names;
  std::unordered_map<uint64_t, std::shared_ptr<Item>> items;
  uint64_t sum = 0;
  for (long i = 0; i < steps; i++) {
    uint64_t x = rng_next(&r);
    uint64_t key = x % (uint64_t)live;
    switch ((x >> 32) % 4) {
    case 0: { // a name set or rewritten: the key and the value are heap strings past the inline buffer
      std::string k = "customer/" + std::to_string(key) + "/name";
      names[k].assign(rng_range(&r, 16, 200), (char)('a' + key % 26));
      break;
    }
    case 1: { // a name erased
      auto it = names.find("customer/" + std::to_string(key) + "/name");
      if (it != names.end()) {
        sum += it->second.size();
        names.erase(it);
      }
      break;
    }
    case 2: { // an item made, replacing the one under its id
      auto item = std::make_shared<Item>();
      item->id = key;
      item->label = "item-" + std::to_string(x % 100000) + "-label";
      item->refs.resize(rng_range(&r, 0, 24), (uint32_t)key);
      items[key] = std::move(item);
      break;
    }
    default: { // an item read and grown, or dropped
      auto it = items.find(key);
      if (it == items.end()) break;
      sum += it->second->refs.size() + it->second->label.size();
      if (x & 1) it->second->refs.push_back((uint32_t)i);
      else items.erase(it);
    }
    }
  }
  for (auto &kv : names) sum += kv.first.size() + kv.second.size();
  sum += items.size();
  print_checksum(sum);
  return 0;
}
