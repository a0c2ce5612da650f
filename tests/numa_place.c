/* numa_place.c — NUMA placement end to end: where threads' blocks, pools, arenas, hk_malloc_node
 * blocks and migrated pages land, that memory a node's thread freed is reused on that node and
 * never handed to another node's thread, interleaving, and the per-node statistics.
 *
 *   numa_place            simulated: writes a fake sysfs tree (CPU 0 on node 0, CPU 1 on node 1)
 *                         and runs every check under HEAPKIT_NUMA_FAKE (the normal test run; 77
 *                         without two CPUs to pin threads to). Where a block is: hk_node_of (the
 *                         node heapkit placed it on).
 *   numa_place --real     on a real multi-node kernel (tests/numa/run-guest boots one): where a
 *                         page is comes from the kernel, move_pages(2) queried here directly.
 * Each policy runs in a child process of its own (options are read once): local, interleave, off.
 * Prints the measured shares, one line each, which run-guest collects. */
#define _GNU_SOURCE
#include "hkt.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NODES 64
/* The bar: a thread's pages on its own node, blocks on the node asked for. */
#define LOCAL_SHARE_MIN 0.99
/* Interleaving: each node's share within 10% (relative) of an even split. */
#define INTERLEAVE_TOLERANCE 0.10

static bool real_kernel;
static int node_count;
static int node_cpu[MAX_NODES]; /* a CPU of each node, -1 for a node without CPUs */
static long page_size;

/* ------------------------------------------------------------ where pages are */

enum { BATCH = 256 };

/* Of the n pages, those found on `node` and those found at all (accumulated in *on, *all). */
static void query_pages(void **pages, unsigned long n, int node, size_t *on, size_t *all) {
    int status[BATCH];
    for (unsigned long done = 0; done < n; done += BATCH) {
        unsigned long count = n - done < BATCH ? n - done : BATCH;
        if (real_kernel) {
            if (syscall(SYS_move_pages, 0, count, pages + done, NULL, status, 0) != 0) {
                CHECKF(0, "move_pages query failed (errno %d)", errno);
                return;
            }
        } else {
            for (unsigned long i = 0; i < count; i++) status[i] = hk_node_of(pages[done + i]);
        }
        for (unsigned long i = 0; i < count; i++) {
            if (status[i] < 0) continue; /* not in RAM (real), or not heapkit's (simulated) */
            (*all)++;
            *on += status[i] == node;
        }
    }
}

/* Pages of [p, p+size) found on `node`, out of those found at all (accumulated in *on, *all). */
static void count_pages(const void *p, size_t size, int node, size_t *on, size_t *all) {
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page_size - 1), end = (uintptr_t)p + size;
    void *pages[BATCH];
    int status[BATCH];
    while (a < end) {
        unsigned long n = 0;
        for (; n < BATCH && a < end; n++, a += (uintptr_t)page_size) pages[n] = (void *)a;
        if (real_kernel) {
            if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) != 0) {
                CHECKF(0, "move_pages query failed (errno %d)", errno);
                return;
            }
        } else {
            for (unsigned long i = 0; i < n; i++) status[i] = hk_node_of(pages[i]);
        }
        for (unsigned long i = 0; i < n; i++) {
            if (status[i] < 0) continue; /* not in RAM (real), or not heapkit's (simulated) */
            (*all)++;
            *on += status[i] == node;
        }
    }
}

typedef struct blockset_s {
    void **p;
    size_t *size;
    size_t n;
} blockset_t;

/* Sizes cycled through: tiny to medium, and one huge block in every 64. */
static size_t size_at(size_t i) {
    static const size_t sizes[] = {24, 64, 200, 1000, 3000, 16000, 60000, 120000};
    return i % 64 == 63 ? 600 * 1024 : sizes[i % 8];
}

/* Allocate about `bytes` in blocks of mixed sizes with alloc (NULL: hk_malloc) and touch all of them. */
static blockset_t blocks_make(size_t bytes, void *(*alloc)(size_t size, void *ctx), void *ctx) {
    blockset_t s = {0};
    size_t cap = 1024, total = 0;
    s.p = malloc(cap * sizeof *s.p);
    s.size = malloc(cap * sizeof *s.size);
    REQUIRE(s.p != NULL && s.size != NULL);
    for (size_t i = 0; total < bytes; i++) {
        if (s.n == cap) {
            cap *= 2;
            s.p = realloc(s.p, cap * sizeof *s.p);
            s.size = realloc(s.size, cap * sizeof *s.size);
            REQUIRE(s.p != NULL && s.size != NULL);
        }
        size_t size = size_at(i);
        void *b = alloc ? alloc(size, ctx) : hk_malloc(size);
        REQUIRE(b != NULL);
        memset(b, (int)(i & 0xff) | 1, size);
        s.p[s.n] = b;
        s.size[s.n++] = size;
        total += size;
    }
    return s;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* The share of the distinct pages the blocks of s touch that are on node. */
static double blocks_share(const blockset_t *s, int node) {
    size_t cap = 0, n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i] != NULL) cap += s->size[i] / (size_t)page_size + 2;
    uintptr_t *pages = malloc((cap + 1) * sizeof *pages);
    REQUIRE(pages != NULL);
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i] == NULL) continue;
        uintptr_t a = (uintptr_t)s->p[i] & ~(uintptr_t)(page_size - 1), end = (uintptr_t)s->p[i] + s->size[i];
        for (; a < end; a += (uintptr_t)page_size) pages[n++] = a;
    }
    qsort(pages, n, sizeof *pages, cmp_ptr);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || pages[unique - 1] != pages[i]) pages[unique++] = pages[i];
    size_t on = 0, all = 0;
    query_pages((void **)pages, unique, node, &on, &all);
    free(pages);
    return all ? (double)on / (double)all : 0.0;
}

static void blocks_free(blockset_t *s, size_t from, size_t step) {
    for (size_t i = from; i < s->n; i += step) {
        hk_free(s->p[i]);
        s->p[i] = NULL;
    }
}

static void blocks_drop(blockset_t *s) {
    blocks_free(s, 0, 1);
    free(s->p);
    free(s->size);
}

/* -------------------------------------------------------- threads on a node */

typedef struct job_s {
    int node;
    void (*fn)(struct job_s *job);
    blockset_t set;  /* what the thread allocated (and left) */
    double share;
    uintptr_t *segs; /* segments of interest (4 MiB aligned bases) */
    size_t nsegs;
    double in_segs;  /* share of the thread's bytes in those segments */
} job_t;

static void *job_main(void *arg) {
    job_t *job = arg;
    if (real_kernel) {
        unsigned cpu, node;
        CHECKF(syscall(SYS_getcpu, &cpu, &node, NULL) == 0 && (int)node == job->node,
               "pinned to node %d, the kernel says node %u", job->node, node);
    }
    CHECKF(hk_numa_node() == job->node, "hk_numa_node() %d on a CPU of node %d", hk_numa_node(), job->node);
    job->fn(job);
    return NULL;
}

static void run_on_node(job_t *job) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(node_cpu[job->node], &set);
    pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    pthread_t t;
    REQUIRE(pthread_create(&t, &attr, job_main, job) == 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
}

#define SEG_SHIFT 22

static void note_segments(job_t *job, const blockset_t *s) {
    job->segs = malloc(s->n * sizeof *job->segs);
    job->nsegs = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->size[i] <= 128 * 1024) job->segs[job->nsegs++] = (uintptr_t)s->p[i] >> SEG_SHIFT;
}

static bool in_segments(const job_t *ref, const void *p) {
    uintptr_t g = (uintptr_t)p >> SEG_SHIFT;
    for (size_t i = 0; i < ref->nsegs; i++)
        if (ref->segs[i] == g) return true;
    return false;
}

/* Bytes of small and medium blocks of s that are in ref's segments, over all its small/medium bytes. */
static double share_in(const job_t *ref, const blockset_t *s) {
    size_t in = 0, all = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i] == NULL || s->size[i] > 128 * 1024) continue;
        all += s->size[i];
        if (in_segments(ref, s->p[i])) in += s->size[i];
    }
    return all ? (double)in / (double)all : 0.0;
}

/* ----------------------------------------------------------------- the checks */

#define MiB ((size_t)1 << 20)

static void job_malloc(job_t *job) {
    job->set = blocks_make(16 * MiB, NULL, NULL);
    job->share = blocks_share(&job->set, job->node);
}

static void check_local_malloc(void) {
    for (int k = 0; k < node_count; k++) {
        if (node_cpu[k] < 0) continue;
        job_t job = {.node = k, .fn = job_malloc};
        run_on_node(&job);
        printf("local malloc: node %d thread, %.2f%% of its pages on node %d\n", k, 100 * job.share, k);
        CHECKF(job.share >= LOCAL_SHARE_MIN, "node %d: only %.2f%% local", k, 100 * job.share);
        blocks_drop(&job.set);
    }
}

static void *pool_alloc(size_t size, void *ctx) {
    (void)size;
    return hk_pool_alloc(ctx);
}

static void *arena_alloc(size_t size, void *ctx) { return hk_arena_alloc(ctx, size); }

typedef struct pools_job_s {
    job_t job;
    int on;              /* HK_ON_NODE's node, or -1 for none */
    double pool_share, arena_share;
} pools_job_t;

static void job_pools(job_t *job) {
    pools_job_t *pj = (pools_job_t *)job;
    int want = pj->on >= 0 ? pj->on : job->node;
    unsigned node_flag = pj->on >= 0 ? HK_ON_NODE(pj->on) : 0;
    hk_pool_t *pool = hk_pool_create("numa-objects", 48, 0, HK_POOL_LOCAL | node_flag, NULL, NULL, NULL);
    hk_arena_t *arena = hk_arena_create("numa-arena", NULL, node_flag);
    REQUIRE(pool != NULL && arena != NULL);
    blockset_t ps = {0}, as = {0};
    size_t n = 4 * MiB / 48;
    ps.p = malloc(n * sizeof *ps.p);
    ps.size = malloc(n * sizeof *ps.size);
    for (size_t i = 0; i < n; i++) {
        ps.p[i] = pool_alloc(48, pool);
        REQUIRE(ps.p[i] != NULL);
        memset(ps.p[i], 1, 48);
        ps.size[i] = 48;
    }
    ps.n = n;
    as = blocks_make(4 * MiB, arena_alloc, arena);
    pj->pool_share = blocks_share(&ps, want);
    pj->arena_share = blocks_share(&as, want);
    for (size_t i = 0; i < ps.n; i++) hk_pool_free(pool, ps.p[i]);
    hk_pool_destroy(pool);
    hk_arena_destroy(arena);
    free(ps.p);
    free(ps.size);
    free(as.p);
    free(as.size);
}

static void check_pools(void) {
    for (int k = 0; k < node_count; k++) {
        if (node_cpu[k] < 0) continue;
        for (int on = -1; on < node_count; on += node_count) { /* none, then the last node */
            int target = on < 0 ? -1 : node_count - 1;
            pools_job_t pj = {.job = {.node = k, .fn = job_pools}, .on = target};
            run_on_node(&pj.job);
            int want = target >= 0 ? target : k;
            printf("pools: node %d thread%s, pool %.2f%%, arena %.2f%% on node %d\n", k,
                   target >= 0 ? " with HK_ON_NODE" : "", 100 * pj.pool_share, 100 * pj.arena_share, want);
            CHECKF(pj.pool_share >= LOCAL_SHARE_MIN && pj.arena_share >= LOCAL_SHARE_MIN,
                   "node %d thread, pool/arena for node %d: %.2f%% / %.2f%%", k, want, 100 * pj.pool_share,
                   100 * pj.arena_share);
        }
    }
    errno = 0;
    CHECKF(hk_pool_create("bad", 16, 0, HK_POOL_LOCAL | HK_ON_NODE(63), NULL, NULL, NULL) == NULL && errno == EINVAL,
           "a pool on an offline node is EINVAL");
    errno = 0;
    CHECKF(hk_arena_create("bad", NULL, HK_ON_NODE(63)) == NULL && errno == EINVAL, "an arena on an offline node is EINVAL");
}

static void *node_alloc(size_t size, void *ctx) { return hk_malloc_node(size, *(int *)ctx); }

typedef struct explicit_job_s {
    job_t job;
    double share[MAX_NODES];
} explicit_job_t;

static void job_explicit(job_t *job) {
    explicit_job_t *ej = (explicit_job_t *)job;
    for (int j = 0; j < node_count; j++) {
        blockset_t s = blocks_make(8 * MiB, node_alloc, &j);
        ej->share[j] = blocks_share(&s, j);
        blocks_drop(&s);
    }
}

static void check_explicit(void) {
    explicit_job_t ej = {.job = {.node = 0, .fn = job_explicit}};
    run_on_node(&ej.job);
    for (int j = 0; j < node_count; j++) {
        printf("hk_malloc_node: node 0 thread asking for node %d, %.2f%% there\n", j, 100 * ej.share[j]);
        CHECKF(ej.share[j] >= LOCAL_SHARE_MIN, "hk_malloc_node(, %d): %.2f%%", j, 100 * ej.share[j]);
    }
    errno = 0;
    CHECKF(hk_malloc_node(16, -1) == NULL && errno == EINVAL, "node -1 is EINVAL");
    errno = 0;
    CHECKF(hk_malloc_node(16, 63) == NULL && errno == EINVAL, "node 63 (offline) is EINVAL");
    CHECKF(hk_node_of(NULL) == -1, "hk_node_of(NULL) is -1");
}

/* Threads come and go: what a node's thread left is adopted on that node only. */
static void job_leave_half(job_t *job) {
    job->set = blocks_make(8 * MiB, NULL, NULL);
    job->share = blocks_share(&job->set, job->node);
    note_segments(job, &job->set);
    blocks_free(&job->set, 0, 2); /* half freed by the owner; the rest outlives the thread */
}

typedef struct after_job_s {
    job_t job;
    job_t *left;     /* the exited thread's job */
    bool free_left;  /* free the rest of the exited thread's blocks first (cross-node frees) */
} after_job_t;

static void job_after(job_t *job) {
    after_job_t *aj = (after_job_t *)job;
    if (aj->free_left) blocks_free(&aj->left->set, 1, 2);
    job->set = blocks_make(8 * MiB, NULL, NULL);
    job->share = blocks_share(&job->set, job->node);
    job->in_segs = share_in(aj->left, &job->set);
}

static void check_come_and_go(void) {
    job_t left = {.node = 0, .fn = job_leave_half};
    run_on_node(&left); /* exits: its segments are abandoned, half full */
    if (node_count > 1 && node_cpu[1] >= 0) {
        /* A node-1 thread frees the rest of node 0's blocks (they go home), then allocates. */
        after_job_t other = {.job = {.node = 1, .fn = job_after}, .left = &left, .free_left = false};
        run_on_node(&other.job);
        printf("come and go: node 1 thread after a node 0 thread exited, %.2f%% local, %.2f%% of its bytes in "
               "node 0's segments\n", 100 * other.job.share, 100 * other.job.in_segs);
        CHECKF(other.job.share >= LOCAL_SHARE_MIN, "node 1 after node 0 left: %.2f%% local", 100 * other.job.share);
        CHECKF(other.job.in_segs == 0.0, "a node 1 thread got %.2f%% of its bytes from node 0's segments",
               100 * other.job.in_segs);
        blocks_drop(&other.job.set);
    }
    after_job_t same = {.job = {.node = 0, .fn = job_after}, .left = &left, .free_left = false};
    run_on_node(&same.job);
    printf("come and go: node 0 thread after a node 0 thread exited, %.2f%% local, %.2f%% of its bytes in the "
           "segments the first left\n", 100 * same.job.share, 100 * same.job.in_segs);
    CHECKF(same.job.share >= LOCAL_SHARE_MIN, "node 0 after node 0 left: %.2f%% local", 100 * same.job.share);
    /* The exited thread freed half of what it had: about a third of 8 MiB more fits there. */
    CHECKF(same.job.in_segs >= 0.25, "a node 0 thread reused only %.2f%% from node 0's left segments",
           100 * same.job.in_segs);
    if (node_count > 1 && node_cpu[1] >= 0) {
        after_job_t late = {.job = {.node = 1, .fn = job_after}, .left = &same.job, .free_left = false};
        note_segments(&same.job, &same.job.set);
        blocks_free(&same.job.set, 0, 1); /* freed by the main thread: cross-node for no one, remote for all */
        run_on_node(&late.job);
        /* No address check here: once all their blocks are free, node 0's segments may be unmapped
         * and their addresses mapped again for node 1; where the pages are is what counts. */
        printf("come and go: node 1 thread after node 0's blocks were freed remotely, %.2f%% local\n",
               100 * late.job.share);
        CHECKF(late.job.share >= LOCAL_SHARE_MIN, "node 1: %.2f%% local", 100 * late.job.share);
        blocks_drop(&late.job.set);
    }
    blocks_free(&left.set, 1, 2);
    free(left.set.p);
    free(left.set.size);
    free(left.segs);
    free(same.job.segs);
    free(same.job.set.p);
    free(same.job.set.size);
}

/* Memory a node's thread freed before it exited is kept (HEAPKIT_PURGE_DELAY=-1 here, so that no
 * purge races the check) and reused by the next thread of that node, never by another node's. */
static void job_free_all(job_t *job) {
    job->set = blocks_make(8 * MiB, NULL, NULL);
    job->nsegs = 0;
    job->segs = malloc(job->set.n * sizeof *job->segs);
    for (size_t i = 0; i < job->set.n; i++) job->segs[job->nsegs++] = (uintptr_t)job->set.p[i] >> SEG_SHIFT;
    blocks_free(&job->set, 0, 1);
}

/* Bytes of s (all sizes) in ref's granules, over all of s's bytes. */
static double share_in_all(const job_t *ref, const blockset_t *s) {
    size_t in = 0, all = 0;
    for (size_t i = 0; i < s->n; i++) {
        all += s->size[i];
        if (in_segments(ref, s->p[i])) in += s->size[i];
    }
    return all ? (double)in / (double)all : 0.0;
}

static size_t grew; /* bytes of address space the last job_reuse made heapkit map */

static void job_reuse(job_t *job) {
    after_job_t *aj = (after_job_t *)job;
    hk_stats_t before, after;
    hk_stats_get(&before);
    job->set = blocks_make(8 * MiB, NULL, NULL);
    hk_stats_get(&after);
    grew = after.reserved > before.reserved ? after.reserved - before.reserved : 0;
    job->share = blocks_share(&job->set, job->node);
    job->in_segs = share_in_all(aj->left, &job->set);
}

static void check_reuse_after_exit(void) {
    job_t left = {.node = 0, .fn = job_free_all};
    run_on_node(&left);
    after_job_t other = {.job = {.node = 1, .fn = job_reuse}, .left = &left};
    run_on_node(&other.job);
    printf("kept: node 1 thread after a node 0 thread freed 8 MiB and exited: %.2f%% local, %.2f%% of its bytes "
           "in that memory\n", 100 * other.job.share, 100 * other.job.in_segs);
    CHECKF(other.job.share >= LOCAL_SHARE_MIN && other.job.in_segs == 0.0, "node 1: %.2f%% local, %.2f%% node 0's",
           100 * other.job.share, 100 * other.job.in_segs);
    after_job_t same = {.job = {.node = 0, .fn = job_reuse}, .left = &left};
    size_t other_grew = grew;
    run_on_node(&same.job);
    printf("kept: node 0 thread after it: %.2f%% local, %.2f%% of its bytes in the memory the first freed; "
           "heapkit mapped %zu KiB more for it (%zu KiB for the node 1 thread)\n",
           100 * same.job.share, 100 * same.job.in_segs, grew >> 10, other_grew >> 10);
    /* Reused, not mapped anew: the addresses alone could match by chance after an unmap. */
    CHECKF(same.job.share >= LOCAL_SHARE_MIN && same.job.in_segs >= 0.9 && grew <= MiB,
           "node 0: %.2f%% local, %.2f%% reused, %zu bytes mapped", 100 * same.job.share, 100 * same.job.in_segs, grew);
    CHECKF(other_grew >= 4 * MiB, "the node 1 thread mapped only %zu bytes: whose memory did it use?", other_grew);
    blocks_drop(&other.job.set);
    blocks_drop(&same.job.set);
    free(left.set.p);
    free(left.set.size);
    free(left.segs);
}

static void check_migrate(void) {
    if (node_count < 2) return;
    size_t size = 4 * MiB;
    char *p = hk_malloc_node(size, 0);
    REQUIRE(p != NULL);
    memset(p, 7, size);
    long moved = hk_migrate(p, size, 1);
    if (!real_kernel) {
        CHECKF(moved == -1 && errno == ENOTSUP, "simulated nodes: hk_migrate is ENOTSUP (%ld, errno %d)", moved, errno);
    } else {
        size_t on = 0, all = 0;
        count_pages(p, size, 1, &on, &all);
        printf("hk_migrate: %ld pages reported on node 1, %zu of %zu pages there\n", moved, on, all);
        CHECKF(all > 0 && (double)on / (double)all >= LOCAL_SHARE_MIN && moved >= (long)(size / (size_t)page_size) - 1,
               "migrated %ld, %zu of %zu on node 1", moved, on, all);
        CHECKF(hk_node_of(p + size / 2) == 1, "hk_node_of after migrating: %d", hk_node_of(p + size / 2));
    }
    errno = 0;
    CHECKF(hk_migrate(p, size, 63) == -1 && errno == EINVAL, "migrating to an offline node is EINVAL");
    hk_free(p);
}

static void check_stats(const char *policy) {
    char *p = hk_malloc_node(MiB, node_count - 1);
    REQUIRE(p != NULL);
    memset(p, 1, MiB);
    hk_node_stats_t st[MAX_NODES];
    size_t n = hk_stats_nodes(st, MAX_NODES);
    CHECKF(n == (size_t)node_count, "hk_stats_nodes says %zu nodes", n);
    const hk_node_stats_t *last = &st[n - 1];
    CHECKF(last->node == node_count - 1 && last->live >= MiB && last->committed >= MiB && last->segments >= 1,
           "node %d: live %zu committed %zu segments %zu", last->node, last->live, last->committed, last->segments);
    if (real_kernel) CHECKF(last->resident >= MiB, "node %d resident %zu", last->node, last->resident);
    size_t misplaced = 0, committed = 0;
    for (size_t i = 0; i < n; i++) {
        misplaced += st[i].misplaced;
        committed += st[i].committed;
    }
    printf("stats: %s policy, %zu bytes misplaced of %zu committed\n", policy, misplaced, committed);
    CHECKF(misplaced <= committed / 100, "misplaced %zu of %zu", misplaced, committed);
    for (size_t i = 0; i < n && misplaced > committed / 100; i++)
        printf("  node %d: segments %zu committed %zu live %zu resident %zu misplaced %zu\n", st[i].node,
               st[i].segments, st[i].committed, st[i].live, st[i].resident, st[i].misplaced);
    static char json[32768];
    size_t len = hk_stats_json(json, sizeof json);
    char want[128];
    snprintf(want, sizeof want, "\"numa\":{\"nodes\":%d,\"simulated\":%s,\"policy\":\"%s\"", node_count,
             real_kernel ? "false" : "true", policy);
    CHECKF(len < sizeof json && strstr(json, want) != NULL, "JSON lacks %s", want);
    hk_free(p);
}

/* Interleave: pages spread evenly over the nodes (real kernel); simulated: not placed by node. */
static void check_interleave(void) {
    blockset_t s = blocks_make(32 * MiB, NULL, NULL);
    if (real_kernel) {
        for (int j = 0; j < node_count; j++) {
            double share = blocks_share(&s, j), even = 1.0 / node_count;
            printf("interleave: %.2f%% of the pages on node %d (even: %.2f%%)\n", 100 * share, j, 100 * even);
            CHECKF(share >= even * (1 - INTERLEAVE_TOLERANCE) && share <= even * (1 + INTERLEAVE_TOLERANCE),
                   "node %d has %.2f%%", j, 100 * share);
        }
    } else {
        CHECKF(hk_node_of(s.p[0]) == -1, "interleaved memory has no node of its own (%d)", hk_node_of(s.p[0]));
    }
    blocks_drop(&s);
}

/* The process bound itself to the last node (as numactl --membind does) before heapkit started:
 * heapkit keeps that policy, so a node 0 thread's memory is on the last node too. */
static void check_process_policy(void) {
    int last = node_count - 1;
    job_t job = {.node = 0, .fn = job_malloc};
    run_on_node(&job);
    printf("process policy: node 0 thread in a process bound to node %d, %.2f%% of its pages there\n", last,
           100 * blocks_share(&job.set, last));
    CHECKF(blocks_share(&job.set, last) >= LOCAL_SHARE_MIN, "the process's own policy was not kept");
    blocks_drop(&job.set);
    check_stats("process");
}

/* ------------------------------------------------------------------- driver */

static void find_node_cpus(void) {
    node_count = hk_numa_nodes();
    for (int k = 0; k < MAX_NODES; k++) node_cpu[k] = -1;
    cpu_set_t allowed;
    REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) continue;
        int node = hk_numa_node();
        if (node >= 0 && node < MAX_NODES && node_cpu[node] < 0) node_cpu[node] = cpu;
    }
    sched_setaffinity(0, sizeof allowed, &allowed);
}

static int child(const char *policy) {
    hkt_begin(policy, 600);
    page_size = sysconf(_SC_PAGESIZE);
    find_node_cpus();
    printf("%s: %d nodes, %s\n", policy, node_count, real_kernel ? "real kernel" : "simulated");
    CHECKF(node_count >= 2, "%d nodes: the topology was not read", node_count);
    if (node_count < 2) return hkt_done();
    if (!strcmp(policy, "local")) {
        check_local_malloc();
        check_pools();
        check_explicit();
        check_come_and_go();
        check_migrate();
        check_stats("local");
    } else if (!strcmp(policy, "process")) {
        check_process_policy();
    } else if (!strcmp(policy, "local-kept")) {
        check_reuse_after_exit();
    } else if (!strcmp(policy, "interleave")) {
        check_interleave();
        check_explicit(); /* explicit placement still holds */
        check_stats("interleave");
    } else {
        check_explicit(); /* HEAPKIT_NUMA=off: only what is asked for is placed */
        check_stats("off");
    }
    fflush(stdout);
    return hkt_done();
}

static char fake_root[256];

static void fake_put(const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/devices/system/node/%s", fake_root, rel);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void fake_tree(void) {
    snprintf(fake_root, sizeof fake_root, "%s/hk-numa-place-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/devices/system/node/node0' '%s/devices/system/node/node1'", fake_root,
             fake_root);
    REQUIRE(system(cmd) == 0);
    fake_put("online", "0-1\n");
    fake_put("node0/cpulist", "0\n");
    fake_put("node1/cpulist", "1\n");
    fake_put("node0/distance", "10 20\n");
    fake_put("node1/distance", "20 10\n");
}

static int run_child(const char *self, const char *policy) {
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (!strcmp(policy, "process")) { /* as numactl --membind does: set, then exec */
            int lo = 0, hi = 0;
            FILE *f = fopen("/sys/devices/system/node/online", "r");
            if (f == NULL || fscanf(f, "%d-%d", &lo, &hi) != 2 || hi < 1) _exit(126);
            fclose(f);
            unsigned long mask[2] = {1ul << hi, 0};
            if (syscall(SYS_set_mempolicy, 2 /* MPOL_BIND */, mask, 65ul) != 0) _exit(126);
        }
        setenv("HEAPKIT_NUMA", strncmp(policy, "local", 5) == 0 || !strcmp(policy, "process") ? "local" : policy, 1);
        if (!strcmp(policy, "local-kept")) setenv("HEAPKIT_PURGE_DELAY", "-1", 1);
        execl(self, self, real_kernel ? "--real-child" : "--child", policy, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
    if (argc == 3 && (!strcmp(argv[1], "--child") || !strcmp(argv[1], "--real-child"))) {
        real_kernel = !strcmp(argv[1], "--real-child");
        return child(argv[2]);
    }
    real_kernel = argc == 2 && !strcmp(argv[1], "--real");
    hkt_begin(real_kernel ? "numa_place_real" : "numa_place", 1200);
    if (!real_kernel) {
        cpu_set_t allowed;
        REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
        if (!CPU_ISSET(0, &allowed) || !CPU_ISSET(1, &allowed)) {
            printf("numa_place: skipped: needs CPUs 0 and 1 to put threads on two simulated nodes\n");
            return 77;
        }
        fake_tree();
        setenv("HEAPKIT_NUMA_FAKE", fake_root, 1);
    }
    const char *self = "/proc/self/exe";
    static const char *policies[] = {"local", "local-kept", "interleave", "off"};
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        int rc = run_child(self, policies[i]);
        CHECKF(rc == 0, "the %s run failed (exit %d)", policies[i], rc);
    }
    if (real_kernel) { /* a simulated machine has no kernel policy to keep */
        int rc = run_child(self, "process");
        CHECKF(rc == 0, "the process-policy run failed (exit %d)", rc);
    }
    if (!real_kernel) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fake_root);
        if (system(cmd) != 0) hkt_note("could not remove %s", fake_root);
    }
    return hkt_done();
}
