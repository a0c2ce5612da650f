/* pool_fork.c — fork while another thread is in the middle of pool and arena calls: the child
 * must not inherit a held pool, arena or registry lock (it would hang), must be able to use a
 * LOCAL pool whose chunks belonged to a thread that does not exist in it (including freeing that
 * thread's objects), a SHARED pool and a locked arena, and must see consistent statistics. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct world_s {
    hk_pool_t *local, *shared;
    hk_arena_t *arena;
    _Atomic bool stop;
    _Atomic(void *) parked; /* an object of the busy thread's chunks, for the child to free */
} world_t;

static void *busy_main(void *arg) {
    world_t *w = arg;
    void *mine[64] = {0};
    uint64_t seed = 12345;
    for (size_t i = 0; !atomic_load(&w->stop); i++) {
        size_t k = (size_t)(hkt_rand(&seed) % 64);
        if (mine[k] != NULL) hk_pool_free(w->local, mine[k]);
        mine[k] = hk_pool_alloc(w->local);
        void *s = hk_pool_alloc(w->shared);
        hk_pool_free(w->shared, s);
        if (hk_arena_alloc(w->arena, 24) == NULL) break;
        if (i % 512 == 0) hk_arena_reset(w->arena);
        if (atomic_load(&w->parked) == NULL) atomic_store(&w->parked, hk_pool_alloc(w->local));
    }
    for (int k = 0; k < 64; k++) hk_pool_free(w->local, mine[k]);
    return NULL;
}

/* In the child: everything still works. Returns 0 or a code saying what did not. */
static int child_checks(world_t *w) {
    void *objs[1000];
    for (int i = 0; i < 1000; i++) {
        objs[i] = hk_pool_alloc(w->local);
        if (objs[i] == NULL) return 10;
        memset(objs[i], i & 0xff, 48);
    }
    for (int i = 0; i < 1000; i++)
        if (((uint8_t *)objs[i])[47] != (uint8_t)(i & 0xff)) return 11;
    for (int i = 0; i < 1000; i++) hk_pool_free(w->local, objs[i]);
    void *parked = atomic_load(&w->parked);
    if (parked != NULL) hk_pool_free(w->local, parked); /* its owner does not exist here */
    void *s = hk_pool_alloc(w->shared);
    if (s == NULL) return 12;
    hk_pool_free(w->shared, s);
    char *str = hk_arena_printf(w->arena, "child %d", (int)getpid());
    if (str == NULL || strncmp(str, "child ", 6) != 0) return 13;
    hk_pool_stats_t st;
    hk_pool_stats(w->local, &st);
    static char json[64 * 1024];
    hk_stats_json(json, sizeof json);
    if (hkt_json_error(json) != NULL) return 14;
    hk_arena_t *child_arena = hk_arena_create("in-child", w->arena, 0);
    if (child_arena == NULL) return 15;
    hk_arena_destroy(child_arena);
    return 0;
}

int main(void) {
    hkt_begin("pool_fork", 120);
    world_t w = {.local = hk_pool_create("fork-local", 48, 0, HK_POOL_LOCAL, NULL, NULL, NULL),
                 .shared = hk_pool_create("fork-shared", 48, 0, HK_POOL_SHARED, NULL, NULL, NULL),
                 .arena = hk_arena_create("fork-arena", NULL, HK_ARENA_LOCKED)};
    REQUIRE(w.local && w.shared && w.arena);
    pthread_t t;
    pthread_create(&t, NULL, busy_main, &w);
    size_t forks = hkt_scaled(40);
    for (size_t i = 0; i < forks; i++) {
        while (atomic_load(&w.parked) == NULL) sched_yield();
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(20); /* a child stuck on an inherited lock dies of SIGALRM: reported below */
            _exit(child_checks(&w));
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork %zu: child status %#x", i, (unsigned)status);
        void *parked = atomic_exchange(&w.parked, NULL);
        hk_pool_free(w.local, parked); /* in the parent it is still live: freed here, remotely */
    }
    atomic_store(&w.stop, true);
    pthread_join(t, NULL);
    void *parked = atomic_exchange(&w.parked, NULL);
    if (parked != NULL) hk_pool_free(w.local, parked);
    hk_pool_trim(w.local);
    hk_pool_stats_t st;
    hk_pool_stats(w.local, &st);
    CHECKF(st.live == 0 && st.chunks == 0, "after the run: %zu live, %zu chunks", st.live, st.chunks);
    hk_pool_destroy(w.local);
    hk_pool_destroy(w.shared);
    hk_arena_destroy(w.arena);
    return hkt_done();
}
