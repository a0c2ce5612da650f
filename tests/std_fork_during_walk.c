/* std_fork_during_walk.c — fork() while another thread is in the middle of a stack walk, made
 * certain rather than left to chance. Under HEAPKIT_LEAKS=1 a tracked allocation walks its stack
 * and notes the loaded objects, both through dl_iterate_phdr, whose lock glibc does not reset in a
 * forked child. This program puts its own dl_iterate_phdr in front of the loader's (the executable
 * exports it, so heapkit and libunwind call it) and holds one worker inside the loader's, lock
 * held, until the main thread has forked, or for a bounded while if fork waits for the worker (as
 * it must). A child forked with the lock held waits on it for ever in its first stack walk; the
 * parent kills it and fails. Before fork waited for walks (src/debug/stack_walk_gate.c),
 * std_fork_tracked_stacks hung this way about one run in three on a loaded machine. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the worker stays in the loader at most, in 1 ms polls: long past the fork when fork
 * does not wait for it; with the fix fork waits all of it. Not a timing check: either way the
 * result is the same, only the time the test takes differs. */
enum { STALL_POLLS = 1000, INSIDE_POLLS = 20000, CHILD_WAIT_MS = 20000 };

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
static iterate_fn real_iterate;
static __thread bool stall_here; /* this thread's next dl_iterate_phdr stays inside the loader */
static atomic_bool inside, forked;

typedef struct {
    int (*callback)(struct dl_phdr_info *, size_t, void *);
    void *data;
    bool first;
} stall_t;

static int stall_callback(struct dl_phdr_info *info, size_t size, void *arg) {
    stall_t *s = arg;
    if (s->first) { /* the loader's lock is held now */
        s->first = false;
        atomic_store(&inside, true);
        for (int i = 0; i < STALL_POLLS && !atomic_load(&forked); i++) usleep(1000);
    }
    return s->callback(info, size, s->data);
}

/* Called from the start (heapkit walks stacks before main): the loader's is looked up then. */
int dl_iterate_phdr(int (*callback)(struct dl_phdr_info *, size_t, void *), void *data) {
    if (real_iterate == NULL) real_iterate = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
    if (!stall_here) return real_iterate(callback, data);
    stall_here = false;
    stall_t s = {callback, data, true};
    return real_iterate(stall_callback, &s);
}

/* A call site of its own: the allocation's stack is one the worker has never walked. */
static __attribute__((noinline)) void *worker_alloc(void) { return malloc(72); }

static void *worker(void *arg) {
    (void)arg;
    stall_here = true;
    void *p = worker_alloc();
    __asm__ volatile("" ::: "memory");
    stall_here = false;
    free(p);
    return NULL;
}

static __attribute__((noinline)) int child_alloc(void) {
    void *p = malloc(40);
    if (p == NULL) return 11;
    free(p);
    return 0;
}

int main(void) {
    hkt_begin("std_fork_during_walk", 120);
    hkt_check_running_on_heapkit();
    if (real_iterate == NULL) real_iterate = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
    REQUIRE(real_iterate != NULL);
    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, worker, NULL) == 0);
    for (int i = 0; i < INSIDE_POLLS && !atomic_load(&inside); i++) usleep(1000);
    REQUIRE(atomic_load(&inside)); /* the tracker's walk went through dl_iterate_phdr */

    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(child_alloc()); /* its first new stack: a walk, through the loader's lock */
    atomic_store(&forked, true);
    int st = 0, waited_ms = 0;
    pid_t got;
    while ((got = waitpid(pid, &st, WNOHANG)) == 0 && waited_ms < CHILD_WAIT_MS) {
        usleep(10000);
        waited_ms += 10;
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        hkt_fail(__FILE__, __LINE__, "the child hung for %d ms (forked during a stack walk: the loader's lock "
                 "inherited held); killed", CHILD_WAIT_MS);
    } else {
        REQUIRE(got == pid);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", (unsigned)st);
    }
    pthread_join(w, NULL);
    return hkt_done();
}
