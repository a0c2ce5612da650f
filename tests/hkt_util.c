/* hkt_util.c — implementation of the test harness in hkt.h: failure counting, heapkit lookup,
 * byte patterns, fd capture, child processes, a JSON syntax checker and a blocking queue.
 * Built twice: with HKT_API (linked to heapkit_api) and with HKT_STD (heapkit found via dlsym). */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int hkt_failures;
const char *hkt_test_name = "?";

/* Reports go straight to fd 2 with write(2): a broken allocator must not be able to hide them. */
static void hkt_vwrite(const char *prefix, const char *fmt, va_list ap) {
    char line[1024];
    int n = snprintf(line, sizeof line, "%s", prefix);
    if (n < 0) n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

void hkt_fail(const char *file, int line, const char *fmt, ...) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "FAIL %s %s:%d: ", hkt_test_name, file, line);
    va_list ap;
    va_start(ap, fmt);
    hkt_vwrite(prefix, fmt, ap);
    va_end(ap);
    __atomic_add_fetch(&hkt_failures, 1, __ATOMIC_RELAXED);
}

void hkt_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hkt_vwrite("  ", fmt, ap);
    va_end(ap);
}

static void hkt_on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog timeout (deadlock or runaway loop)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

void hkt_begin(const char *name, unsigned timeout_s) {
    hkt_test_name = name;
    if (timeout_s) {
        signal(SIGALRM, hkt_on_alarm);
        alarm(timeout_s);
    }
}

int hkt_done(void) {
    int f = __atomic_load_n(&hkt_failures, __ATOMIC_RELAXED);
    char line[256];
    int n = snprintf(line, sizeof line, "%s: %s (%d failed checks)\n", hkt_test_name,
                     f ? "FAILED" : "passed", f);
    ssize_t w = write(f ? 2 : 1, line, (size_t)n);
    (void)w;
    return f ? 1 : 0;
}

size_t hkt_scaled(size_t n) {
    static int pct = -1;
    if (pct < 0) {
        const char *e = getenv("HKT_SCALE");
        pct = e ? atoi(e) : 100;
        if (pct <= 0) pct = 100;
    }
    size_t r = n * (size_t)pct / 100 / HKT_SANITIZER_DIV;
    return r ? r : 1;
}

/* ------------------------------------------------------------------ heapkit lookup */
static hkt_heapkit_t hkt_hk;
static pthread_once_t hkt_hk_once = PTHREAD_ONCE_INIT;

static void hkt_heapkit_init(void) {
#if defined(HKT_API)
    hkt_hk.owns = hk_owns;
    hkt_hk.stats_get = hk_stats_get;
    hkt_hk.trim = hk_trim;
    hkt_hk.hk_malloc = hk_malloc;
#else
    hkt_hk.owns = (bool (*)(const void *))dlsym(RTLD_DEFAULT, "hk_owns");
    hkt_hk.stats_get = (void (*)(hk_stats_t *))dlsym(RTLD_DEFAULT, "hk_stats_get");
    hkt_hk.trim = (int (*)(void))dlsym(RTLD_DEFAULT, "hk_trim");
    hkt_hk.hk_malloc = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "hk_malloc");
#endif
    hkt_hk.present = hkt_hk.owns && hkt_hk.stats_get && hkt_hk.trim && hkt_hk.hk_malloc;
}

const hkt_heapkit_t *hkt_heapkit(void) {
    pthread_once(&hkt_hk_once, hkt_heapkit_init);
    return &hkt_hk;
}

static bool hkt_any_malloc(void) {
    const char *e = getenv("HKT_ANY_MALLOC");
    return e && strcmp(e, "1") == 0;
}

void hkt_check_running_on_heapkit(void) {
    const hkt_heapkit_t *hk = hkt_heapkit();
    if (!hk->present) {
        if (hkt_any_malloc()) {
            hkt_note("heapkit not loaded; HKT_ANY_MALLOC=1 so testing whatever malloc is in effect");
            return;
        }
        hkt_fail(__FILE__, __LINE__, "heapkit is not loaded (dlsym(hk_owns/hk_stats_get/hk_trim/hk_malloc) failed); "
                                     "run with LD_PRELOAD=libheapkit.so or set HKT_ANY_MALLOC=1");
        exit(hkt_done());
    }
#if defined(HKT_STD)
    void *p = malloc(hkt_launder_size(8));
    REQUIRE(p != NULL);
    CHECKF(hk->owns(p), "malloc() is not heapkit's: hk_owns(malloc(8)) is false");
    free(p);
#endif
}

bool hkt_stats(hk_stats_t *out) {
    const hkt_heapkit_t *hk = hkt_heapkit();
    memset(out, 0, sizeof *out);
    if (!hk->stats_get) return false;
    hk->stats_get(out);
    return true;
}

bool hkt_env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    if (v != NULL && strcmp(v, value) == 0) return true;
    hkt_fail(__FILE__, __LINE__, "run with %s=%s (the test's setting)", name, value);
    return false;
}

size_t hkt_heap_errors(void) {
    hk_stats_t s;
    REQUIRE(hkt_stats(&s));
    return s.heap_errors;
}

/* ------------------------------------------------------------------ patterns */
void hkt_fill(void *p, size_t n, uint32_t seed) {
    uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = hkt_pat_word(i / 8, seed); /* little-endian: byte k of w is byte i+k */
        memcpy(b + i, &w, 8);
    }
    for (; i < n; i++) b[i] = hkt_pat(i, seed);
}

size_t hkt_verify(const void *p, size_t n, uint32_t seed) {
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = hkt_pat_word(i / 8, seed), got;
        memcpy(&got, b + i, 8);
        if (got != w) break;
    }
    for (; i < n; i++)
        if (b[i] != hkt_pat(i, seed)) return i;
    return (size_t)-1;
}

bool hkt_all_zero(const void *p, size_t n) {
    const uint8_t *b = p;
    size_t i = 0;
    while (i < n && ((uintptr_t)(b + i) & 7)) {
        if (b[i]) return false;
        i++;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w) return false;
    }
    for (; i < n; i++)
        if (b[i]) return false;
    return true;
}

size_t hkt_page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------------ fd capture */
typedef struct {
    int rfd;
    char *buf;
    size_t cap, total;
} hkt_reader_t;

static void *hkt_reader(void *arg) {
    hkt_reader_t *r = arg;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(r->rfd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (r->cap && r->total < r->cap - 1) {
            size_t room = r->cap - 1 - r->total;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(r->buf + r->total, chunk, k);
        }
        r->total += (size_t)n;
    }
    return NULL;
}

size_t hkt_capture_fd(int fd, void (*fn)(void *), void *arg, char *buf, size_t cap) {
    int p[2];
    if (pipe(p) != 0) return 0;
    int saved = dup(fd);
    hkt_reader_t r = {p[0], buf, cap, 0};
    pthread_t t;
    pthread_create(&t, NULL, hkt_reader, &r);
    dup2(p[1], fd);
    close(p[1]);
    fn(arg);
    dup2(saved, fd); /* closes the last write end: the reader sees EOF */
    close(saved);
    pthread_join(t, NULL);
    close(p[0]);
    if (cap) buf[r.total < cap - 1 ? r.total : cap - 1] = '\0';
    return r.total;
}

/* Reads everything from rfd into out until EOF or deadline; returns bytes stored. */
static size_t hkt_drain(int rfd, char *out, size_t cap) {
    size_t total = 0;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(rfd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (cap && total < cap - 1) {
            size_t room = cap - 1 - total;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(out + total, chunk, k);
            total += k;
        }
    }
    if (cap) out[total] = '\0';
    return total;
}

/* Waits for pid, killing it after timeout_s seconds. */
static int hkt_wait_timeout(pid_t pid, unsigned timeout_s) {
    int status = 0;
    struct timespec nap = {0, 10 * 1000 * 1000};
    unsigned long waited_ms = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return -1;
        if (waited_ms >= (unsigned long)timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        nanosleep(&nap, NULL);
        waited_ms += 10;
    }
}

int hkt_run_self(char *const argv[], const char *env_assign, unsigned timeout_s, char *out, size_t cap) {
    int p[2];
    if (pipe(p) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[1]);
        if (env_assign) putenv((char *)env_assign);
        alarm(timeout_s);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(p[1]);
    hkt_drain(p[0], out, cap);
    close(p[0]);
    return hkt_wait_timeout(pid, timeout_s + 5);
}

long hkt_min_faults(const char *path, char *const argv[], const char *env_assign, int runs) {
    long fewest = LONG_MAX;
    for (int i = 0; i < runs; i++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            if (env_assign != NULL) putenv((char *)env_assign);
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) {
                dup2(null, 1);
                dup2(null, 2);
            }
            execv(path, argv);
            _exit(127);
        }
        int status = 0;
        struct rusage ru;
        REQUIRE(wait4(pid, &status, 0, &ru) == pid);
        REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (ru.ru_minflt < fewest) fewest = ru.ru_minflt;
    }
    return fewest;
}

int hkt_mode_child(int argc, char **argv, int (*run_mode)(int mode)) {
    if (argc <= 2 || strcmp(argv[1], "mode") != 0) return -1;
    int rc = run_mode(atoi(argv[2]));
    if (rc == 0) fprintf(stderr, "child survived\n");
    return rc;
}

int hkt_run_mode(const char *self, int mode, const char *env_assign, char *out, size_t cap) {
    char num[16], mode_arg[] = "mode";
    snprintf(num, sizeof num, "%d", mode);
    char *args[] = {(char *)self, mode_arg, num, NULL};
    return hkt_run_self(args, env_assign, 30, out, cap);
}

void hkt_report_addr(const void *p) {
    printf("ADDR %p\n", p);
    fflush(stdout);
}

uintptr_t hkt_reported_addr(const char *out) {
    const char *a = strstr(out, "ADDR ");
    return a != NULL ? (uintptr_t)strtoull(a + 5, NULL, 16) : 0;
}

__attribute__((noinline)) void hkt_scrub_stack(void) {
    volatile char junk[32 * 1024];
    memset((char *)junk, 0, sizeof junk);
}

bool hkt_wait_report(const char *path, char *buf, size_t cap) {
    for (int tries = 0; tries < 1000; tries++) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, cap - 1);
            close(fd);
            buf[n > 0 ? n : 0] = '\0';
            if (n >= 4 && strstr(buf, "\nend\n") != NULL) return true;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* ------------------------------------------------------------------ JSON check */
typedef struct {
    const char *s;
    const char *err;
    int depth;
} hkt_json_t;

static void js_ws(hkt_json_t *j) {
    while (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r') j->s++;
}
static bool js_value(hkt_json_t *j);

static bool js_fail(hkt_json_t *j) {
    if (!j->err) j->err = j->s;
    return false;
}

static bool js_string(hkt_json_t *j) {
    if (*j->s != '"') return js_fail(j);
    j->s++;
    for (;;) {
        unsigned char c = (unsigned char)*j->s;
        if (c == '"') {
            j->s++;
            return true;
        }
        if (c < 0x20) return js_fail(j); /* includes the terminating NUL */
        if (c == '\\') {
            j->s++;
            char e = *j->s;
            if (e == 'u') {
                for (int k = 1; k <= 4; k++) {
                    char h = j->s[k];
                    bool hex = (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F');
                    if (!hex) return js_fail(j);
                }
                j->s += 5;
                continue;
            }
            if (!e || !strchr("\"\\/bfnrt", e)) return js_fail(j);
        }
        j->s++;
    }
}

static bool js_digits(hkt_json_t *j) {
    if (*j->s < '0' || *j->s > '9') return js_fail(j);
    while (*j->s >= '0' && *j->s <= '9') j->s++;
    return true;
}

static bool js_number(hkt_json_t *j) {
    if (*j->s == '-') j->s++;
    if (*j->s == '0') {
        j->s++;
    } else if (!js_digits(j)) {
        return false;
    }
    if (*j->s == '.') {
        j->s++;
        if (!js_digits(j)) return false;
    }
    if (*j->s == 'e' || *j->s == 'E') {
        j->s++;
        if (*j->s == '+' || *j->s == '-') j->s++;
        if (!js_digits(j)) return false;
    }
    return true;
}

static bool js_container(hkt_json_t *j, char open, char close) {
    if (++j->depth > 64) return js_fail(j);
    j->s++; /* past open */
    (void)open;
    js_ws(j);
    if (*j->s == close) {
        j->s++;
        j->depth--;
        return true;
    }
    for (;;) {
        js_ws(j);
        if (close == '}') {
            if (!js_string(j)) return false;
            js_ws(j);
            if (*j->s != ':') return js_fail(j);
            j->s++;
            js_ws(j);
        }
        if (!js_value(j)) return false;
        js_ws(j);
        if (*j->s == ',') {
            j->s++;
            continue;
        }
        if (*j->s == close) {
            j->s++;
            j->depth--;
            return true;
        }
        return js_fail(j);
    }
}

static bool js_value(hkt_json_t *j) {
    js_ws(j);
    switch (*j->s) {
    case '{': return js_container(j, '{', '}');
    case '[': return js_container(j, '[', ']');
    case '"': return js_string(j);
    case 't': if (strncmp(j->s, "true", 4) == 0) { j->s += 4; return true; } return js_fail(j);
    case 'f': if (strncmp(j->s, "false", 5) == 0) { j->s += 5; return true; } return js_fail(j);
    case 'n': if (strncmp(j->s, "null", 4) == 0) { j->s += 4; return true; } return js_fail(j);
    default: return js_number(j);
    }
}

const char *hkt_json_error(const char *text) {
    hkt_json_t j = {text, NULL, 0};
    if (!js_value(&j)) return j.err ? j.err : text;
    js_ws(&j);
    if (*j.s) return j.s;
    return NULL;
}

/* ------------------------------------------------------------------ queue */
void hkt_queue_init(hkt_queue_t *q) {
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->items = q->items_inline;
    q->cap = sizeof q->items_inline / sizeof q->items_inline[0];
    q->head = q->count = 0;
}

void hkt_queue_destroy(hkt_queue_t *q) {
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

void hkt_queue_push(hkt_queue_t *q, void *item) {
    pthread_mutex_lock(&q->lock);
    while (q->count == q->cap) pthread_cond_wait(&q->not_full, &q->lock);
    q->items[(q->head + q->count) % q->cap] = item;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

void *hkt_queue_pop(hkt_queue_t *q) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0) pthread_cond_wait(&q->not_empty, &q->lock);
    void *item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return item;
}
