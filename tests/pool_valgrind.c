/* pool_valgrind.c — pools and arenas under Valgrind's memcheck (skipped when valgrind is not
 * installed): a clean run (objects with constructed state, shared and local pools, an arena used,
 * reset and destroyed) must give no error at all; a read of a pool object after hk_pool_free must
 * be reported as an invalid read of a block freed by hk_pool_free (the memory-pool client
 * requests), and a read of arena memory after hk_arena_reset as an invalid read. */
#define _GNU_SOURCE
#include "hkt.h"

#include <unistd.h>

typedef struct conn_s {
    int fd;
    char *buf;
} conn_t;

static void conn_init(void *o, void *arg) {
    (void)arg;
    ((conn_t *)o)->fd = -1;
    ((conn_t *)o)->buf = hk_malloc(64);
}
static void conn_fini(void *o, void *arg) {
    (void)arg;
    hk_free(((conn_t *)o)->buf);
}

static volatile int g_sink;

static int child(const char *name) {
    if (!strcmp(name, "clean")) {
        hk_pool_t *conns = hk_pool_create("conn", sizeof(conn_t), 0, HK_POOL_LOCAL, conn_init, conn_fini, NULL);
        hk_pool_t *raw = hk_pool_create("raw", 40, 0, HK_POOL_SHARED, NULL, NULL, NULL);
        conn_t *c[300];
        int *r[300];
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 300; i++) {
                c[i] = hk_pool_alloc(conns);
                if (c[i]->fd != -1 || c[i]->buf == NULL) return 10; /* the constructed state, defined */
                c[i]->buf[0] = 'x';
                r[i] = hk_pool_alloc(raw);
                r[i][0] = i;
            }
            for (int i = 0; i < 300; i++) {
                g_sink += r[i][0] + c[i]->buf[0];
                hk_pool_free(conns, c[i]);
                hk_pool_free(raw, r[i]);
            }
        }
        hk_pool_trim(conns);
        hk_pool_destroy(conns);
        hk_pool_destroy(raw);
        hk_arena_t *a = hk_arena_create("req", NULL, 0);
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 200; i++) {
                char *s = hk_arena_printf(a, "line %d of round %d", i, round);
                if (strlen(s) < 10) return 11;
            }
            hk_arena_reset(a);
        }
        hk_arena_destroy(a);
        return 0;
    }
    if (!strcmp(name, "pool_uaf")) {
        hk_pool_t *raw = hk_pool_create("raw", 40, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
        int *obj = hk_pool_alloc(raw);
        obj[3] = 7;
        hk_pool_free(raw, obj);
        g_sink = obj[3]; /* the use after free memcheck must report */
        return 0;
    }
    if (!strcmp(name, "arena_uaf")) {
        hk_arena_t *a = hk_arena_create("req", NULL, 0);
        int *volatile p = hk_arena_alloc(a, 64); /* volatile: the read below must be made */
        p[2] = 5;
        hk_arena_reset(a);
        g_sink = p[2]; /* the use after reset memcheck must report */
        return 0;
    }
    return 2;
}

/* The child under memcheck; its output (memcheck's report on stderr too) into out. */
static int run_memcheck(const char *name, char *out, size_t cap) {
    char cmd[4096];
    char self[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "valgrind --tool=memcheck --error-exitcode=99 --leak-check=no '%s' child %s 2>&1", self,
             name);
    FILE *f = popen(cmd, "r");
    if (f == NULL) return -1;
    size_t len = fread(out, 1, cap - 1, f);
    out[len] = '\0';
    int status = pclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("pool_valgrind", 600);
    if (system("valgrind --version >/dev/null 2>&1") != 0) {
        hkt_note("valgrind is not installed: skipped");
        return 77;
    }
    static char out[256 * 1024];
    int rc = run_memcheck("clean", out, sizeof out);
    CHECKF(rc == 0 && strstr(out, "ERROR SUMMARY: 0 errors") != NULL, "clean run: exit %d; output:\n%s", rc, out);
    rc = run_memcheck("pool_uaf", out, sizeof out);
    CHECKF(rc == 99 && strstr(out, "Invalid read of size 4") != NULL && strstr(out, "free'd") != NULL &&
               strstr(out, "hk_pool_free") != NULL,
           "use after hk_pool_free: exit %d, want memcheck's invalid read of a block freed by hk_pool_free; output:\n%s",
           rc, out);
    rc = run_memcheck("arena_uaf", out, sizeof out);
    CHECKF(rc == 99 && strstr(out, "Invalid read of size 4") != NULL,
           "use after hk_arena_reset: exit %d, want memcheck's invalid read; output:\n%s", rc, out);
    return hkt_done();
}
