/* unwind.c — what a stack capture costs: libunwind, libgcc, glibc backtrace() and a frame-pointer walk, 16 frames deep
 * in a chain built without and with frame pointers (the chain is this file again, as HK_UNWIND_CHAIN=nofp and =fp),
 * and a malloc+free there under heapkit with HEAPKIT_LEAKS=1.  Usage: unwind [--callgrind] [--heapkit LIB] [--reps N] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* ------------------------------------------------------------------ the call chain (compiled twice) */
#ifdef HK_UNWIND_CHAIN

#include <stdint.h>
#include <time.h>

typedef int (*hk_capture_fn)(void **buf, int max);

#define HK_PASTE2(a, b) a##b
#define HK_PASTE(a, b) HK_PASTE2(a, b)
#define HK_CHAIN(name) HK_PASTE(HK_PASTE(chain_, HK_UNWIND_CHAIN), _##name)

int HK_CHAIN(run)(int depth, hk_capture_fn f, void **buf, int max, long iters, int64_t *ns);

/* The innermost frame: captures `iters` times in a row, so the descent is paid once. */
__attribute__((noipa)) static int bottom(hk_capture_fn f, void **buf, int max, long iters, int64_t *ns) {
  struct timespec a, b;
  int n = 0;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < iters; i++) {
    n = f(buf, max);
    __asm__ volatile("" : "+r"(n) : : "memory");
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  *ns = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
  return n;
}

/* One frame per level; the empty asm after the call keeps it from becoming a loop or a tail call. */
__attribute__((noipa)) static int descend(int depth, hk_capture_fn f, void **buf, int max, long iters, int64_t *ns) {
  int n = depth <= 1 ? bottom(f, buf, max, iters, ns) : descend(depth - 1, f, buf, max, iters, ns);
  __asm__ volatile("" : "+r"(n) : : "memory");
  return n;
}

/* Calls down `depth` frames (this one, depth - 2 descend frames, bottom) and captures there. */
__attribute__((noipa)) int HK_CHAIN(run)(int depth, hk_capture_fn f, void **buf, int max, long iters, int64_t *ns) {
  int n = descend(depth - 1, f, buf, max, iters, ns);
  __asm__ volatile("" : "+r"(n) : : "memory");
  return n;
}

#else
/* ------------------------------------------------------------------ the driver */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <libunwind.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unwind.h>

extern char **environ;

typedef int (*hk_capture_fn)(void **buf, int max);
int chain_nofp_run(int depth, hk_capture_fn f, void **buf, int max, long iters, int64_t *ns);
int chain_fp_run(int depth, hk_capture_fn f, void **buf, int max, long iters, int64_t *ns);

#define CHAIN_DEPTH 20 /* frames between main and the capture */
#define WANT 16        /* frames a capture keeps, like HEAPKIT_STACK_DEPTH's default */
#define SLACK 4        /* frames of the capture method itself, asked for on top and dropped */
#define MAX_REPS 15

/* The return address into the chain's bottom frame: every method's first frame worth keeping. */
static void *volatile hk_first;
static uintptr_t stack_lo, stack_hi;

/* libunwind's one-call backtrace (its x86-64 fast trace with a frame cache). */
static __attribute__((noinline)) int m_unw_backtrace(void **buf, int max) {
  hk_first = __builtin_return_address(0);
  return unw_backtrace(buf, max);
}

/* libunwind step by step: the way to learn each frame's stack pointer (heapkit's cache misses used it
 * until Debian's libunwind, built without a per-thread cache, proved to lock and mask signals per step). */
static __attribute__((noinline)) int m_unw_step(void **buf, int max) {
  hk_first = __builtin_return_address(0);
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return 0;
  int n = 0;
  while (n < max && unw_step(&cursor) > 0) {
    unw_word_t ip;
    unw_get_reg(&cursor, UNW_REG_IP, &ip);
    buf[n++] = (void *)ip;
  }
  return n;
}

struct gcc_trace { void **buf; int n, max; };

/* libgcc's DWARF unwinder, as C++ exceptions use it. Taken from libgcc_s.so.1 by dlsym: libunwind.so
 * exports an _Unwind_Backtrace of its own (unw_step underneath), which linking -lunwind would bind. */
static _Unwind_Reason_Code (*gcc_backtrace)(_Unwind_Trace_Fn, void *);
static _Unwind_Ptr (*gcc_get_ip)(struct _Unwind_Context *);
static int (*glibc_backtrace)(void **, int);

static _Unwind_Reason_Code gcc_step(struct _Unwind_Context *context, void *arg) {
  struct gcc_trace *t = arg;
  if (t->n >= t->max) return _URC_END_OF_STACK;
  t->buf[t->n++] = (void *)gcc_get_ip(context);
  return _URC_NO_REASON;
}

static __attribute__((noinline)) int m_gcc(void **buf, int max) {
  hk_first = __builtin_return_address(0);
  struct gcc_trace t = {buf, 0, max};
  gcc_backtrace(gcc_step, &t);
  return t.n;
}

static void find_libgcc(void) {
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  glibc_backtrace = libc != NULL ? (int (*)(void **, int))dlsym(libc, "backtrace") : NULL;
  if (glibc_backtrace == NULL || glibc_backtrace == backtrace) {
    fprintf(stderr, "unwind: glibc's backtrace not found apart from libunwind's\n");
    exit(1);
  }
  void *h = dlopen("libgcc_s.so.1", RTLD_NOW);
  if (h != NULL) {
    gcc_backtrace = (_Unwind_Reason_Code(*)(_Unwind_Trace_Fn, void *))dlsym(h, "_Unwind_Backtrace");
    gcc_get_ip = (_Unwind_Ptr(*)(struct _Unwind_Context *))dlsym(h, "_Unwind_GetIP");
  }
  if (gcc_backtrace == NULL || gcc_get_ip == NULL) {
    fprintf(stderr, "unwind: libgcc_s.so.1 not found: %s\n", dlerror());
    exit(1);
  }
}

/* glibc's backtrace(): libgcc's unwinder behind a dlopen, with a callback per frame. Taken from libc.so.6
 * by dlsym too: libunwind.so exports a backtrace() of its own (unw_backtrace), which would win. */
static __attribute__((noinline)) int m_glibc(void **buf, int max) {
  hk_first = __builtin_return_address(0);
  return glibc_backtrace(buf, max);
}

/* The frame-pointer walk: follow saved rbp links, reading the return address above each. Checked
 * to stay on this thread's stack and go upward, so on code without frame pointers it stops or
 * returns garbage instead of crashing, as sanitizers' and profilers' fast unwinders do. */
static __attribute__((noinline)) int m_fp(void **buf, int max) {
  hk_first = __builtin_return_address(0);
  const uintptr_t *fp = __builtin_frame_address(0);
  int n = 0;
  while (n < max) {
    uintptr_t at = (uintptr_t)fp;
    if (at < stack_lo || at + 2 * sizeof(uintptr_t) > stack_hi || (at & 7) != 0) break;
    buf[n++] = (void *)fp[1];
    const uintptr_t *next = (const uintptr_t *)fp[0];
    if (next <= fp) break;
    fp = next;
  }
  return n;
}

static void *volatile hk_sink;

/* Not a capture: a malloc+free pair at the bottom of the chain, for whatever allocator is preloaded
 * (with HEAPKIT_LEAKS=1 each malloc records its stack: heapkit's cached path). */
static __attribute__((noinline)) int m_malloc(void **buf, int max) {
  (void)buf;
  (void)max;
  hk_sink = malloc(32);
  free(hk_sink);
  return 0;
}

static const struct method {
  const char *name, *label;
  hk_capture_fn fn;
  unw_caching_policy_t policy; /* libunwind's, set before the method runs (it flushes its caches) */
} methods[] = {
  {"unw_backtrace", "libunwind `unw_backtrace`", m_unw_backtrace, UNW_CACHE_GLOBAL},
  {"unw_step", "libunwind `unw_step` loop, default global cache", m_unw_step,
   UNW_CACHE_GLOBAL},
  {"unw_step_pt", "libunwind `unw_step` loop, `UNW_CACHE_PER_THREAD` asked for", m_unw_step, UNW_CACHE_PER_THREAD},
  {"gcc", "libgcc `_Unwind_Backtrace` (heapkit's cache-miss path)", m_gcc, UNW_CACHE_GLOBAL},
  {"glibc", "glibc `backtrace()` (libgcc underneath)", m_glibc, UNW_CACHE_GLOBAL},
  {"fp", "frame-pointer walk", m_fp, UNW_CACHE_GLOBAL},
};

static void set_policy(unw_caching_policy_t policy) {
  static unw_caching_policy_t current = UNW_CACHE_GLOBAL;
  if (policy != current) unw_set_caching_policy(unw_local_addr_space, policy);
  current = policy;
}
#define NMETHODS ((int)(sizeof methods / sizeof methods[0]))

typedef int (*chain_fn)(int, hk_capture_fn, void **, int, long, int64_t *);
static const struct chain {
  const char *name;
  chain_fn run;
} chains[] = {{"nofp", chain_nofp_run}, {"fp", chain_fp_run}};

/* One capture through the chain, trimmed to start at the bottom frame: the frames kept (<= WANT). */
static int capture(const struct chain *c, const struct method *m, void **out) {
  void *raw[WANT + SLACK];
  int64_t ns;
  set_policy(m->policy);
  int n = c->run(CHAIN_DEPTH, m->fn, raw, WANT + SLACK, 1, &ns);
  int first = 0;
  while (first < n && raw[first] != hk_first) first++;
  if (first == n) first = 0; /* not found: keep what came (a walker that lost its way) */
  int kept = n - first > WANT ? WANT : n - first;
  memcpy(out, raw + first, (size_t)kept * sizeof *out);
  return kept;
}

static double ns_per_op(const struct chain *c, const struct method *m, long iters) {
  void *raw[WANT + SLACK];
  int64_t ns;
  set_policy(m->policy);
  c->run(CHAIN_DEPTH, m->fn, raw, WANT + SLACK, iters, &ns);
  return (double)ns / (double)iters;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void find_stack(void) {
  pthread_attr_t attr;
  void *addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &attr) != 0 || pthread_attr_getstack(&attr, &addr, &size) != 0) {
    fprintf(stderr, "unwind: cannot find the stack bounds\n");
    exit(1);
  }
  pthread_attr_destroy(&attr);
  stack_lo = (uintptr_t)addr;
  stack_hi = stack_lo + size;
}

static const struct method *method_named(const char *name) {
  static const struct method malloc_method = {"malloc", "malloc(32)+free", m_malloc, UNW_CACHE_GLOBAL};
  if (strcmp(name, "malloc") == 0) return &malloc_method;
  for (int i = 0; i < NMETHODS; i++)
    if (strcmp(methods[i].name, name) == 0) return &methods[i];
  return NULL;
}

/* --count N METHOD CHAIN: warm up, then N operations; prints ns per operation. */
static int probe(long n, const char *method, const char *chain) {
  const struct method *m = method_named(method);
  const struct chain *c = strcmp(chain, "fp") == 0 ? &chains[1] : strcmp(chain, "nofp") == 0 ? &chains[0] : NULL;
  if (m == NULL || c == NULL || n <= 0) {
    fprintf(stderr, "unwind: --count N METHOD nofp|fp, METHOD one of unw_backtrace unw_step unw_step_pt gcc glibc fp malloc\n");
    return 2;
  }
  ns_per_op(c, m, 1000);
  printf("ns %.2f\n", ns_per_op(c, m, n));
  return 0;
}

/* ------------------------------------------------------------------ child processes */

/* Runs argv with `extra` environment settings (LD_PRELOAD and HEAPKIT_* are cleared first); returns
 * its stdout+stderr (malloc'ed) and sets *status. */
static char *run_child(char *const argv[], const char *const extra[], int *status) {
  size_t n_env = 0, n_extra = 0;
  while (environ[n_env] != NULL) n_env++;
  while (extra[n_extra] != NULL) n_extra++;
  char **env = calloc(n_env + n_extra + 1, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < n_env; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "HEAPKIT_", 8) != 0) env[k++] = environ[i];
  for (size_t i = 0; i < n_extra; i++) env[k++] = (char *)extra[i];
  env[k] = NULL;

  int fds[2];
  if (pipe(fds) != 0) return NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *out = malloc(cap);
  ssize_t got;
  while ((got = read(fds[0], out + len, cap - len - 1)) > 0 || (got < 0 && errno == EINTR)) {
    if (got < 0) continue;
    len += (size_t)got;
    if (cap - len < 1024) out = realloc(out, cap *= 2);
  }
  out[len] = '\0';
  close(fds[0]);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
  return out;
}

static char self_path[4096];

/* `--count n method chain` in a child with `extra` in its environment: its ns per operation, or
 * under callgrind the instructions it ran; -1 if it failed. */
static double child_figure(long n, const char *method, const char *chain, const char *const extra[], bool callgrind) {
  char count[32];
  snprintf(count, sizeof count, "%ld", n);
  char *plain[] = {self_path, "--count", count, (char *)method, (char *)chain, NULL};
  char *traced[] = {"valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", self_path, "--count", count,
                    (char *)method, (char *)chain, NULL};
  const char *label = callgrind ? "Collected :" : "ns ";
  int status;
  char *out = run_child(callgrind ? traced : plain, extra, &status);
  double figure = -1;
  const char *at = out ? strstr(out, label) : NULL;
  if (at != NULL && WIFEXITED(status) && WEXITSTATUS(status) == 0) figure = strtod(at + strlen(label), NULL);
  else fprintf(stderr, "unwind: %s %s %s failed: %.600s\n", callgrind ? "callgrind" : "child", method, chain,
               out ? out : callgrind ? "(valgrind not found)" : "(no output)");
  free(out);
  return figure;
}

static double child_ns(long n, const char *method, const char *chain, const char *const extra[]) {
  return child_figure(n, method, chain, extra, false);
}

/* (Ir(2n) - Ir(n)) / n: instructions per operation, start-up cancelled. */
static double ir_per_op(long n, const char *method, const char *chain, const char *const extra[]) {
  double a = child_figure(n, method, chain, extra, true);
  double b = a < 0 ? -1 : child_figure(2 * n, method, chain, extra, true);
  return a < 0 || b < 0 ? -1 : (b - a) / (double)n;
}

static void remove_dir(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "unwind: could not remove %s\n", dir);
}

static const char *fmt(char *buf, size_t cap, const char *f, double v) {
  if (v < 0) snprintf(buf, cap, "–");
  else snprintf(buf, cap, f, v);
  return buf;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  find_stack();
  find_libgcc();
  if (argc == 5 && strcmp(argv[1], "--count") == 0) return probe(strtol(argv[2], NULL, 10), argv[3], argv[4]);

  int use_callgrind = 0, reps = 5;
  const char *heapkit = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--callgrind") == 0) use_callgrind = 1;
    else if (strcmp(argv[i], "--heapkit") == 0 && i + 1 < argc) heapkit = argv[++i];
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: unwind [--callgrind] [--heapkit LIB] [--reps N]   |   unwind --count N METHOD nofp|fp\n");
      return 2;
    }
  }
  if (reps < 1 || reps > MAX_REPS) reps = 5;
  ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 64);
  if (len <= 0) return 1;
  self_path[len] = '\0';
  static char lib[4200];
  if (heapkit == NULL) { /* build/bench/unwind -> build/libheapkit.so */
    snprintf(lib, sizeof lib, "%s", self_path);
    char *slash = strrchr(lib, '/');
    if (slash != NULL) *slash = '\0';
    slash = strrchr(lib, '/');
    if (slash != NULL) snprintf(slash, sizeof lib - (size_t)(slash - lib), "/libheapkit.so");
    heapkit = lib;
  }
  if (access(heapkit, R_OK) != 0) {
    fprintf(stderr, "unwind: %s not found: the malloc+free rows are left out (--heapkit LIB)\n", heapkit);
    heapkit = NULL;
  }

  /* Correctness: each method's frames against libunwind's (DWARF: right whatever the build). */
  enum { NC = 2 };
  void *ref[NC][WANT], *got[WANT];
  int frames[NC][NMETHODS], correct[NC][NMETHODS];
  for (int c = 0; c < NC; c++) {
    for (int m = 0; m < NMETHODS; m++) capture(&chains[c], &methods[m], got); /* warm-up: caches, dlopen */
    int nref = capture(&chains[c], &methods[0], ref[c]);
    for (int m = 0; m < NMETHODS; m++) {
      frames[c][m] = capture(&chains[c], &methods[m], got);
      int ok = 0;
      while (ok < frames[c][m] && ok < nref && got[ok] == ref[c][ok]) ok++;
      correct[c][m] = ok;
    }
  }

  /* Time: per (chain, method) an iteration count worth ~30 ms, then `reps` rounds, order rotating. */
  long iters[NC][NMETHODS];
  double ns[NC][NMETHODS][MAX_REPS];
  for (int c = 0; c < NC; c++)
    for (int m = 0; m < NMETHODS; m++) {
      double one = ns_per_op(&chains[c], &methods[m], 2000);
      long it = (long)(30e6 / (one > 1 ? one : 1));
      iters[c][m] = it < 1000 ? 1000 : it > 20000000 ? 20000000 : it;
    }
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < NC * NMETHODS; k++) {
      int j = (k + r * 3) % (NC * NMETHODS), c = j / NMETHODS, m = j % NMETHODS;
      ns[c][m][r] = ns_per_op(&chains[c], &methods[m], iters[c][m]);
    }

  /* malloc+free at the chain's bottom, in children: glibc, heapkit, heapkit with HEAPKIT_LEAKS=1. */
  char leak_dir[] = "/tmp/hkunwind.XXXXXX";
  static char preload[4300], leak_dir_env[64];
  const char *const env_glibc[] = {NULL};
  const char *const env_hk[] = {preload, NULL};
  const char *const env_leaks[] = {preload, "HEAPKIT_LEAKS=1", leak_dir_env, NULL};
  const struct setup {
    const char *label;
    const char *const *env;
  } setups[] = {{"glibc", env_glibc}, {"heapkit", env_hk}, {"heapkit, HEAPKIT_LEAKS=1", env_leaks}};
  int nsetups = heapkit != NULL && mkdtemp(leak_dir) != NULL ? 3 : 1;
  snprintf(preload, sizeof preload, "LD_PRELOAD=%s", heapkit ? heapkit : "");
  snprintf(leak_dir_env, sizeof leak_dir_env, "HEAPKIT_LEAK_DIR=%s", leak_dir);
  double pair_ns[3][MAX_REPS], pair_med[3], pair_ir[3] = {-1, -1, -1};
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < nsetups; k++) {
      int s = (k + r) % nsetups;
      pair_ns[s][r] = child_ns(2000000, "malloc", "nofp", setups[s].env);
    }
  for (int s = 0; s < nsetups; s++) pair_med[s] = median(pair_ns[s], reps);

  double ir[NC][NMETHODS];
  for (int c = 0; c < NC; c++)
    for (int m = 0; m < NMETHODS; m++) ir[c][m] = -1;
  if (use_callgrind) {
    for (int c = 0; c < NC; c++)
      for (int m = 0; m < NMETHODS; m++) {
        ir[c][m] = ir_per_op(2000, methods[m].name, chains[c].name, env_glibc);
        fprintf(stderr, "unwind: callgrind %s %s: %.0f Ir\n", chains[c].name, methods[m].name, ir[c][m]);
      }
    for (int s = 0; s < nsetups; s++) {
      pair_ir[s] = ir_per_op(20000, "malloc", "nofp", setups[s].env);
      fprintf(stderr, "unwind: callgrind malloc %s: %.1f Ir\n", setups[s].label, pair_ir[s]);
    }
  }
  if (nsetups == 3) remove_dir(leak_dir);

  char a[32], b[32], d[32], e[32];
  printf("### Stack capture: %d frames from a call chain %d frames deep (median of %d runs; lower is better)\n\n",
         WANT, CHAIN_DEPTH + 1, reps);
  printf("| method | no frame pointers: ns/capture | frames right/got | Ir/capture | frame pointers: ns/capture "
         "| frames right/got | Ir/capture |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (int m = 0; m < NMETHODS; m++) {
    double t0 = median(ns[0][m], reps), t1 = median(ns[1][m], reps);
    printf("| %s | %.0f | %d/%d%s | %s | %.0f | %d/%d%s | %s |\n", methods[m].label, t0, correct[0][m],
           frames[0][m], correct[0][m] < WANT ? " ⚠" : "", fmt(a, sizeof a, "%.0f", ir[0][m]), t1, correct[1][m],
           frames[1][m], correct[1][m] < WANT ? " ⚠" : "", fmt(b, sizeof b, "%.0f", ir[1][m]));
  }
  printf("\n### malloc(32)+free at the bottom of the same chain (no frame pointers; median of %d runs)\n\n"
         "| allocator | ns/pair | Ir/pair |\n|---|---:|---:|\n", reps);
  for (int s = 0; s < nsetups; s++)
    printf("| %s | %s | %s |\n", setups[s].label, fmt(d, sizeof d, "%.1f", pair_med[s]),
           fmt(e, sizeof e, "%.1f", pair_ir[s]));
  printf("\n*frames right/got*: of the frames a method returned from the capturing frame up (%d wanted; the true "
         "chain is %d deep), how many in a row equal libunwind's (DWARF CFI: right with or without frame pointers); "
         "⚠ marks fewer than %d. ns: wall time per capture, the descent paid once, the methods alternating. Ir: "
         "instructions per operation under callgrind, (Ir(2N) - Ir(N)) / N%s; callgrind does not count the kernel, "
         "so a method's system calls (libunwind's `unw_step` masks signals around its cache lock: two "
         "`rt_sigprocmask` per frame) show in ns only. With HEAPKIT_LEAKS=1 every malloc records its stack through "
         "heapkit's per-thread cache (a hit compares the saved return-address slots instead of unwinding; a miss "
         "walks with libgcc's unwinder, which tells where each return address lies).\n",
         WANT, CHAIN_DEPTH + 1, WANT, use_callgrind ? "" : " (run with --callgrind)");
  return 0;
}
#endif
