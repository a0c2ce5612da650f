/* stop_world.c — pause every other thread of the process for the leak scan, then let them go.
 * Threads are found in /proc/self/task (read with getdents64: no malloc, no lock) and sent a
 * real-time signal with tgkill. The handler notes the thread's stack pointer (the kernel has
 * saved the thread's registers just above it, on its stack, so scanning from there up covers
 * them) and its thread pointer, and waits on a futex until released. Threads that appear meanwhile are signalled in
 * further rounds; a thread that does not answer in time (it blocks the signal) is counted, and
 * the scan then reads every thread stack in full instead of from the stack pointer.
 * The handler is installed with SA_RESTART, but calls the kernel never restarts (sleep, pause,
 * epoll_wait) return early with EINTR, as they would for any signal. */
#define _GNU_SOURCE
#include "core.h"
#include "stop_world.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A thread that has not answered the stop signal in a second blocks it or cannot run: the check
 * goes on without it (and reads its whole stack). The same bound on waiting for handlers to leave. */
#define HK_STOP_WAIT_MS 1000
/* While waiting, the stopper polls every so many microseconds: short next to the bound, long
 * enough not to take a CPU from the threads it waits for. */
#define HK_STOP_POLL_US 200
#define HK_START_POLL_US 100
/* Threads one stop can handle: more than a process has in practice (the tables are metadata,
 * pages touched as used). */
#define HK_STOP_THREADS_MAX ((size_t)1 << 16)
/* Directory entries are read a page at a time. */
#define HK_DIRENT_BUFFER 4096

static struct {
    _Atomic bool active;       /* a stop is under way: the handler must wait */
    _Atomic uint32_t stop_gen; /* numbers the stops */
    _Atomic uint32_t released; /* futex word: the last stop whose threads may go */
    _Atomic uint32_t arrived;  /* handlers that noted their thread and are waiting */
    _Atomic uint32_t departed; /* handlers that have left */
    hk_stopped_thread_t *threads;
    pid_t *signalled;
    size_t capacity;
    bool installed;
} hk_stop;


static pid_t hk_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static void hk_futex_wait(_Atomic uint32_t *word, uint32_t value) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void hk_stop_handler(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)info;
    (void)context;
    int saved_errno = errno;
    if (atomic_load_explicit(&hk_stop.active, memory_order_acquire)) {
        volatile uintptr_t here = 0;
        uint32_t gen = atomic_load_explicit(&hk_stop.stop_gen, memory_order_acquire);
        uint32_t slot = atomic_load_explicit(&hk_stop.arrived, memory_order_relaxed);
        /* Slots are taken in arrival order; the stopper reads only after `arrived` counts us. */
        while (!atomic_compare_exchange_weak_explicit(&hk_stop.arrived, &slot, slot + 1, memory_order_acq_rel,
                                                      memory_order_relaxed)) {
        }
        if (slot < hk_stop.capacity) {
            hk_stop.threads[slot].sp = (uintptr_t)&here;
            hk_stop.threads[slot].tp = (uintptr_t)__builtin_thread_pointer();
            hk_stop.threads[slot].own = hk_own_thread;
            atomic_store_explicit(&hk_stop.threads[slot].ready, true, memory_order_release);
        }
        uint32_t released;
        while ((released = atomic_load_explicit(&hk_stop.released, memory_order_acquire)) != gen)
            hk_futex_wait(&hk_stop.released, released);
        atomic_fetch_add_explicit(&hk_stop.departed, 1, memory_order_release);
    }
    errno = saved_errno;
}

static bool hk_stop_install(void) {
    if (hk_stop.installed) return true;
    hk_stop.capacity = HK_STOP_THREADS_MAX;
    hk_stop.threads = hk_meta_map(hk_stop.capacity * sizeof(hk_stopped_thread_t));
    hk_stop.signalled = hk_meta_map(hk_stop.capacity * sizeof(pid_t));
    if (hk_stop.threads == NULL || hk_stop.signalled == NULL) return false;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = hk_stop_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(hk_stop_signal(), &sa, NULL) != 0) return false;
    hk_stop.installed = true;
    return true;
}

/* Call fn(tid) for every thread of the process; false if /proc/self/task cannot be read. */
static bool hk_for_each_thread(void (*fn)(pid_t tid, void *arg), void *arg) {
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[HK_DIRENT_BUFFER];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            pid_t tid = 0;
            const char *c = d->d_name;
            for (; *c >= '0' && *c <= '9'; c++) tid = tid * 10 + (*c - '0');
            if (*c == '\0' && tid > 0) fn(tid, arg);
        }
    }
    close(fd);
    return n == 0;
}

typedef struct hk_stop_round_s {
    pid_t self;
    pid_t *signalled; /* tids signalled so far */
    size_t count, capacity;
    size_t sent_now;
} hk_stop_round_t;

static void hk_stop_one(pid_t tid, void *arg) {
    hk_stop_round_t *round = arg;
    if (tid == round->self) return;
    for (size_t i = 0; i < round->count; i++)
        if (round->signalled[i] == tid) return;
    if (round->count == round->capacity) return;
    if (syscall(SYS_tgkill, getpid(), tid, hk_stop_signal()) != 0) return; /* it has just exited */
    round->signalled[round->count++] = tid;
    round->sent_now++;
}

static void hk_sleep_us(long us) {
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

size_t hk_stop_world(hk_stopped_thread_t **threads, size_t *not_stopped) {
    *threads = NULL;
    *not_stopped = 0;
    if (!hk_stop_install()) return 0;
    /* Only the slots the last stop handed out can hold a mark: clearing all 65,536 touched 1.5 MiB of
     * slots in every process that checks for leaks once, a program of a few threads included. */
    size_t used = atomic_load_explicit(&hk_stop.arrived, memory_order_relaxed);
    if (used > hk_stop.capacity) used = hk_stop.capacity;
    for (size_t i = 0; i < used; i++) atomic_store_explicit(&hk_stop.threads[i].ready, false, memory_order_relaxed);
    atomic_store_explicit(&hk_stop.arrived, 0, memory_order_relaxed);
    atomic_store_explicit(&hk_stop.departed, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&hk_stop.stop_gen, 1, memory_order_release);
    atomic_store_explicit(&hk_stop.active, true, memory_order_release);
    hk_stop_round_t round = {.self = hk_gettid(), .signalled = hk_stop.signalled, .capacity = hk_stop.capacity};
    uint64_t deadline = hk_clock_ms() + HK_STOP_WAIT_MS;
    do {
        round.sent_now = 0;
        if (!hk_for_each_thread(hk_stop_one, &round)) break;
        while (atomic_load_explicit(&hk_stop.arrived, memory_order_acquire) < round.count &&
               hk_clock_ms() < deadline)
            hk_sleep_us(HK_STOP_POLL_US);
    } while (round.sent_now != 0 && hk_clock_ms() < deadline);
    size_t arrived = atomic_load_explicit(&hk_stop.arrived, memory_order_acquire);
    if (arrived > hk_stop.capacity) arrived = hk_stop.capacity;
    *not_stopped = round.count > arrived ? round.count - arrived : 0;
    *threads = hk_stop.threads;
    return arrived;
}

void hk_start_world(size_t stopped) {
    uint32_t gen = atomic_load_explicit(&hk_stop.stop_gen, memory_order_relaxed);
    atomic_store_explicit(&hk_stop.released, gen, memory_order_release);
    syscall(SYS_futex, &hk_stop.released, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    /* Wait for the handlers to leave before the slots may be reused by a later stop. A thread
     * that answers late sees its stop already released (or `active` cleared) and goes on. */
    uint64_t deadline = hk_clock_ms() + HK_STOP_WAIT_MS;
    while (atomic_load_explicit(&hk_stop.departed, memory_order_acquire) < stopped && hk_clock_ms() < deadline)
        hk_sleep_us(HK_START_POLL_US);
    atomic_store_explicit(&hk_stop.active, false, memory_order_release);
}
