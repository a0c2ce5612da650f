/* pools.c — hk_pool and hk_arena against what programs use instead: hk_malloc/hk_free and glibc's
 * malloc/free for fixed-size objects; APR pools, talloc, obstack (and plain malloc/free) for the
 * request-scoped memory of a server. Unlike the other workloads here it links heapkit (the
 * hk_-only library, so glibc's malloc stays glibc's) and APR and talloc when they are installed.
 *
 *   pools [--runs N] [--quick] [--cpu] [--only W,..]  the driver: every workload under every peer, each run
 *                                             in a process of its own started by bench/measure (so
 *                                             ru_maxrss is that run's), peers alternating, medians;
 *                                             prints markdown tables
 *   pools run WORKLOAD PEER [PERCENT]         one run; prints "seconds S cpu C checksum X" (the loop only)
 *
 * Workloads (objects are 72 bytes, a typical small struct):
 *   churn     one thread replaces random objects of a live set of 1,024 (a pool's usual population)
 *   churn-16k the same with 16,384 live objects: 1.2 MiB, so cache misses weigh as much
 *   churn-64, churn-200  the same with 100,000 live objects of 64 or 200 bytes (6-20 MiB)
 *   replace, replace-64  churn and churn-64 with the replacement allocated before the old object is
 *             freed: no peer can hand the object just freed straight back (a free list's free and
 *             alloc then fold into nothing in churn's order)
 *   burst     one thread allocates 256 objects, then frees them all, over and over (request-scoped objects)
 *   batch     1,024 live; each round frees 64 objects at random slots (in that random order), then
 *             allocates 64 into those slots: frees and allocations apart, as a program that drops a
 *             batch of entries and then takes new ones (no free's object is the next alloc's)
 *   batch-64  the same with 100,000 live 64-byte objects, batches of 256
 *   fifo      16,384 live in a queue; each round frees the 64 oldest, then allocates 64 new
 *             (objects freed in the order they were made, not the reverse)
 *   churn-mt  two threads, each a churn of its own (1,024 live), one pool
 *   churn-mt4 the same with four threads
 *   batch-mt  two threads, each a batch of its own (1,024 live), one pool
 *   xfree-mt  one thread allocates, another frees (through a lock-free ring): cross-thread frees
 *   request   requests in waves of 256 in flight (one per connection); per request 30-50 allocations of
 *             16-256 bytes, 4 strdup, 2 printf; when the wave is built, each request's memory is
 *             freed at once (reset, clear, free, obstack_free to a mark)
 *   arena-grow one region grows to 64 MiB of 16-256-byte allocations and is destroyed; the run also
 *             prints what stays resident after the destroy
 * Peers of the region workloads: hk_arena, hk_arena_8 (HK_ARENA_ALIGN_8: 8-byte alignment, as
 * APR's), APR pools, talloc, obstack, glibc (malloc and free of each block).
 * Peers of the object workloads: hk_pool (HK_POOL_LOCAL, through heapkit_pool_inline.h's inline
 * paths), hk_pool_shared (HK_POOL_SHARED, the same calls), hk_pool_call (HK_POOL_LOCAL through
 * the library's functions, not inlined), hk_malloc, glibc, freelist (a free list per thread in front of malloc), freelist_mutex (one
 * free list behind a mutex), floor (an unchecked slab free list, one thread).
 * Each run first allocates and frees one block with glibc's malloc and one with hk_malloc, so
 * both allocators are set up in every process and peak RSS compares what the workload used. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* obstack_printf, vasprintf */
#endif
#include "bench.h"

#include <heapkit.h>
#include <heapkit_pool_inline.h> /* hk_pool_alloc/free inlined: what a program after speed writes */
#include <obstack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#ifdef HAVE_APR
#include <apr_pools.h>
#include <apr_strings.h>
#endif
#ifdef HAVE_TALLOC
#include <talloc.h>
#endif

#define OBJ_SIZE 72
#define LIVE_SMALL 1024  /* a pool's typical population: the allocator's own cost shows */
#define LIVE_BIG 16384   /* 1.2 MiB of objects: cache misses weigh as much */
#define LIVE_HUGE 100000 /* churn-64, churn-200: a big live set, 6-20 MiB of objects */
#define BURST 256
#define BATCH_SMALL 64 /* batch, fifo, batch-mt: objects freed, then allocated, per round */
#define BATCH_BIG 256  /* batch-64 */
#define CONNECTIONS 256

static long g_percent = 100;
static long scaled(long n) { return n * g_percent / 100 > 0 ? n * g_percent / 100 : 1; }

static double clock_seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }
static double cpu_now(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }
static bool g_use_cpu; /* --cpu: tabulate CPU time (all threads) instead of wall time */

/* ------------------------------------------------------------------ object workloads */

/* Each peer's alloc/free, called directly (no function pointer) so every peer pays one call. */
static hk_pool_t *g_pool;
static size_t g_obj_size = OBJ_SIZE; /* the workload's object size (churn-64, churn-200 change it) */
#define HK_POOL_ALLOC() hk_pool_alloc(g_pool)
#define HK_POOL_FREE(p) hk_pool_free(g_pool, (p))
#define HK_POOL_CALL_ALLOC() (hk_pool_alloc)(g_pool) /* the library's functions, not inlined */
#define HK_POOL_CALL_FREE(p) (hk_pool_free)(g_pool, (p))
#define HK_MALLOC_ALLOC() hk_malloc(g_obj_size)
#define HK_MALLOC_FREE(p) hk_free(p)
#define GLIBC_ALLOC() malloc(g_obj_size)
#define GLIBC_FREE(p) free(p)

/* What a program writes instead of a pool: a free list of its objects in front of malloc, one
 * per thread (objects freed by a thread join its list, as glibc's tcache does), or one for all
 * threads behind a mutex. */
typedef struct free_node_s {
  struct free_node_s *next;
} free_node_t;
static __thread free_node_t *g_thread_list;
static inline void *freelist_alloc(void) {
  free_node_t *n = g_thread_list;
  if (n == NULL) return xmalloc(g_obj_size);
  g_thread_list = n->next;
  return n;
}
static inline void freelist_free(void *p) {
  free_node_t *n = p;
  n->next = g_thread_list;
  g_thread_list = n;
}
static pthread_mutex_t g_list_lock = PTHREAD_MUTEX_INITIALIZER;
static free_node_t *g_shared_list;
static inline void *freelist_mutex_alloc(void) {
  pthread_mutex_lock(&g_list_lock);
  free_node_t *n = g_shared_list;
  if (n != NULL) g_shared_list = n->next;
  pthread_mutex_unlock(&g_list_lock);
  return n != NULL ? (void *)n : xmalloc(g_obj_size);
}
static inline void freelist_mutex_free(void *p) {
  free_node_t *n = p;
  pthread_mutex_lock(&g_list_lock);
  n->next = g_shared_list;
  g_shared_list = n;
  pthread_mutex_unlock(&g_list_lock);
}
#define FREELIST_ALLOC() freelist_alloc()
#define FREELIST_FREE(p) freelist_free(p)
#define FREELIST_MUTEX_ALLOC() freelist_mutex_alloc()
#define FREELIST_MUTEX_FREE(p) freelist_mutex_free(p)

typedef struct obj_s {
  uint64_t value;
  uint64_t rest[(OBJ_SIZE - 8) / 8];
} obj_t;

static size_t gcd_size(size_t a, size_t b) {
  while (b != 0) {
    size_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

#define DEFINE_OBJECT_LOOPS(NAME, ALLOC, FREE)                                         \
  /* the live set every loop starts from: `live` objects, each holding its index */     \
  static obj_t **live_set_##NAME(long live) {                                          \
    obj_t **slots = xmalloc((size_t)live * sizeof *slots);                             \
    for (long i = 0; i < live; i++) {                                                  \
      slots[i] = ALLOC();                                                              \
      slots[i]->value = (uint64_t)i;                                                   \
    }                                                                                  \
    return slots;                                                                      \
  }                                                                                    \
  /* churn frees a slot's object before it allocates the new one; replace after */     \
  static inline __attribute__((always_inline)) uint64_t slots_##NAME(                  \
      long iters, uint64_t seed, long live, bool alloc_first) {                        \
    obj_t **slots = live_set_##NAME(live);                                             \
    rng_t r = rng_seed(seed);                                                          \
    uint64_t sum = 0;                                                                  \
    for (long i = 0; i < iters; i++) {                                                 \
      size_t k = (size_t)(((rng_next(&r) >> 32) * (uint64_t)live) >> 32);              \
      obj_t *o = NULL;                                                                 \
      if (alloc_first) {                                                               \
        o = ALLOC();                                                                   \
        o->value = (uint64_t)i;                                                        \
      }                                                                                \
      sum += slots[k]->value;                                                          \
      FREE(slots[k]);                                                                  \
      if (!alloc_first) {                                                              \
        o = ALLOC();                                                                   \
        o->value = (uint64_t)i;                                                        \
      }                                                                                \
      slots[k] = o;                                                                    \
    }                                                                                  \
    for (long i = 0; i < live; i++) {                                                  \
      sum += slots[i]->value;                                                          \
      FREE(slots[i]);                                                                  \
    }                                                                                  \
    free(slots);                                                                       \
    return sum;                                                                        \
  }                                                                                    \
  static uint64_t churn_##NAME(long iters, uint64_t seed, long live) {                 \
    return slots_##NAME(iters, seed, live, false);                                     \
  }                                                                                    \
  static uint64_t replace_##NAME(long iters, uint64_t seed, long live) {               \
    return slots_##NAME(iters, seed, live, true);                                      \
  }                                                                                    \
  static uint64_t burst_##NAME(long rounds) {                                          \
    obj_t *batch[BURST];                                                               \
    uint64_t sum = 0;                                                                  \
    for (long r = 0; r < rounds; r++) {                                                \
      for (int i = 0; i < BURST; i++) {                                                \
        batch[i] = ALLOC();                                                            \
        batch[i]->value = (uint64_t)(r + i);                                           \
      }                                                                                \
      for (int i = 0; i < BURST; i++) {                                                \
        sum += batch[i]->value;                                                        \
        FREE(batch[i]);                                                                \
      }                                                                                \
    }                                                                                  \
    return sum;                                                                        \
  }                                                                                    \
  /* batch: each round frees BATCH objects of the live set, then allocates BATCH into  \
   * their slots; random: slots start + j * step (step coprime with live, so distinct),  \
   * objects freed in random order; else the oldest (a queue: freed in the order they \
   * were made, reused in the reverse). No free is followed by the alloc of its object. */ \
  static uint64_t batch_##NAME(long iters, uint64_t seed, long live, long batch, bool random) { \
    obj_t **slots = live_set_##NAME(live);                                             \
    size_t *picked = xmalloc((size_t)batch * sizeof *picked);                          \
    rng_t r = rng_seed(seed);                                                          \
    uint64_t sum = 0;                                                                  \
    size_t oldest = 0;                                                                 \
    for (long i = 0; i < iters; i += batch) {                                          \
      size_t start = oldest, step = 1;                                                 \
      if (random) {                                                                    \
        start = (size_t)(rng_next(&r) % (uint64_t)live);                               \
        step = (size_t)(rng_next(&r) % (uint64_t)live) | 1;                            \
        while (gcd_size(step, (size_t)live) != 1) step += 2;                           \
      }                                                                                \
      size_t k = start;                                                                \
      for (long j = 0; j < batch; j++) {                                               \
        picked[j] = k;                                                                 \
        sum += slots[k]->value;                                                        \
        FREE(slots[k]);                                                                \
        k += step; /* step < live: one subtraction keeps k in range */                 \
        if (k >= (size_t)live) k -= (size_t)live;                                      \
      }                                                                                \
      for (long j = 0; j < batch; j++) {                                               \
        obj_t *o = ALLOC();                                                            \
        o->value = (uint64_t)(i + j);                                                  \
        slots[picked[j]] = o;                                                          \
      }                                                                                \
      oldest = (oldest + (size_t)batch) % (size_t)live;                                \
    }                                                                                  \
    for (long i = 0; i < live; i++) {                                                  \
      sum += slots[i]->value;                                                          \
      FREE(slots[i]);                                                                  \
    }                                                                                  \
    free(picked);                                                                      \
    free(slots);                                                                       \
    return sum;                                                                        \
  }

/* The cross-thread ring: one producer, one consumer, no lock. */
#define RING 4096
typedef struct ring_s {
  _Alignas(64) _Atomic size_t head; /* written by the producer */
  _Alignas(64) _Atomic size_t tail; /* written by the consumer */
  _Alignas(64) obj_t *slots[RING];
  long count;
  uint64_t sum;
} ring_t;

static void ring_push(ring_t *q, obj_t *o) {
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  while (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING) sched_yield();
  q->slots[h % RING] = o;
  atomic_store_explicit(&q->head, h + 1, memory_order_release);
}

static obj_t *ring_pop(ring_t *q) {
  size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  while (atomic_load_explicit(&q->head, memory_order_acquire) == t) sched_yield();
  obj_t *o = q->slots[t % RING];
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
  return o;
}

#define DEFINE_XFREE(NAME, ALLOC, FREE)                                                \
  static void *xfree_producer_##NAME(void *arg) {                                      \
    ring_t *q = arg;                                                                   \
    for (long i = 0; i < q->count; i++) {                                              \
      obj_t *o = ALLOC();                                                              \
      o->value = (uint64_t)i;                                                          \
      ring_push(q, o);                                                                 \
    }                                                                                  \
    return NULL;                                                                       \
  }                                                                                    \
  static void *xfree_consumer_##NAME(void *arg) {                                      \
    ring_t *q = arg;                                                                   \
    for (long i = 0; i < q->count; i++) {                                              \
      obj_t *o = ring_pop(q);                                                          \
      q->sum += o->value;                                                              \
      FREE(o);                                                                         \
    }                                                                                  \
    return NULL;                                                                       \
  }

DEFINE_OBJECT_LOOPS(hkpool, HK_POOL_ALLOC, HK_POOL_FREE)
DEFINE_OBJECT_LOOPS(hkpoolcall, HK_POOL_CALL_ALLOC, HK_POOL_CALL_FREE)
DEFINE_OBJECT_LOOPS(hkmalloc, HK_MALLOC_ALLOC, HK_MALLOC_FREE)
DEFINE_OBJECT_LOOPS(glibc, GLIBC_ALLOC, GLIBC_FREE)
DEFINE_OBJECT_LOOPS(freelist, FREELIST_ALLOC, FREELIST_FREE)
DEFINE_OBJECT_LOOPS(freelist_mutex, FREELIST_MUTEX_ALLOC, FREELIST_MUTEX_FREE)

/* The floor: an unchecked free list threaded through one preallocated slab, in the manner of
 * Boost.Pool's simple segregated storage: no checks, no threads, no growth. The loop's time with
 * it is the loop's own cost; the others' alloc+free cost is their time minus this one's. */
static obj_t *g_floor_head;
static void floor_init(long n) {
  size_t stride = (g_obj_size + 7) & ~(size_t)7;
  uint8_t *slab = xmalloc((size_t)n * stride);
  for (long i = 0; i < n; i++) *(uint8_t **)(slab + (size_t)i * stride) = i + 1 < n ? slab + (size_t)(i + 1) * stride : NULL;
  g_floor_head = (obj_t *)slab;
}
static inline obj_t *floor_alloc(void) {
  obj_t *o = g_floor_head;
  g_floor_head = *(obj_t **)o;
  return o;
}
static inline void floor_free(obj_t *o) {
  *(obj_t **)o = g_floor_head;
  g_floor_head = o;
}
#define FLOOR_ALLOC() floor_alloc()
#define FLOOR_FREE(p) floor_free(p)
DEFINE_OBJECT_LOOPS(floor, FLOOR_ALLOC, FLOOR_FREE)
DEFINE_XFREE(hkpool, HK_POOL_ALLOC, HK_POOL_FREE)
DEFINE_XFREE(hkpoolcall, HK_POOL_CALL_ALLOC, HK_POOL_CALL_FREE)
DEFINE_XFREE(hkmalloc, HK_MALLOC_ALLOC, HK_MALLOC_FREE)
DEFINE_XFREE(glibc, GLIBC_ALLOC, GLIBC_FREE)
DEFINE_XFREE(freelist, FREELIST_ALLOC, FREELIST_FREE)
DEFINE_XFREE(freelist_mutex, FREELIST_MUTEX_ALLOC, FREELIST_MUTEX_FREE)

typedef struct object_peer_s {
  const char *name;
  unsigned pool_mode; /* 0: not a pool */
  bool one_thread;    /* the floor: not for the threaded workloads */
  uint64_t (*churn)(long, uint64_t, long);
  uint64_t (*burst)(long);
  void *(*producer)(void *);
  void *(*consumer)(void *);
  uint64_t (*replace)(long, uint64_t, long);
  uint64_t (*batch)(long, uint64_t, long, long, bool);
} object_peer_t;

static const object_peer_t k_object_peers[] = {
  {"hk_pool", HK_POOL_LOCAL, false, churn_hkpool, burst_hkpool, xfree_producer_hkpool, xfree_consumer_hkpool, replace_hkpool, batch_hkpool},
  {"hk_pool_shared", HK_POOL_SHARED, false, churn_hkpool, burst_hkpool, xfree_producer_hkpool,
   xfree_consumer_hkpool, replace_hkpool, batch_hkpool},
  {"hk_pool_call", HK_POOL_LOCAL, false, churn_hkpoolcall, burst_hkpoolcall, xfree_producer_hkpoolcall,
   xfree_consumer_hkpoolcall, replace_hkpoolcall, batch_hkpoolcall},
  {"hk_malloc", 0, false, churn_hkmalloc, burst_hkmalloc, xfree_producer_hkmalloc, xfree_consumer_hkmalloc, replace_hkmalloc, batch_hkmalloc},
  {"glibc", 0, false, churn_glibc, burst_glibc, xfree_producer_glibc, xfree_consumer_glibc, replace_glibc, batch_glibc},
  {"freelist", 0, false, churn_freelist, burst_freelist, xfree_producer_freelist, xfree_consumer_freelist, replace_freelist, batch_freelist},
  {"freelist_mutex", 0, false, churn_freelist_mutex, burst_freelist_mutex, xfree_producer_freelist_mutex,
   xfree_consumer_freelist_mutex, replace_freelist_mutex, batch_freelist_mutex},
  {"floor", 0, true, churn_floor, burst_floor, NULL, NULL, replace_floor, batch_floor},
};
#define OBJECT_PEERS (sizeof k_object_peers / sizeof k_object_peers[0])

typedef struct mt_arg_s {
  const object_peer_t *peer;
  long iters;
  uint64_t seed, sum;
} mt_arg_t;

static void *churn_thread(void *arg) {
  mt_arg_t *a = arg;
  a->sum = a->peer->churn(a->iters, a->seed, LIVE_SMALL);
  return NULL;
}
static void *batch_thread(void *arg) {
  mt_arg_t *a = arg;
  a->sum = a->peer->batch(a->iters, a->seed, LIVE_SMALL, BATCH_SMALL, true);
  return NULL;
}

/* THREADS threads on one pool, each running `body` over its share of the iterations. */
static uint64_t run_threads(const object_peer_t *peer, int threads, long iters, void *(*body)(void *)) {
  mt_arg_t args[4];
  pthread_t t[4];
  for (int i = 0; i < threads; i++) {
    args[i] = (mt_arg_t){peer, iters / threads, (uint64_t)i + 1, 0};
    pthread_create(&t[i], NULL, body, &args[i]);
  }
  uint64_t sum = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    sum += args[i].sum;
  }
  return sum;
}

static int run_objects(const char *workload, const object_peer_t *peer) {
  if (peer->one_thread && strstr(workload, "-mt") != NULL) return 2;
  if (strcmp(workload, "churn-64") == 0 || strcmp(workload, "replace-64") == 0 || strcmp(workload, "batch-64") == 0)
    g_obj_size = 64;
  if (strcmp(workload, "churn-200") == 0) g_obj_size = 200;
  if (peer->pool_mode) g_pool = hk_pool_create("bench", g_obj_size, 0, peer->pool_mode, NULL, NULL, NULL);
  if (peer->one_thread) floor_init((g_obj_size == OBJ_SIZE ? LIVE_BIG : LIVE_HUGE) + 1);
  uint64_t sum = 0;
  double start = now(), cpu_start = cpu_now();
  if (strcmp(workload, "churn") == 0) {
    sum = peer->churn(scaled(20000000), 1, LIVE_SMALL);
  } else if (strcmp(workload, "churn-16k") == 0) {
    sum = peer->churn(scaled(20000000), 1, LIVE_BIG);
  } else if (strcmp(workload, "churn-64") == 0 || strcmp(workload, "churn-200") == 0) {
    sum = peer->churn(scaled(20000000), 1, LIVE_HUGE);
  } else if (strcmp(workload, "replace") == 0) {
    sum = peer->replace(scaled(20000000), 1, LIVE_SMALL);
  } else if (strcmp(workload, "replace-64") == 0) {
    sum = peer->replace(scaled(20000000), 1, LIVE_HUGE);
  } else if (strcmp(workload, "burst") == 0) {
    sum = peer->burst(scaled(80000));
  } else if (strcmp(workload, "batch") == 0) {
    sum = peer->batch(scaled(20000000), 1, LIVE_SMALL, BATCH_SMALL, true);
  } else if (strcmp(workload, "batch-64") == 0) {
    sum = peer->batch(scaled(20000000), 1, LIVE_HUGE, BATCH_BIG, true);
  } else if (strcmp(workload, "fifo") == 0) {
    sum = peer->batch(scaled(20000000), 1, LIVE_BIG, BATCH_SMALL, false);
  } else if (strcmp(workload, "churn-mt") == 0) {
    sum = run_threads(peer, 2, scaled(20000000), churn_thread);
  } else if (strcmp(workload, "churn-mt4") == 0) {
    sum = run_threads(peer, 4, scaled(20000000), churn_thread);
  } else if (strcmp(workload, "batch-mt") == 0) {
    sum = run_threads(peer, 2, scaled(20000000), batch_thread);
  } else if (strcmp(workload, "xfree-mt") == 0) {
    ring_t *q = xmalloc(sizeof *q);
    memset(q, 0, sizeof *q);
    q->count = scaled(10000000);
    pthread_t p, c;
    pthread_create(&c, NULL, peer->consumer, q);
    pthread_create(&p, NULL, peer->producer, q);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    sum = q->sum;
    free(q);
  } else {
    return 2;
  }
  double seconds = now() - start, cpu = cpu_now() - cpu_start;
  if (g_pool) hk_pool_destroy(g_pool);
  printf("seconds %.6f cpu %.6f checksum %016llx\n", seconds, cpu, (unsigned long long)sum);
  return 0;
}

/* ------------------------------------------------------------------ the request workload */

static bool is_region(const char *workload) { return strcmp(workload, "request") == 0 || strcmp(workload, "arena-grow") == 0; }

static const char *const k_headers[] = {
  "Host: www.example.com", "User-Agent: bench-client/1.0 (X11; Linux x86_64)", "Accept: text/html,application/xml",
  "Accept-Language: en-US,en;q=0.5", "Cookie: session=4f2a9c81d07b3e55; theme=dark", "Connection: keep-alive",
};
static const char *const k_paths[] = {"/", "/index.html", "/api/v1/items", "/static/app.js", "/users/profile"};

/* One request's work against any allocator; ALLOC/STRDUP/PRINTF2 are the peer's calls (macros:
 * their arguments are evaluated once each). */
#define REQUEST_BODY(ALLOC, STRDUP, PRINTF2)                                           \
  do {                                                                                 \
    int n = 30 + (int)(rng_next(&r) % 21);                                             \
    for (int i = 0; i < n; i++) {                                                      \
      size_t size = rng_skewed(&r, 16, 256);                                           \
      uint8_t *mem_ = ALLOC(size);                                                     \
      mem_[0] = (uint8_t)i;                                                            \
      mem_[size - 1] = (uint8_t)size;                                                  \
      sum += mem_[0] + mem_[size - 1];                                                 \
    }                                                                                  \
    for (int i = 0; i < 4; i++) {                                                      \
      const char *src_ = k_headers[rng_next(&r) % 6];                                  \
      char *h = STRDUP(src_);                                                          \
      sum += (uint8_t)h[0] + strlen(h);                                                \
    }                                                                                  \
    for (int i = 0; i < 2; i++) {                                                      \
      char *s = PRINTF2("GET %s?id=%d&conn=%d HTTP/1.1", k_paths[rng_next(&r) % 5],    \
                        (int)(rng_next(&r) % 100000), conn);                           \
      sum += strlen(s);                                                                \
    }                                                                                  \
  } while (0)

/* Requests come in waves of CONNECTIONS: each wave builds one request per connection, so that
 * many are in flight (and in memory) at once, then completes them all, freeing each request's
 * memory at once. */
static unsigned g_arena_flags; /* hk_arena_8: HK_ARENA_ALIGN_8 */
static uint64_t request_hk_arena(long requests) {
  hk_arena_t *arenas[CONNECTIONS];
  for (int c = 0; c < CONNECTIONS; c++) arenas[c] = hk_arena_create("request", NULL, g_arena_flags);
  rng_t r = rng_seed(7);
  uint64_t sum = 0;
  for (long q = 0; q < requests; q += CONNECTIONS) {
    for (int conn = 0; conn < CONNECTIONS; conn++) {
      hk_arena_t *a = arenas[conn];
#define A_ALLOC(n) hk_arena_alloc(a, (n))
#define A_STRDUP(s) hk_arena_strdup(a, (s))
#define A_PRINTF(...) hk_arena_printf(a, __VA_ARGS__)
      REQUEST_BODY(A_ALLOC, A_STRDUP, A_PRINTF);
    }
    for (int conn = 0; conn < CONNECTIONS; conn++) hk_arena_reset(arenas[conn]);
  }
  for (int c = 0; c < CONNECTIONS; c++) hk_arena_destroy(arenas[c]);
  return sum;
}

#ifdef HAVE_APR
static uint64_t request_apr(long requests) {
  apr_initialize();
  apr_pool_t *pools[CONNECTIONS];
  for (int c = 0; c < CONNECTIONS; c++) apr_pool_create(&pools[c], NULL);
  rng_t r = rng_seed(7);
  uint64_t sum = 0;
  for (long q = 0; q < requests; q += CONNECTIONS) {
    for (int conn = 0; conn < CONNECTIONS; conn++) {
      apr_pool_t *pool = pools[conn];
#define P_ALLOC(n) apr_palloc(pool, (n))
#define P_STRDUP(s) apr_pstrdup(pool, (s))
#define P_PRINTF(...) apr_psprintf(pool, __VA_ARGS__)
      REQUEST_BODY(P_ALLOC, P_STRDUP, P_PRINTF);
    }
    for (int conn = 0; conn < CONNECTIONS; conn++) apr_pool_clear(pools[conn]);
  }
  for (int c = 0; c < CONNECTIONS; c++) apr_pool_destroy(pools[c]);
  apr_terminate();
  return sum;
}
#endif

#ifdef HAVE_TALLOC
static uint64_t request_talloc(long requests) {
  void *conns[CONNECTIONS], *ctxs[CONNECTIONS];
  for (int c = 0; c < CONNECTIONS; c++) conns[c] = talloc_new(NULL);
  rng_t r = rng_seed(7);
  uint64_t sum = 0;
  for (long q = 0; q < requests; q += CONNECTIONS) {
    for (int conn = 0; conn < CONNECTIONS; conn++) {
      void *ctx = ctxs[conn] = talloc_new(conns[conn]);
#define T_ALLOC(n) talloc_size(ctx, (n))
#define T_STRDUP(s) talloc_strdup(ctx, (s))
#define T_PRINTF(...) talloc_asprintf(ctx, __VA_ARGS__)
      REQUEST_BODY(T_ALLOC, T_STRDUP, T_PRINTF);
    }
    for (int conn = 0; conn < CONNECTIONS; conn++) talloc_free(ctxs[conn]);
  }
  for (int c = 0; c < CONNECTIONS; c++) talloc_free(conns[c]);
  return sum;
}
#endif

#define obstack_chunk_alloc xmalloc
#define obstack_chunk_free free

static char *obstack_format(struct obstack *ob, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  obstack_vprintf(ob, fmt, ap);
  va_end(ap);
  obstack_1grow(ob, '\0');
  return obstack_finish(ob);
}

static uint64_t request_obstack(long requests) {
  static struct obstack obs[CONNECTIONS];
  void *marks[CONNECTIONS];
  for (int c = 0; c < CONNECTIONS; c++) obstack_init(&obs[c]);
  rng_t r = rng_seed(7);
  uint64_t sum = 0;
  for (long q = 0; q < requests; q += CONNECTIONS) {
    for (int conn = 0; conn < CONNECTIONS; conn++) {
      struct obstack *ob = &obs[conn];
      marks[conn] = obstack_alloc(ob, 1); /* obstack_free(ob, mark) frees it and all after it */
#define O_ALLOC(n) obstack_alloc(ob, (n))
#define O_STRDUP(s) obstack_copy0(ob, (s), strlen(s))
#define O_PRINTF(...) obstack_format(ob, __VA_ARGS__)
      REQUEST_BODY(O_ALLOC, O_STRDUP, O_PRINTF);
    }
    for (int conn = 0; conn < CONNECTIONS; conn++) obstack_free(&obs[conn], marks[conn]);
  }
  for (int c = 0; c < CONNECTIONS; c++) obstack_free(&obs[c], NULL);
  return sum;
}

/* No region: every allocation malloc'ed, remembered, and freed when its request completes. */
static char *malloc_format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) abort();
  va_end(ap);
  return s;
}

static uint64_t request_glibc(long requests) {
  rng_t r = rng_seed(7);
  uint64_t sum = 0;
  static void *held[CONNECTIONS][64];
  int nheld[CONNECTIONS] = {0};
  for (long q = 0; q < requests; q += CONNECTIONS) {
    for (int conn = 0; conn < CONNECTIONS; conn++) {
#define M_KEEP(x) (held[conn][nheld[conn]++] = (x))
#define M_ALLOC(n) ((uint8_t *)M_KEEP(xmalloc(n)))
#define M_STRDUP(s) ((char *)M_KEEP(strdup(s)))
#define M_PRINTF(...) ((char *)M_KEEP(malloc_format(__VA_ARGS__)))
      REQUEST_BODY(M_ALLOC, M_STRDUP, M_PRINTF);
    }
    for (int conn = 0; conn < CONNECTIONS; conn++)
      while (nheld[conn] > 0) free(held[conn][--nheld[conn]]);
  }
  return sum;
}

/* arena-grow: one region grows to 64 MiB of small allocations and is destroyed; the run prints
 * how much stays resident afterwards (memory the region's allocator kept). */
#define GROW_BYTES ((long)64 << 20)
static long resident_kb(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}
#define GROW_BODY(ALLOC)                                                               \
  do {                                                                                 \
    rng_t r = rng_seed(11);                                                            \
    for (long used = 0; used < scaled(GROW_BYTES);) {                                  \
      size_t size = rng_skewed(&r, 16, 256);                                           \
      uint8_t *mem_ = ALLOC(size);                                                     \
      mem_[0] = (uint8_t)used;                                                         \
      mem_[size - 1] = (uint8_t)size;                                                  \
      sum += mem_[0] + mem_[size - 1];                                                 \
      used += (long)size;                                                              \
    }                                                                                  \
  } while (0)
static uint64_t request_hk_arena_8(long requests) {
  g_arena_flags = HK_ARENA_ALIGN_8;
  return request_hk_arena(requests);
}
static uint64_t grow_hk_arena(void);
static uint64_t grow_hk_arena_8(void) {
  g_arena_flags = HK_ARENA_ALIGN_8;
  return grow_hk_arena();
}
static uint64_t grow_hk_arena(void) {
  uint64_t sum = 0;
  hk_arena_t *a = hk_arena_create("grow", NULL, g_arena_flags);
  GROW_BODY(A_ALLOC);
  hk_arena_destroy(a);
  return sum;
}
#ifdef HAVE_APR
static uint64_t grow_apr(void) {
  uint64_t sum = 0;
  apr_initialize();
  apr_pool_t *pool;
  apr_pool_create(&pool, NULL);
  GROW_BODY(P_ALLOC);
  apr_pool_destroy(pool);
  return sum; /* apr_terminate would free APR's own cache too: a server does not call it */
}
#endif
#ifdef HAVE_TALLOC
static uint64_t grow_talloc(void) {
  uint64_t sum = 0;
  void *ctx = talloc_new(NULL);
  GROW_BODY(T_ALLOC);
  talloc_free(ctx);
  return sum;
}
#endif
static uint64_t grow_obstack(void) {
  uint64_t sum = 0;
  static struct obstack obs;
  struct obstack *ob = &obs;
  obstack_init(ob);
  GROW_BODY(O_ALLOC);
  obstack_free(ob, NULL);
  return sum;
}
static uint64_t grow_glibc(void) {
  uint64_t sum = 0;
  size_t cap = 1 << 16, n = 0;
  void **held = xmalloc(cap * sizeof *held);
#define G_ALLOC(size) (n == cap ? (held = realloc(held, (cap *= 2) * sizeof *held)) : NULL, held[n++] = xmalloc(size))
  GROW_BODY(G_ALLOC);
  while (n > 0) free(held[--n]);
  free(held);
  return sum;
}

typedef struct request_peer_s {
  const char *name;
  uint64_t (*run)(long requests);
  uint64_t (*grow)(void);
} request_peer_t;

static const request_peer_t k_request_peers[] = {
  {"hk_arena", request_hk_arena, grow_hk_arena},
  {"hk_arena_8", request_hk_arena_8, grow_hk_arena_8},
#ifdef HAVE_APR
  {"apr", request_apr, grow_apr},
#endif
#ifdef HAVE_TALLOC
  {"talloc", request_talloc, grow_talloc},
#endif
  {"obstack", request_obstack, grow_obstack},
  {"glibc", request_glibc, grow_glibc},
};
#define REQUEST_PEERS (sizeof k_request_peers / sizeof k_request_peers[0])

static int run_request(const char *workload, const request_peer_t *peer) {
  double start = now(), cpu_start = cpu_now();
  bool grow = strcmp(workload, "arena-grow") == 0;
  uint64_t sum = grow ? peer->grow() : peer->run(scaled(200000));
  double seconds = now() - start, cpu = cpu_now() - cpu_start;
  printf("seconds %.6f cpu %.6f checksum %016llx resident_kb %ld\n", seconds, cpu, (unsigned long long)sum,
         grow ? resident_kb() : 0L);
  return 0;
}

/* ------------------------------------------------------------------ the driver */

static const char *const k_workloads[] = {"churn",    "churn-16k", "churn-64",  "churn-200", "replace",  "replace-64",
                                          "burst",    "batch",     "batch-64",  "fifo",      "churn-mt", "churn-mt4",
                                          "batch-mt", "xfree-mt",  "request",   "arena-grow"};
#define WORKLOADS (sizeof k_workloads / sizeof k_workloads[0])
#define PEERS_MAX 8
#define RUNS_MAX 31

static size_t peer_count(size_t w) { return is_region(k_workloads[w]) ? REQUEST_PEERS : OBJECT_PEERS; }
static bool peer_runs(size_t w, size_t p) {
  return is_region(k_workloads[w]) || !k_object_peers[p].one_thread || strstr(k_workloads[w], "-mt") == NULL;
}
static const char *peer_name(size_t w, size_t p) {
  return is_region(k_workloads[w]) ? k_request_peers[p].name : k_object_peers[p].name;
}

typedef struct result_s {
  double seconds[RUNS_MAX];
  long rss_kb[RUNS_MAX];
  long resident_kb[RUNS_MAX]; /* arena-grow: after the region was destroyed */
  int runs;
  char checksum[32];
  bool failed, mismatch;
} result_t;

/* One run in a fresh process, launched through bench/measure: a fork of this driver would start
 * with the driver's RSS, and exec keeps the larger peak, so a small fresh parent execs the run:
 * `measure RESULT pools run WORKLOAD PEER PERCENT`. */
static void measure(const char *workload, const char *peer, result_t *res) {
  static char exe[4096], launcher[4200];
  if (exe[0] == '\0') {
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(launcher, sizeof launcher, "%.*s/measure", (int)(strrchr(exe, '/') - exe), exe);
  }
  char result[] = "/tmp/pools-result-XXXXXX";
  int rfd = mkstemp(result);
  if (rfd < 0) exit(1);
  close(rfd);
  int fds[2];
  if (pipe(fds) != 0) exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    char pct[16];
    snprintf(pct, sizeof pct, "%ld", g_percent);
    execl(launcher, "measure", result, exe, "run", workload, peer, pct, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char out[256] = "";
  ssize_t n = read(fds[0], out, sizeof out - 1);
  out[n > 0 ? n : 0] = '\0';
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int child_status = -1;
  double seconds, cpu_loop, wall, cpu;
  long rss_kb = 0;
  char checksum[32];
  FILE *f = fopen(result, "r");
  bool parsed = f != NULL && fscanf(f, "status=%d seconds=%lf cpu_seconds=%lf maxrss_kb=%ld", &child_status, &wall,
                                    &cpu, &rss_kb) == 4;
  if (f != NULL) fclose(f);
  unlink(result);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !parsed || child_status != 0 ||
      sscanf(out, "seconds %lf cpu %lf checksum %31s", &seconds, &cpu_loop, checksum) != 3) {
    if (!res->failed) fprintf(stderr, "pools: %s %s failed (is %s built?)\n", workload, peer, launcher);
    res->failed = true;
    return;
  }
  if (res->runs == 0) strcpy(res->checksum, checksum);
  else if (strcmp(res->checksum, checksum) != 0) res->mismatch = true;
  res->seconds[res->runs] = g_use_cpu ? cpu_loop : seconds;
  res->rss_kb[res->runs] = rss_kb;
  const char *resident = strstr(out, "resident_kb ");
  res->resident_kb[res->runs] = resident != NULL ? atol(resident + 12) : 0;
  res->runs++;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median_seconds(const result_t *r) {
  double v[RUNS_MAX];
  memcpy(v, r->seconds, sizeof(double) * (size_t)r->runs);
  qsort(v, (size_t)r->runs, sizeof v[0], cmp_double);
  return v[r->runs / 2];
}
static double median_rss_mib(const result_t *r, bool after) {
  double v[RUNS_MAX];
  for (int i = 0; i < r->runs; i++) v[i] = (double)(after ? r->resident_kb[i] : r->rss_kb[i]) / 1024.0;
  qsort(v, (size_t)r->runs, sizeof v[0], cmp_double);
  return v[r->runs / 2];
}

typedef enum { SHOW_TIME, SHOW_RSS, SHOW_COST, SHOW_RESIDENT } show_t;

static bool result_ok(const result_t *r) { return !r->failed && r->runs > 0; }

/* The figure a cell shows: median time or RSS; COST: time minus the floor's (object workloads
 * run in one thread only). Negative when unavailable. */
static double cell(result_t res[WORKLOADS][PEERS_MAX], size_t w, size_t p, show_t show) {
  const result_t *r = &res[w][p];
  if (!result_ok(r)) return -1;
  if (show == SHOW_RSS || show == SHOW_RESIDENT) return median_rss_mib(r, show == SHOW_RESIDENT);
  double t = median_seconds(r);
  if (show == SHOW_TIME) return t;
  size_t floor_peer = OBJECT_PEERS - 1;
  if (!result_ok(&res[w][floor_peer])) return -1;
  return t - median_seconds(&res[w][floor_peer]);
}

static void print_table(bool objects, const char *title, result_t res[WORKLOADS][PEERS_MAX], show_t show,
                        const bool *wanted) {
  size_t rows[WORKLOADS], nrows = 0;
  for (size_t w = 0; w < WORKLOADS; w++) {
    bool is_objects = !is_region(k_workloads[w]);
    if (!wanted[w] || objects != is_objects) continue;
    if (show == SHOW_COST && strstr(k_workloads[w], "-mt") != NULL) continue;
    if (show == SHOW_RESIDENT && strcmp(k_workloads[w], "arena-grow") != 0) continue;
    rows[nrows++] = w;
  }
  if (nrows == 0) return;
  size_t np = peer_count(rows[0]);
  if (show == SHOW_COST) np--; /* the floor itself */
  printf("\n### %s\n\n| workload |", title);
  for (size_t p = 0; p < np; p++) printf(" %s |", peer_name(rows[0], p));
  for (size_t p = 1; p < np; p++)
    if (strcmp(peer_name(rows[0], p), "floor") != 0) printf(" %s / %s |", peer_name(rows[0], p), peer_name(rows[0], 0));
  printf("\n|---|");
  for (size_t p = 0; p < np; p++) printf("---:|");
  for (size_t p = 1; p < np; p++)
    if (strcmp(peer_name(rows[0], p), "floor") != 0) printf("---:|");
  printf("\n");
  for (size_t i = 0; i < nrows; i++) {
    size_t w = rows[i];
    printf("| %s |", k_workloads[w]);
    double base = cell(res, w, 0, show);
    for (size_t p = 0; p < np; p++) {
      const result_t *r = &res[w][p];
      double v = cell(res, w, p, show);
      if (!peer_runs(w, p)) printf(" — |");
      else if (r->failed) printf(" **FAILED** |");
      else printf(show == SHOW_RSS || show == SHOW_RESIDENT ? " %.1f%s |" : " %.3f%s |", v, r->mismatch ? " **WRONG OUTPUT**" : "");
    }
    for (size_t p = 1; p < np; p++) {
      if (strcmp(peer_name(w, p), "floor") == 0) continue;
      double v = cell(res, w, p, show);
      if (v < 0 || base <= 0) printf(" — |");
      else printf(" %.2f× |", v / base);
    }
    printf("\n");
  }
}

static int driver(int argc, char **argv) {
  int runs = 5;
  bool wanted[WORKLOADS];
  for (size_t w = 0; w < WORKLOADS; w++) wanted[w] = true;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
      if (runs < 1 || runs > RUNS_MAX) runs = 5;
    } else if (strcmp(argv[i], "--cpu") == 0) {
      g_use_cpu = true;
    } else if (strcmp(argv[i], "--quick") == 0) {
      g_percent = 20;
      runs = 3;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      const char *list = argv[++i];
      for (size_t w = 0; w < WORKLOADS; w++) { /* a whole item of the list ("churn" is not "churn-64") */
        size_t len = strlen(k_workloads[w]);
        wanted[w] = false;
        for (const char *hit = strstr(list, k_workloads[w]); hit != NULL && !wanted[w]; hit = strstr(hit + 1, k_workloads[w]))
          wanted[w] = (hit == list || hit[-1] == ',') && (hit[len] == '\0' || hit[len] == ',');
      }
    } else {
      fprintf(stderr, "usage: pools [--runs N] [--quick] [--cpu] [--only churn,churn-16k,churn-64,churn-200,replace,replace-64,burst,batch,batch-64,fifo,churn-mt,churn-mt4,batch-mt,xfree-mt,request,arena-grow]\n"
                      "       pools run WORKLOAD PEER [PERCENT]\n");
      return 2;
    }
  }
  static result_t res[WORKLOADS][PEERS_MAX];
  for (int round = 0; round < runs; round++) {
    for (size_t w = 0; w < WORKLOADS; w++) {
      if (!wanted[w]) continue;
      size_t np = peer_count(w);
      for (size_t k = 0; k < np; k++) { /* the peer that goes first rotates from round to round */
        size_t p = (k + (size_t)round) % np;
        if (!peer_runs(w, p)) continue;
        measure(k_workloads[w], peer_name(w, p), &res[w][p]);
      }
    }
    fprintf(stderr, "pools: round %d of %d done\n", round + 1, runs);
  }
  printf("Medians of %d runs, each in a process of its own; workload scale %ld%%. Time is the workload loop's\n"
         "%s in seconds; peak RSS is the process's ru_maxrss in MiB. Ratios: a peer's figure over\n"
         "the first column's (above 1.00× the first column is faster or smaller). floor: an unchecked\n"
         "single-threaded free list, the loop's own cost; alloc+free cost = a peer's time minus floor's.\n",
         runs, g_percent, g_use_cpu ? "CPU time (all its threads)" : "wall time");
  print_table(true, "Object pools: time (seconds; lower is better)", res, SHOW_TIME, wanted);
  print_table(true, "Object pools: alloc+free cost (seconds: time minus the floor's loop; lower is better)", res,
              SHOW_COST, wanted);
  print_table(true, "Object pools: peak RSS (MiB)", res, SHOW_RSS, wanted);
  print_table(false, "Request arenas: time (seconds; lower is better)", res, SHOW_TIME, wanted);
  print_table(false, "Request arenas: peak RSS (MiB)", res, SHOW_RSS, wanted);
  print_table(false, "A grown region, destroyed: resident afterwards (MiB; lower is better)", res, SHOW_RESIDENT,
              wanted);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "run") == 0) {
    if (argc >= 5) g_percent = arg_long(argc, argv, 4, 100);
    /* Every run starts with both allocators set up (heapkit's first segment, glibc's arena), as
     * in a program that has been running: peak RSS then differs by what the workload uses. */
    free(xmalloc(1));
    hk_free(hk_malloc(1));
    if (is_region(argv[2])) {
      for (size_t p = 0; p < REQUEST_PEERS; p++)
        if (strcmp(argv[3], k_request_peers[p].name) == 0) return run_request(argv[2], &k_request_peers[p]);
    } else {
      for (size_t p = 0; p < OBJECT_PEERS; p++)
        if (strcmp(argv[3], k_object_peers[p].name) == 0) return run_objects(argv[2], &k_object_peers[p]);
    }
    fprintf(stderr, "pools: unknown workload or peer: %s %s\n", argv[2], argv[3]);
    return 2;
  }
  return driver(argc, argv);
}
