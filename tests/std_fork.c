/* std_fork.c — fork() from a multithreaded process whose threads are busily allocating and
 * freeing across threads. Each child must malloc/free, free blocks inherited from the parent's
 * threads, start threads, fork again and exit 0; a deadlock is caught by alarm(), not a hang. */
#define _GNU_SOURCE
#include "hkt.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WORKERS = 4, SLOTS = 256 };

typedef struct {
    uint32_t seed, size;
    uint8_t data[];
} blk_t;

static _Atomic(blk_t *) slots[SLOTS];
static atomic_bool stop;
static atomic_size_t worker_bad;

static blk_t *make_blk(uint64_t *rng) {
    uint64_t x = hkt_rand(rng);
    size_t n = (x & 31) == 0 ? (x >> 8) % 200000 + 1 : (x >> 8) % 700 + 1;
    blk_t *b = malloc(sizeof(blk_t) + n);
    if (!b) return NULL;
    b->seed = (uint32_t)(x >> 32);
    b->size = (uint32_t)n;
    hkt_fill(b->data, n, b->seed);
    return b;
}

static bool blk_ok(const blk_t *b) {
    return hkt_verify(b->data, b->size, b->seed) == (size_t)-1;
}

static void *worker(void *arg) {
    uint64_t rng = 1000 + (uintptr_t)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        blk_t *b = make_blk(&rng);
        if (!b) continue;
        blk_t *old = atomic_exchange(&slots[hkt_rand(&rng) % SLOTS], b);
        if (old) {
            if (!blk_ok(old)) atomic_fetch_add(&worker_bad, 1);
            free(old);
        }
        /* some purely local churn */
        void *t = malloc((size_t)(hkt_rand(&rng) % 4000) + 1);
        free(t);
    }
    return NULL;
}

static void *child_thread(void *arg) {
    uint64_t rng = 77 + (uintptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        blk_t *b = make_blk(&rng);
        if (!b || !blk_ok(b)) _exit(10);
        free(b);
    }
    return NULL;
}

/* What every child does; any failure is an exit code != 0, a hang is SIGALRM. */
static int child_work(int depth) {
    alarm(30);
    uint64_t rng = 5 + (uint64_t)depth;
    /* plain allocation in the child */
    for (int i = 0; i < 5000; i++) {
        blk_t *b = make_blk(&rng);
        if (!b) return 11;
        if (!blk_ok(b)) return 12;
        free(b);
    }
    char *z = calloc(1000, 100);
    if (!z || !hkt_all_zero(z, 100000)) return 13;
    free(z);
    /* free what the parent's (now absent) threads left in the slots */
    for (size_t i = 0; i < SLOTS; i++) {
        blk_t *old = atomic_exchange(&slots[i], NULL);
        if (old) {
            if (!blk_ok(old)) return 14;
            free(old);
        }
    }
    /* threads in the child */
    pthread_t t[3];
    for (uintptr_t i = 0; i < 3; i++)
        if (pthread_create(&t[i], NULL, child_thread, (void *)i) != 0) return 15;
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    /* and a grandchild */
    if (depth == 0) {
        pid_t g = fork();
        if (g < 0) return 16;
        if (g == 0) _exit(child_work(1));
        int st = 0;
        if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 17;
    }
    return 0;
}

int main(void) {
    hkt_begin("std_fork", 240);
    hkt_check_running_on_heapkit();
    pthread_t w[WORKERS];
    for (uintptr_t i = 0; i < WORKERS; i++) REQUIRE(pthread_create(&w[i], NULL, worker, (void *)i) == 0);

    /* a block the parent owns that the child reads and frees */
    char *mine = malloc(100000);
    REQUIRE(mine);
    hkt_fill(mine, 100000, 4242);

    size_t forks = hkt_scaled(24), failed = 0;
    for (size_t i = 0; i < forks; i++) {
        /* let the workers get going between forks */
        for (volatile int spin = 0; spin < 200000; spin++) {
        }
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            if (hkt_verify(mine, 100000, 4242) != (size_t)-1) _exit(20);
            free(mine);
            int rc = child_work(0);
            if (rc) _exit(rc);
            exit(0); /* runs atexit handlers and stdio flush, which may allocate */
        }
        int st = 0;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed++;
            if (WIFSIGNALED(st))
                hkt_fail(__FILE__, __LINE__, "fork %zu: child killed by signal %d%s", i, WTERMSIG(st),
                         WTERMSIG(st) == SIGALRM ? " (SIGALRM: deadlock in the child)" : "");
            else
                hkt_fail(__FILE__, __LINE__, "fork %zu: child exit code %d", i, WEXITSTATUS(st));
            if (failed >= 3) break;
        }
    }
    /* system() forks (or vforks) and execs too */
    int rc = system("exit 0");
    CHECKF(rc == 0, "system() = %d", rc);

    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], NULL);
    CHECKF(atomic_load(&worker_bad) == 0, "%zu blocks corrupted between parent threads", atomic_load(&worker_bad));
    CHECK(hkt_verify(mine, 100000, 4242) == (size_t)-1);
    free(mine);
    for (size_t i = 0; i < SLOTS; i++) free(atomic_exchange(&slots[i], NULL));
    return hkt_done();
}
