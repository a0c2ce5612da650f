/* pool_basic.c — hk_pool in one thread, both modes: argument checks, distinct aligned objects
 * whose contents survive, reuse, constructor/destructor once per object lifetime (state kept
 * across free and alloc), shrinking when objects are freed and hk_pool_trim, object sizes from
 * 1 byte to 300 KiB, many pools (reused ids), and the pools in hk_pool_stats, the JSON and the text report. */
#define _GNU_SOURCE
#include "pool_test.h"

static const unsigned k_modes[] = {HK_POOL_LOCAL, HK_POOL_SHARED};
static const char *mode_name(unsigned m) { return m == HK_POOL_LOCAL ? "local" : "shared"; }

static void test_create_errors(void) {
    struct {
        size_t size, align;
        unsigned flags;
    } bad[] = {
        {0, 0, HK_POOL_LOCAL},          {64, 0, 0},    {64, 0, HK_POOL_LOCAL | HK_POOL_SHARED},
        {64, 24, HK_POOL_SHARED},        {64, 8192, HK_POOL_SHARED}, {(size_t)600 << 10, 0, HK_POOL_LOCAL},
        {64, 0, HK_POOL_LOCAL | 0x100u},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        hk_pool_t *p = hk_pool_create("bad", bad[i].size, bad[i].align, bad[i].flags, NULL, NULL, NULL);
        CHECKF(p == NULL && errno == EINVAL, "case %zu: create(size %zu, align %zu, flags %#x) = %p, errno %d", i,
               bad[i].size, bad[i].align, bad[i].flags, (void *)p, errno);
        if (p) hk_pool_destroy(p);
    }
    hk_pool_t *p = hk_pool_create(NULL, 8, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    REQUIRE(p != NULL);
    hk_pool_stats_t st;
    hk_pool_stats(p, &st);
    CHECKF(strcmp(st.name, "pool") == 0, "unnamed pool is called '%s'", st.name);
    hk_pool_free(p, NULL); /* a no-op, like free(NULL) */
    hk_pool_destroy(p);
    hk_pool_destroy(NULL);
}

/* N objects: distinct, aligned, not overlapping (every byte pattern-checked), freed in a
 * shuffled order, then the same number again without the pool growing. */
static void test_alloc_free(unsigned mode) {
    enum { SIZE = 56 };
    size_t n = hkt_scaled(40000);
    hk_pool_t *pool = hk_pool_create("basic", SIZE, 0, mode, NULL, NULL, NULL);
    REQUIRE(pool != NULL);
    uint8_t **objs = hk_malloc(n * sizeof *objs);
    REQUIRE(objs != NULL);
    for (size_t i = 0; i < n; i++) {
        objs[i] = hk_pool_alloc(pool);
        REQUIRE(objs[i] != NULL);
        CHECKF(((uintptr_t)objs[i] & 15) == 0, "%s: object %p not 16-byte aligned", mode_name(mode), (void *)objs[i]);
        hkt_fill(objs[i], SIZE, (uint32_t)i);
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (hkt_verify(objs[i], SIZE, (uint32_t)i) != (size_t)-1) bad++;
    CHECKF(bad == 0, "%s: %zu of %zu objects overwritten by others (overlap)", mode_name(mode), bad, n);
    hk_pool_stats_t st;
    hk_pool_stats(pool, &st);
    CHECKF(st.live == n, "%s: live %zu, want %zu", mode_name(mode), st.live, n);
    CHECKF(st.capacity >= n && st.chunks > 0 && st.bytes >= st.capacity * SIZE, "%s: capacity %zu chunks %zu bytes %zu",
           mode_name(mode), st.capacity, st.chunks, st.bytes);
    CHECK(st.object_size == SIZE && strcmp(st.name, "basic") == 0);
    size_t chunks_full = st.chunks;
    uint64_t seed = 12345;
    for (size_t i = n - 1; i > 0; i--) { /* shuffle */
        size_t j = (size_t)(hkt_rand(&seed) % (i + 1));
        uint8_t *t = objs[i];
        objs[i] = objs[j];
        objs[j] = t;
    }
    for (size_t i = 0; i < n; i++) hk_pool_free(pool, objs[i]);
    hk_pool_stats(pool, &st);
    CHECKF(st.live == 0, "%s: live %zu after freeing everything", mode_name(mode), st.live);
    for (size_t i = 0; i < n; i++) {
        objs[i] = hk_pool_alloc(pool);
        REQUIRE(objs[i] != NULL);
        hkt_fill(objs[i], SIZE, (uint32_t)i + 7);
    }
    bad = 0;
    for (size_t i = 0; i < n; i++)
        if (hkt_verify(objs[i], SIZE, (uint32_t)i + 7) != (size_t)-1) bad++;
    CHECKF(bad == 0, "%s: %zu objects overlap after reuse", mode_name(mode), bad);
    hk_pool_stats(pool, &st);
    CHECKF(st.chunks <= chunks_full + 1, "%s: %zu chunks for the second round, %zu for the first", mode_name(mode),
           st.chunks, chunks_full);
    for (size_t i = 0; i < n; i++) hk_pool_free(pool, objs[i]);
    hk_free(objs);
    hk_pool_destroy(pool);
}

/* A freed object is handed out again first (the cache and the chunk lists are LIFO). */
static void test_reuse(unsigned mode) {
    hk_pool_t *pool = hk_pool_create("reuse", 32, 0, mode, NULL, NULL, NULL);
    REQUIRE(pool != NULL);
    void *keep = hk_pool_alloc(pool);
    void *p = hk_pool_alloc(pool);
    hk_pool_free(pool, p);
    void *q = hk_pool_alloc(pool);
    CHECKF(q == p, "%s: freed %p, next alloc %p", mode_name(mode), p, q);
    hk_pool_free(pool, q);
    hk_pool_free(pool, keep);
    hk_pool_destroy(pool);
}

static void test_alignment(unsigned mode) {
    static const struct {
        size_t size, align;
    } cases[] = {{1, 0}, {8, 8}, {12, 0}, {100, 64}, {200, 4096}, {24, 16}, {4000, 128}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        hk_pool_t *pool = hk_pool_create("align", cases[k].size, cases[k].align, mode, NULL, NULL, NULL);
        REQUIRE(pool != NULL);
        size_t want = cases[k].align ? cases[k].align : cases[k].size < 16 ? 8 : 16;
        void *objs[300];
        for (int i = 0; i < 300; i++) {
            objs[i] = hk_pool_alloc(pool);
            REQUIRE(objs[i] != NULL);
            CHECKF(((uintptr_t)objs[i] & (want - 1)) == 0, "%s: size %zu align %zu: object %p misaligned",
                   mode_name(mode), cases[k].size, want, objs[i]);
            memset(objs[i], i & 0xff, cases[k].size);
        }
        for (int i = 0; i < 300; i++) {
            const uint8_t *b = objs[i];
            for (size_t j = 0; j < cases[k].size; j++)
                if (b[j] != (uint8_t)(i & 0xff)) {
                    CHECKF(0, "%s: size %zu: object %d byte %zu overwritten", mode_name(mode), cases[k].size, i, j);
                    break;
                }
        }
        for (int i = 0; i < 300; i++) hk_pool_free(pool, objs[i]);
        hk_pool_destroy(pool);
    }
}

/* ------------------------------------------------------------- constructor and destructor */

#define OBJ_MAGIC 0xC0FFEE0DDBA11ull

typedef struct obj_s {
    uint64_t magic; /* set by the constructor only: the pool must not disturb it while free */
    uint64_t serial;
    char name[40];
} obj_t;

typedef struct counts_s {
    size_t ctor, dtor, bad;
} counts_t;

static void obj_ctor(void *p, void *arg) {
    counts_t *c = arg;
    obj_t *o = p;
    o->magic = OBJ_MAGIC;
    o->serial = ++c->ctor;
    strcpy(o->name, "constructed");
}

static void obj_dtor(void *p, void *arg) {
    counts_t *c = arg;
    const obj_t *o = p;
    if (o->magic != OBJ_MAGIC || strcmp(o->name, "constructed") != 0) c->bad++;
    c->dtor++;
}

static void test_ctor_dtor(unsigned mode) {
    counts_t counts = {0, 0, 0};
    hk_pool_t *pool = hk_pool_create("ctor", sizeof(obj_t), 0, mode, obj_ctor, obj_dtor, &counts);
    REQUIRE(pool != NULL);
    enum { N = 3000 };
    static obj_t *objs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = hk_pool_alloc(pool);
        REQUIRE(objs[i] != NULL);
        CHECKF(objs[i]->magic == OBJ_MAGIC && strcmp(objs[i]->name, "constructed") == 0,
               "%s: object %d not constructed", mode_name(mode), i);
    }
    /* objects are made in batches of at most a cache's worth: no constructor runs for nothing */
    CHECKF(counts.ctor >= N && counts.ctor <= N + 128, "%s: %zu constructor calls for %d objects", mode_name(mode),
           counts.ctor, N);
    CHECKF(counts.dtor == 0, "%s: %zu destructor calls while every object is live", mode_name(mode), counts.dtor);
    size_t made = counts.ctor, dtor_before = counts.dtor;
    for (int i = 0; i < N; i++) hk_pool_free(pool, objs[i]);
    /* everything is free: objects come back in their constructed state */
    for (int i = 0; i < N; i++) {
        objs[i] = hk_pool_alloc(pool);
        REQUIRE(objs[i] != NULL);
        CHECKF(objs[i]->magic == OBJ_MAGIC && strcmp(objs[i]->name, "constructed") == 0,
               "%s: object %d lost its constructed state across free and alloc", mode_name(mode), i);
    }
    /* new objects are made only where chunks were given back (plus at most one batch) */
    CHECKF(counts.ctor - made <= counts.dtor - dtor_before + 128,
           "%s: reuse made %zu new objects but only %zu were destroyed in between", mode_name(mode),
           counts.ctor - made, counts.dtor - dtor_before);
    /* the object a free returns is the next one handed out, as the program left it: no constructor */
    size_t calls = counts.ctor;
    objs[0]->serial = 777;
    obj_t *freed = objs[0];
    hk_pool_free(pool, objs[0]);
    objs[0] = hk_pool_alloc(pool);
    CHECKF(objs[0] == freed && objs[0]->serial == 777 && counts.ctor == calls,
           "%s: freed %p (serial 777), got %p with serial %llu, %zu constructor calls", mode_name(mode), (void *)freed,
           (void *)objs[0], (unsigned long long)objs[0]->serial, counts.ctor - calls);
    for (int i = 0; i < N; i++) hk_pool_free(pool, objs[i]);
    size_t released = hk_pool_trim(pool);
    CHECKF(released > 0, "%s: trim released nothing with every object free", mode_name(mode));
    CHECKF(counts.dtor == counts.ctor, "%s: after trim, %zu constructed, %zu destructed", mode_name(mode), counts.ctor,
           counts.dtor);
    /* destroy runs the destructor of every object made since, once */
    for (int i = 0; i < 10; i++) objs[i] = hk_pool_alloc(pool);
    for (int i = 0; i < 10; i++) hk_pool_free(pool, objs[i]);
    hk_pool_destroy(pool);
    CHECKF(counts.dtor == counts.ctor, "%s: after destroy, %zu constructed, %zu destructed", mode_name(mode),
           counts.ctor, counts.dtor);
    CHECKF(counts.bad == 0, "%s: %zu objects reached the destructor not in their constructed state", mode_name(mode),
           counts.bad);
}

/* ------------------------------------------------------------- shrinking */

static void test_shrink(unsigned mode) {
    size_t n = hkt_scaled(60000);
    hk_pool_t *pool = hk_pool_create("shrink", 40, 0, mode, NULL, NULL, NULL);
    REQUIRE(pool != NULL);
    void **objs = hk_malloc(n * sizeof *objs);
    REQUIRE(objs != NULL);
    for (size_t i = 0; i < n; i++) {
        objs[i] = hk_pool_alloc(pool);
        REQUIRE(objs[i] != NULL);
        memset(objs[i], 1, 40);
    }
    hk_pool_stats_t full, idle, trimmed;
    hk_pool_stats(pool, &full);
    CHECKF(full.chunks >= 4, "%s: %zu chunks for %zu objects", mode_name(mode), full.chunks, n);
    for (size_t i = 0; i < n; i++) hk_pool_free(pool, objs[i]);
    hk_pool_stats(pool, &idle);
    /* empty chunks go back as they empty, beyond one kept in reserve; a cache (the thread's in
     * LOCAL mode, the pool's one cache under its lock in SHARED mode) keeps up to 64 KiB of free
     * objects (1024 of these), which may straddle three chunks */
    size_t allowed = 4;
    CHECKF(idle.chunks <= allowed && idle.live == 0, "%s: %zu chunks (of %zu) and %zu live after freeing all",
           mode_name(mode), idle.chunks, full.chunks, idle.live);
    size_t released = hk_pool_trim(pool);
    hk_pool_stats(pool, &trimmed);
    CHECKF(trimmed.chunks == 0 && trimmed.bytes == 0, "%s: trim left %zu chunks, %zu bytes", mode_name(mode),
           trimmed.chunks, trimmed.bytes);
    CHECKF(released == idle.bytes, "%s: trim says %zu bytes, there were %zu", mode_name(mode), released, idle.bytes);
    void *again = hk_pool_alloc(pool); /* a trimmed pool works as a new one */
    CHECK(again != NULL);
    hk_pool_free(pool, again);
    hk_free(objs);
    hk_pool_destroy(pool);
}

static void test_big_objects(unsigned mode) {
    size_t size = (size_t)300 << 10;
    hk_pool_t *pool = hk_pool_create("big", size, 0, mode, NULL, NULL, NULL);
    REQUIRE(pool != NULL);
    uint8_t *objs[20];
    for (int i = 0; i < 20; i++) {
        objs[i] = hk_pool_alloc(pool);
        REQUIRE(objs[i] != NULL);
        hkt_fill(objs[i], size, (uint32_t)i);
    }
    for (int i = 0; i < 20; i++)
        CHECKF(hkt_verify(objs[i], size, (uint32_t)i) == (size_t)-1, "%s: 300 KiB object %d overwritten",
               mode_name(mode), i);
    for (int i = 0; i < 20; i++) hk_pool_free(pool, objs[i]);
    hk_pool_destroy(pool);
}

/* Pools come and go; a new pool may get a destroyed pool's id, never its thread caches. */
static void test_many_pools(void) {
    enum { N = 200 };
    hk_pool_t *pools[N];
    void *objs[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            pools[i] = hk_pool_create("many", 16 + (size_t)(i % 7) * 8, 0, i % 3 ? HK_POOL_LOCAL : HK_POOL_SHARED,
                                      NULL, NULL, NULL);
            REQUIRE(pools[i] != NULL);
            objs[i] = hk_pool_alloc(pools[i]);
            REQUIRE(objs[i] != NULL);
            memset(objs[i], i & 0xff, 16);
        }
        for (int i = 0; i < N; i++) {
            hk_pool_stats_t st;
            hk_pool_stats(pools[i], &st);
            CHECKF(st.live == 1, "round %d pool %d: live %zu", round, i, st.live);
            CHECKF(*(uint8_t *)objs[i] == (uint8_t)(i & 0xff), "round %d pool %d: object overwritten", round, i);
            hk_pool_free(pools[i], objs[i]);
            hk_pool_stats(pools[i], &st);
            CHECKF(st.live == 0, "round %d pool %d: live %zu after free", round, i, st.live);
        }
        for (int i = 0; i < N; i++) hk_pool_destroy(pools[i]);
    }
}

/* ------------------------------------------------------------- statistics report */

static void print_stats(void *arg) {
    (void)arg;
    hk_stats_print();
}

static void test_stats_report(void) {
    hk_pool_t *a = hk_pool_create("report-local", 48, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    hk_pool_t *b = hk_pool_create("report-twin", 64, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    hk_pool_t *c = hk_pool_create("report-twin", 64, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    hk_pool_t *d = hk_pool_create("we\"ird\\name\n", 16, 0, HK_POOL_SHARED, NULL, NULL, NULL);
    REQUIRE(a && b && c && d);
    void *objs[7];
    for (int i = 0; i < 5; i++) objs[i] = hk_pool_alloc(a);
    objs[5] = hk_pool_alloc(b);
    objs[6] = hk_pool_alloc(c);
    static char json[256 * 1024];
    size_t n = hk_stats_json(json, sizeof json);
    REQUIRE(n < sizeof json);
    const char *err = hkt_json_error(json);
    CHECKF(err == NULL, "invalid JSON near: %.60s", err ? err : "");
    const char *pools = strstr(json, "\"pools\":[");
    CHECKF(pools != NULL, "no \"pools\" in the JSON");
    const char *line = strstr(json, "{\"name\":\"report-local\",\"count\":1,\"mode\":\"local\",\"object_size\":48,"
                                    "\"live\":5,");
    CHECKF(line != NULL, "report-local with 5 live objects missing from: %.400s", pools ? pools : json);
    line = strstr(json, "{\"name\":\"report-twin\",\"count\":2,\"mode\":\"shared\",\"object_size\":64,\"live\":2,");
    CHECKF(line != NULL, "the two report-twin pools are not one line with count 2: %.400s", pools ? pools : json);
    CHECKF(strstr(json, "we\\\"ird\\\\name\\u000a") != NULL, "a name with a quote is not escaped");
    static char text[64 * 1024];
    hkt_capture_fd(2, print_stats, NULL, text, sizeof text);
    CHECKF(strstr(text, "report-local") != NULL && strstr(text, "report-twin") != NULL && strstr(text, "pools") != NULL,
           "the text report does not list the pools:\n%s", text);
    for (int i = 0; i < 5; i++) hk_pool_free(a, objs[i]);
    hk_pool_free(b, objs[5]);
    hk_pool_free(c, objs[6]);
    hk_pool_destroy(a);
    hk_pool_destroy(b);
    hk_pool_destroy(c);
    hk_pool_destroy(d);
    n = hk_stats_json(json, sizeof json);
    CHECKF(strstr(json, "report-local") == NULL, "a destroyed pool is still listed");
}

int main(void) {
    hkt_begin("pool_basic", 300);
    test_create_errors();
    for (size_t m = 0; m < 2; m++) {
        test_alloc_free(k_modes[m]);
        test_reuse(k_modes[m]);
        test_alignment(k_modes[m]);
        test_ctor_dtor(k_modes[m]);
        test_shrink(k_modes[m]);
        test_big_objects(k_modes[m]);
    }
    test_many_pools();
    test_stats_report();
    return hkt_done();
}
