/* std_fork_tracked_stacks.c — fork() while leak tracking (HEAPKIT_LEAKS=1) is busy in other
 * threads: workers allocate from call stacks never seen before (each new stack takes the stack
 * depot's lock), one pool per round interns its name (the label lock), and a checker thread runs
 * hk_leak_check (the leak-check lock) while the main thread forks again and again. Every child
 * must allocate, free, take a new stack and exit 0. Before every library lock was in the fork
 * table, a child inherited the depot lock held and hung in its first or second fork. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WORKERS = 3, CHAIN = 24, CHILD_WAIT_MS = 20000 };

static atomic_bool stop;
static int (*leak_check)(hk_leak_summary_t *);

/* A call chain chosen bit by bit from `path`: two functions with two call sites each, so every
 * value of path is (up to the depth kept) a stack the depot has not seen. */
static __attribute__((noinline)) void *chain_b(uint64_t path, int left);
static __attribute__((noinline)) void *chain_a(uint64_t path, int left) {
    if (left == 0) return malloc(24 + (path & 63));
    void *p = (path & 1) ? chain_b(path >> 1, left - 1) : chain_a(path >> 1, left - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call: the frame stays on the stack */
    return p;
}
static __attribute__((noinline)) void *chain_b(uint64_t path, int left) {
    if (left == 0) return malloc(40 + (path & 31));
    void *p = (path & 1) ? chain_a(path >> 1, left - 1) : chain_b(path >> 1, left - 1);
    __asm__ volatile("" ::: "memory");
    return p;
}

static void *worker(void *arg) {
    uint64_t rng = 9000 + (uintptr_t)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        void *p = chain_a(hkt_rand(&rng), CHAIN);
        free(p);
    }
    return NULL;
}

static void *checker(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        hk_leak_summary_t s;
        if (leak_check) leak_check(&s);
        usleep(2000);
    }
    return NULL;
}

/* The child: its own allocations, from stacks new to it too. */
static int child_work(uint64_t seed) {
    uint64_t rng = seed;
    for (int i = 0; i < 2000; i++) {
        void *p = chain_a(hkt_rand(&rng), CHAIN);
        if (!p) return 11;
        free(p);
    }
    void *big = malloc(1 << 20);
    if (!big) return 12;
    free(big);
    return 0;
}

int main(void) {
    hkt_begin("std_fork_tracked_stacks", 240);
    hkt_check_running_on_heapkit();
    leak_check = (int (*)(hk_leak_summary_t *))dlsym(RTLD_DEFAULT, "hk_leak_check");
    REQUIRE(leak_check != NULL);
    hk_pool_t *(*pool_create)(const char *, size_t, size_t, unsigned, void (*)(void *, void *),
                              void (*)(void *, void *), void *) =
        (hk_pool_t * (*)(const char *, size_t, size_t, unsigned, void (*)(void *, void *), void (*)(void *, void *),
                         void *)) dlsym(RTLD_DEFAULT, "hk_pool_create");
    void (*pool_destroy)(hk_pool_t *) = (void (*)(hk_pool_t *))dlsym(RTLD_DEFAULT, "hk_pool_destroy");
    REQUIRE(pool_create != NULL && pool_destroy != NULL);

    pthread_t w[WORKERS], c;
    for (uintptr_t i = 0; i < WORKERS; i++) REQUIRE(pthread_create(&w[i], NULL, worker, (void *)i) == 0);
    REQUIRE(pthread_create(&c, NULL, checker, NULL) == 0);

    size_t forks = hkt_scaled(40), failed = 0;
    for (size_t i = 0; i < forks && failed < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "round-%zu", i); /* a new label each round */
        hk_pool_t *pool = pool_create(name, 48, 0, HK_POOL_SHARED, NULL, NULL, NULL);
        REQUIRE(pool != NULL);
        pool_destroy(pool);
        for (volatile int spin = 0; spin < 100000; spin++) {
        }
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) _exit(child_work(77 + i));
        /* A child that hangs may do so before it could arm an alarm (in the fork handlers), so the
         * parent keeps the time: CHILD_WAIT_MS, then the child is killed and counted as hung. */
        int st = 0, waited_ms = 0;
        pid_t got;
        while ((got = waitpid(pid, &st, WNOHANG)) == 0 && waited_ms < CHILD_WAIT_MS) {
            usleep(10000);
            waited_ms += 10;
        }
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            failed++;
            hkt_fail(__FILE__, __LINE__, "fork %zu: the child hung for %d ms (a lock inherited held); killed", i,
                     CHILD_WAIT_MS);
            continue;
        }
        REQUIRE(got == pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed++;
            if (WIFSIGNALED(st))
                hkt_fail(__FILE__, __LINE__, "fork %zu: child killed by signal %d", i, WTERMSIG(st));
            else
                hkt_fail(__FILE__, __LINE__, "fork %zu: child exit code %d", i, WEXITSTATUS(st));
        }
    }
    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], NULL);
    pthread_join(c, NULL);
    CHECKF(failed == 0, "%zu children failed", failed);
    return hkt_done();
}
