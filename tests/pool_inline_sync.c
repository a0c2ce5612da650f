/* pool_inline_sync.c — the top of a thread's pool cache lives in the thread's inline record
 * (hk_pool_tls_v3) while the record serves the pool, and the cache's own word is stale until the
 * library takes it back. Every reader must get the record's: statistics (from the owner and from
 * another thread while the owner waits), trim, destroy (from the owner and from another thread),
 * a switch to another pool and back, a thread's exit (the objects it freed into its cache, of
 * another thread's chunks, go home and are handed out again exactly once), and a forked child
 * (the other threads' caches are retired there). Each step ends with inline operations only, so
 * a stale top shows as a wrong count, objects lost or handed out twice, or a destroy that
 * reports live objects. (An object freed by a thread whose chunk is not its own counts as live
 * until the chunk's owner collects it: a trim by the owner, or the owner's exit, does.) */
#define _GNU_SOURCE
#include "pool_test.h"
#include "heapkit_pool_inline.h"

#include <semaphore.h>

#if defined(__SANITIZE_THREAD__)
#define PS_CHILDREN 0 /* as in pool_inline.c: TSan's deadlock detector and fork */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PS_CHILDREN 0
#endif
#endif
#ifndef PS_CHILDREN
#define PS_CHILDREN 1
#endif

enum { SIZE = 40, FEW = 37, MANY = 3000 };

static size_t live_of(hk_pool_t *p) {
    hk_pool_stats_t st;
    hk_pool_stats(p, &st);
    return st.live;
}

/* Distinct, non-NULL, and each keeps what was written into it. */
static bool all_distinct(void **objs, int n) {
    for (int i = 0; i < n; i++) {
        if (objs[i] == NULL) return false;
        memset(objs[i], i & 0xff, SIZE);
    }
    for (int i = 0; i < n; i++) {
        const unsigned char *b = objs[i];
        if (b[0] != (i & 0xff) || b[SIZE - 1] != (i & 0xff)) return false;
    }
    return true;
}

/* A thread that allocates and frees through the inline paths, then waits with its record still
 * serving the pool (its last operations inline: the cache's own top is stale). */
typedef struct worker_s {
    hk_pool_t *pool;
    void **freeing; /* objects of another thread's to free here, or NULL */
    int nfreeing;
    void *held[FEW];
    sem_t done, go;
    bool ok;
} worker_t;

static void *worker_main(void *arg) {
    worker_t *w = arg;
    w->ok = true;
    for (int i = 0; i < FEW; i++) {
        w->held[i] = hk_pool_alloc(w->pool);
        if (w->held[i] == NULL) w->ok = false;
    }
    for (int i = 0; i < w->nfreeing; i++) hk_pool_free(w->pool, w->freeing[i]);
    hk_pool_free(w->pool, w->held[FEW - 1]); /* one back inline: FEW - 1 held */
    sem_post(&w->done);
    sem_wait(&w->go);
    return NULL;
}

static void worker_start(worker_t *w, pthread_t *t, hk_pool_t *pool, void **freeing, int n) {
    *w = (worker_t){.pool = pool, .freeing = freeing, .nfreeing = n};
    sem_init(&w->done, 0, 0);
    sem_init(&w->go, 0, 0);
    REQUIRE(pthread_create(t, NULL, worker_main, w) == 0);
    sem_wait(&w->done);
}

/* Statistics and destroy read the record's top: the owner and another thread. */
static void stats_and_destroy(void) {
    hk_pool_t *p = hk_pool_create("sync", SIZE, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(p != NULL);
    static void *objs[MANY];
    for (int n = 1; n <= FEW; n++) { /* a few more each time, inline, then the count */
        for (int i = 0; i < n; i++) objs[i] = hk_pool_alloc(p);
        CHECKF(live_of(p) == (size_t)n, "live %zu after %d inline allocations", live_of(p), n);
        for (int i = 0; i < n; i++) hk_pool_free(p, objs[i]);
        CHECKF(live_of(p) == 0, "live %zu after %d inline frees", live_of(p), n);
    }
    for (int i = 0; i < MANY; i++) objs[i] = hk_pool_alloc(p);
    CHECK(all_distinct(objs, MANY));
    CHECKF(live_of(p) == MANY, "live %zu, %d allocated", live_of(p), MANY);

    /* Another thread's cache, counted from its record while it waits. */
    worker_t w;
    pthread_t t;
    worker_start(&w, &t, p, NULL, 0);
    CHECK(w.ok);
    CHECKF(live_of(p) == MANY + FEW - 1, "live %zu with another thread's %d", live_of(p), FEW - 1);
    for (int i = 0; i < MANY; i++) hk_pool_free(p, objs[i]);
    CHECKF(live_of(p) == FEW - 1, "live %zu after ours were freed", live_of(p));
    for (int i = 0; i < FEW - 1; i++) hk_pool_free(p, w.held[i]); /* theirs, freed here */
    sem_post(&w.go);
    pthread_join(t, NULL); /* its exit collects what came home to its chunks */

    /* Trim gives back what the inline frees cached: no chunk is left. */
    hk_pool_trim(p);
    hk_pool_stats_t st;
    hk_pool_stats(p, &st);
    CHECKF(st.chunks == 0 && st.live == 0, "%zu chunks, %zu live after freeing all and a trim", st.chunks, st.live);
    hk_pool_destroy(p);
}

/* A switch to another pool gives the first its top back, and the switch back takes it again. */
static void switching(void) {
    hk_pool_t *a = hk_pool_create("a", SIZE, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    hk_pool_t *b = hk_pool_create("b", SIZE, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(a != NULL && b != NULL);
    static void *oa[MANY], *ob[MANY];
    for (int i = 0; i < MANY; i++) { /* alternating: each call switches the record */
        oa[i] = hk_pool_alloc(a);
        ob[i] = hk_pool_alloc(b);
        if (i % 7 == 3) {
            hk_pool_free(a, oa[i]);
            oa[i] = hk_pool_alloc(a);
        }
    }
    CHECK(all_distinct(oa, MANY) && all_distinct(ob, MANY));
    CHECKF(live_of(a) == MANY && live_of(b) == MANY, "live %zu and %zu, %d each", live_of(a), live_of(b), MANY);
    for (int i = 0; i < MANY; i++) {
        hk_pool_free(a, oa[i]);
        if (i % 2 == 0) hk_pool_free(b, ob[i]);
    }
    CHECKF(live_of(a) == 0 && live_of(b) == MANY / 2, "live %zu and %zu", live_of(a), live_of(b));
    for (int i = 1; i < MANY; i += 2) hk_pool_free(b, ob[i]);
    CHECK(live_of(b) == 0);
    hk_pool_destroy(a);
    hk_pool_destroy(b);
}

/* Objects freed by another thread into its cache (inline) go home when it exits; the owner then
 * gets every object back exactly once. */
static void remote_then_owner(void) {
    hk_pool_t *p = hk_pool_create("remote", SIZE, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    REQUIRE(p != NULL);
    static void *mine[MANY], *again[2 * MANY];
    for (int i = 0; i < MANY; i++) mine[i] = hk_pool_alloc(p);
    CHECK(all_distinct(mine, MANY));
    worker_t w;
    pthread_t t;
    worker_start(&w, &t, p, mine, MANY / 3); /* it frees a third of ours */
    CHECK(w.ok);
    CHECKF(live_of(p) == MANY - MANY / 3 + FEW - 1, "live %zu while the other thread waits", live_of(p));
    void *theirs[FEW - 1];
    memcpy(theirs, w.held, sizeof theirs);
    sem_post(&w.go);
    pthread_join(t, NULL); /* its cache is retired: objects home to our chunks */
    hk_pool_trim(p);        /* and collected */
    CHECKF(live_of(p) == MANY - MANY / 3 + FEW - 1, "live %zu after it exited", live_of(p));
    for (int i = 0; i < FEW - 1; i++) hk_pool_free(p, theirs[i]);
    for (int i = MANY / 3; i < MANY; i++) hk_pool_free(p, mine[i]);
    CHECKF(live_of(p) == 0, "live %zu after every free", live_of(p));
    for (int i = 0; i < 2 * MANY; i++) again[i] = hk_pool_alloc(p);
    CHECK(all_distinct(again, 2 * MANY));
    CHECKF(live_of(p) == 2 * MANY, "live %zu, %d allocated again", live_of(p), 2 * MANY);
    for (int i = 0; i < 2 * MANY; i++) hk_pool_free(p, again[i]);
    CHECK(live_of(p) == 0);
    hk_pool_destroy(p);
}

/* Children: a destroy must find every object the inline frees cached (no "still live" line). */
static int child(const char *name) {
    hk_pool_t *p = hk_pool_create("child", SIZE, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    static void *objs[MANY];
    for (int i = 0; i < MANY; i++) objs[i] = hk_pool_alloc(p);
    for (int i = 0; i < MANY; i++) hk_pool_free(p, objs[i]);
    if (strcmp(name, "destroy_owner") == 0) {
        hk_pool_destroy(p);
    } else if (strcmp(name, "destroy_other") == 0) { /* a waiting thread's cache holds objects */
        worker_t w;
        pthread_t t;
        worker_start(&w, &t, p, NULL, 0);
        for (int i = 0; i < FEW - 1; i++) hk_pool_free(p, w.held[i]); /* into our cache, inline */
        hk_pool_destroy(p); /* its record and ours both serve it */
        sem_post(&w.go);
        pthread_join(t, NULL);
    } else if (strcmp(name, "fork") == 0) { /* the waiting thread is not in the grandchild */
        worker_t w;
        pthread_t t;
        worker_start(&w, &t, p, NULL, 0);
        pid_t pid = fork();
        if (pid == 0) {
            int bad = live_of(p) != FEW - 1; /* its cache retired: its held objects still count */
            for (int i = 0; i < FEW - 1; i++) hk_pool_free(p, w.held[i]);
            bad |= live_of(p) != 0;
            hk_pool_destroy(p);
            _exit(bad ? 63 : 0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        sem_post(&w.go);
        pthread_join(t, NULL);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 64;
        for (int i = 0; i < FEW - 1; i++) hk_pool_free(p, w.held[i]);
        hk_pool_destroy(p);
    }
    return 0;
}

static void run_child(const char *name) {
    static char out[64 * 1024];
    char *argv[] = {(char *)"self", (char *)"child", (char *)name, NULL};
    int status = hkt_run_self(argv, NULL, 120, out, sizeof out);
    CHECKF(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %s: status %d\n%s", name, status, out);
    CHECKF(strstr(out, "still live") == NULL, "child %s: the destroy found cached objects live:\n%s", name, out);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("pool_inline_sync", 120);
    stats_and_destroy();
    switching();
    remote_then_owner();
    for (int i = 0; PS_CHILDREN && i < 3; i++) run_child((const char *[]){"destroy_owner", "destroy_other", "fork"}[i]);
    return hkt_done();
}
