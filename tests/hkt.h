/* hkt.h — the test harness shared by every heapkit test: checks that count failures, name
 * mapping so one source tests either the hk_ API (HKT_API) or the standard names (HKT_STD),
 * and small helpers (patterns, pipes, child processes, a JSON checker, a thread-safe queue). */
#ifndef HKT_H
#define HKT_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapkit.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the word-wise test patterns assume a little-endian machine"
#endif

/* ------------------------------------------------------------------ checks */
extern int hkt_failures;
extern const char *hkt_test_name;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) hkt_fail(__FILE__, __LINE__, "%s", #cond);                              \
    } while (0)
/* CHECKF: like CHECK, with a printf-style explanation of the values involved. */
#define CHECKF(cond, ...)                                                                    \
    do {                                                                                     \
        if (!(cond)) hkt_fail(__FILE__, __LINE__, __VA_ARGS__);                              \
    } while (0)
/* REQUIRE: a failed precondition makes the rest of the test meaningless: stop now. */
#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            hkt_fail(__FILE__, __LINE__, "required: %s", #cond);                             \
            exit(hkt_done());                                                                \
        }                                                                                    \
    } while (0)

void hkt_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void hkt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start a test: prints its name, arms a watchdog alarm of `timeout_s` seconds (0: none). */
void hkt_begin(const char *name, unsigned timeout_s);
/* Print the verdict, return the exit status for main. */
int hkt_done(void);

/* ------------------------------------------------------------------ scale */
/* Sanitizers are slow: keep iteration counts modest there. HKT_SCALE (env, percent) scales too. */
#ifdef HKT_SANITIZED
#define HKT_SANITIZER_DIV 5
#else
#define HKT_SANITIZER_DIV 1
#endif
size_t hkt_scaled(size_t n);

/* ------------------------------------------------------------------ names */
/* One conformance source tests both families: T_malloc is hk_malloc or malloc. */
#if defined(HKT_API)
#define T_FAMILY "api"
#define T_malloc hk_malloc
#define T_calloc hk_calloc
#define T_realloc hk_realloc
#define T_reallocarray hk_reallocarray
#define T_free hk_free
#define T_posix_memalign hk_posix_memalign
#define T_aligned_alloc hk_aligned_alloc
#define T_memalign hk_memalign
#define T_valloc hk_valloc
#define T_pvalloc hk_pvalloc
#define T_usable_size hk_usable_size
#elif defined(HKT_STD)
#include <malloc.h>
#define T_FAMILY "std"
#define T_malloc malloc
#define T_calloc calloc
#define T_realloc realloc
#define T_reallocarray reallocarray
#define T_free free
#define T_posix_memalign posix_memalign
#define T_aligned_alloc aligned_alloc
#define T_memalign memalign
#define T_valloc valloc
#define T_pvalloc pvalloc
#define T_usable_size malloc_usable_size
#endif

/* Access to heapkit's own functions in both families. In the std family the test is not linked
 * to heapkit (it is preloaded, or linked), so they are looked up at run time. */
typedef struct hkt_heapkit_s {
    bool present;
    bool (*owns)(const void *);
    void (*stats_get)(hk_stats_t *);
    int (*trim)(void);
    void *(*hk_malloc)(size_t);
} hkt_heapkit_t;
/* Fills the table. In the std family, a missing heapkit is a failure unless HKT_ANY_MALLOC=1
 * (used to try the std tests on glibc or another allocator). */
const hkt_heapkit_t *hkt_heapkit(void);
/* Checks that malloc really is heapkit's (std family): dlsym finds hk_malloc and hk_owns(malloc(8)). */
void hkt_check_running_on_heapkit(void);
/* Snapshot of heapkit stats; false if heapkit is not there (std family with HKT_ANY_MALLOC). */
bool hkt_stats(hk_stats_t *out);
/* The heap errors heapkit counted so far (hk_stats_t.heap_errors); fails the test without hk_stats. */
size_t hkt_heap_errors(void);
/* The environment has name=value, as the test's registration sets it; else a failed check naming it. */
bool hkt_env_is(const char *name, const char *value);

/* ------------------------------------------------------------------ helpers */
/* Hide a pointer's origin from the compiler, so it neither warns about nor optimises
 * deliberate misuse (freeing a stack address, double frees, huge constant sizes). */
static inline void *hkt_launder(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}
static inline size_t hkt_launder_size(size_t n) {
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* A byte pattern that depends on position and seed, to check contents survive moves.
 * Byte i is byte (i % 8) of a mixed 64-bit word for i / 8, so fills and checks go a word at a time. */
static inline uint64_t hkt_pat_word(size_t w, uint32_t seed) {
    uint64_t x = (uint64_t)w * 0x9e3779b97f4a7c15ull + seed;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}
static inline uint8_t hkt_pat(size_t i, uint32_t seed) {
    return (uint8_t)(hkt_pat_word(i / 8, seed) >> (8 * (i % 8)));
}
void hkt_fill(void *p, size_t n, uint32_t seed);
/* Returns the index of the first wrong byte, or (size_t)-1 when all n bytes match. */
size_t hkt_verify(const void *p, size_t n, uint32_t seed);
/* True if all n bytes are zero. */
bool hkt_all_zero(const void *p, size_t n);

/* xorshift PRNG: deterministic runs. */
static inline uint64_t hkt_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

size_t hkt_page_size(void);

/* Collects everything a function writes to file descriptor `fd` while it runs. The text is
 * written into buf (NUL-terminated, truncated to cap-1); returns the total byte count. */
size_t hkt_capture_fd(int fd, void (*fn)(void *), void *arg, char *buf, size_t cap);

/* Runs /proc/self/exe with argv and one extra environment assignment, capturing stderr and
 * stdout together. Returns the waitpid status, or -1. */
int hkt_run_self(char *const argv[], const char *env_assign, unsigned timeout_s, char *out, size_t cap);

/* The fewest minor page faults of `runs` runs of the program at path with argv and one extra
 * environment assignment (NULL: none), its output sent to /dev/null: other processes' noise only
 * adds faults, so the minimum is the program's own. Fails the test if a run does not exit 0. */
long hkt_min_faults(const char *path, char *const argv[], const char *env_assign, int runs);

/* Tests of one misuse per child process. Called as "PROG mode N", the program is such a child:
 * hkt_mode_child runs run_mode(N) and returns its exit status (saying "child survived" on stderr
 * when it is 0); otherwise it returns -1 and main goes on as the parent, which starts mode N with
 * hkt_run_mode (the status and output as hkt_run_self's). */
int hkt_mode_child(int argc, char **argv, int (*run_mode)(int mode));
int hkt_run_mode(const char *self, int mode, const char *env_assign, char *out, size_t cap);
/* A child names the exact address it misused on stdout ("ADDR 0x..."); the parent reads it back
 * from the output (0 if there is none). */
void hkt_report_addr(const void *p);
uintptr_t hkt_reported_addr(const char *out);

/* Overwrites the dead part of the stack below the caller, so that pointers left there by calls
 * that returned do not keep a leak reachable. */
void hkt_scrub_stack(void);
/* Waits (up to 10 s) for a complete raw report at path (one ending with "end"); its text in buf. */
bool hkt_wait_report(const char *path, char *buf, size_t cap);

/* A strict JSON syntax check (RFC 8259 grammar). Returns NULL if valid, else where it failed. */
const char *hkt_json_error(const char *text);

/* A bounded blocking queue of pointers between threads (mutex + condition variables). */
typedef struct hkt_queue_s {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    void **items;
    size_t cap, head, count;
    void *items_inline[256];
} hkt_queue_t;
void hkt_queue_init(hkt_queue_t *q);
void hkt_queue_destroy(hkt_queue_t *q);
void hkt_queue_push(hkt_queue_t *q, void *item);
void *hkt_queue_pop(hkt_queue_t *q);

#endif /* HKT_H */
