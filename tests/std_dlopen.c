/* std_dlopen.c — a program that dlopen()s libraries under heapkit: memory allocated in a loaded
 * library is freed by the program and vice versa, dynamic TLS of a dlopen'ed module in many threads,
 * repeated dlopen/dlclose, libm, and dlerror strings. Needs HKT_DSO=path of hkt_dso.so. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>

typedef struct {
    char *(*make)(size_t, unsigned);
    int (*check)(const char *, size_t, unsigned);
    void (*release)(void *);
    void *(*grow)(void *, size_t);
    const char *(*ctor_text)(void);
    char *(*tls)(void);
} dso_t;

static bool load(void *h, dso_t *d) {
    d->make = (char *(*)(size_t, unsigned))dlsym(h, "dso_make");
    d->check = (int (*)(const char *, size_t, unsigned))dlsym(h, "dso_check");
    d->release = (void (*)(void *))dlsym(h, "dso_release");
    d->grow = (void *(*)(void *, size_t))dlsym(h, "dso_grow");
    d->ctor_text = (const char *(*)(void))dlsym(h, "dso_ctor_text");
    d->tls = (char *(*)(void))dlsym(h, "dso_tls_buffer");
    return d->make && d->check && d->release && d->grow && d->ctor_text && d->tls;
}

static dso_t g_dso;

static void *tls_thread(void *arg) {
    char *buf = g_dso.tls();
    size_t id = (size_t)arg;
    memset(buf, (int)id, 4096);
    /* allocate across the boundary from this thread too */
    char *p = g_dso.make(1000 + id, (unsigned)id);
    void *bad = NULL;
    if (!p || !g_dso.check(p, 1000 + id, (unsigned)id)) bad = (void *)1;
    free(p);
    for (int i = 0; i < 4096; i++)
        if (buf[i] != (char)id) bad = (void *)1;
    return bad;
}

static void test_cross_boundary(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECKF(h != NULL, "dlopen(%s): %s", path, dlerror());
    if (!h) return;
    REQUIRE(load(h, &g_dso));
    CHECK(g_dso.ctor_text() && strcmp(g_dso.ctor_text(), "dso constructor text") == 0);
    /* library allocates, program frees */
    for (size_t n = 1; n < 2000000; n = n * 3 + 1) {
        char *p = g_dso.make(n, 3);
        REQUIRE(p);
        CHECK(g_dso.check(p, n, 3));
        p = realloc(p, n * 2);
        REQUIRE(p);
        CHECK(g_dso.check(p, n, 3));
        free(p);
    }
    /* program allocates, library reallocs and frees */
    for (size_t n = 1; n < 2000000; n = n * 3 + 1) {
        char *p = malloc(n);
        REQUIRE(p);
        hkt_fill(p, n, 9);
        p = g_dso.grow(p, n + 100);
        REQUIRE(p);
        CHECK(hkt_verify(p, n, 9) == (size_t)-1);
        g_dso.release(p);
    }
    /* dynamic TLS in threads */
    for (int round = 0; round < 20; round++) {
        pthread_t t[4];
        for (size_t i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, tls_thread, (void *)(i + 1)) == 0);
        for (size_t i = 0; i < 4; i++) {
            void *r = NULL;
            pthread_join(t[i], &r);
            CHECKF(r == NULL, "thread %zu saw wrong data in TLS or across the library boundary", i);
        }
    }
    /* a block made by the library outlives it */
    char *survivor = g_dso.make(5000, 11);
    REQUIRE(survivor);
    CHECK(dlclose(h) == 0);
    int ok = 1;
    for (size_t i = 0; i < 5000; i++)
        if (survivor[i] != (char)(i * 7 + 11)) ok = 0;
    CHECK(ok);
    free(survivor);
}

static void test_reload(const char *path) {
    for (int i = 0; i < 100; i++) {
        void *h = dlopen(path, RTLD_NOW | (i & 1 ? RTLD_GLOBAL : RTLD_LOCAL));
        REQUIRE(h);
        dso_t d;
        REQUIRE(load(h, &d));
        char *p = d.make(100 + (size_t)i, 1);
        REQUIRE(p);
        CHECK(d.check(p, 100 + (size_t)i, 1));
        d.release(p);
        CHECK(dlclose(h) == 0);
    }
}

static void test_libm(void) {
    void *h = dlopen("libm.so.6", RTLD_NOW);
    CHECKF(h != NULL, "dlopen(libm.so.6): %s", dlerror());
    if (!h) return;
    double (*c)(double) = (double (*)(double))dlsym(h, "cos");
    CHECK(c != NULL && c(0.0) == 1.0);
    dlclose(h);
    /* failing dlopen: dlerror's message is allocated inside libc */
    for (int i = 0; i < 50; i++) {
        void *none = dlopen("libheapkit-test-does-not-exist.so", RTLD_NOW);
        CHECK(none == NULL);
        const char *e = dlerror();
        CHECK(e != NULL && strstr(e, "libheapkit-test-does-not-exist") != NULL);
    }
}

int main(void) {
    hkt_begin("std_dlopen", 60);
    hkt_check_running_on_heapkit();
    const char *path = getenv("HKT_DSO");
    REQUIRE(path != NULL);
    test_cross_boundary(path);
    test_reload(path);
    test_libm();
    return hkt_done();
}
