/* reqserver.c — a small request-processing server loop on heapkit's pools and arenas, no network:
 * requests come from a synthetic generator or from stdin, one per line ("GET /path?k=v&k2=v2").
 * Connections are objects of an hk_pool (made once by its constructor, reused as clients come
 * and go); each request gets an hk_arena for everything it needs (parsed fields, the response),
 * with a cleanup callback, and the whole arena goes at once when the response is sent.
 * Usage: reqserver [REQUESTS]     synthetic requests over 64 connections (default 100000)
 *        reqserver -              requests from stdin, one per line
 *        add --stats to print heapkit's report (the pools and arenas by name) at the end. */
#include <heapkit.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECTIONS 64
#define MAX_PARAMS 16

/* A client connection: pooled, so its buffer is made once, not at every accept. */
typedef struct conn_s {
    unsigned id;
    unsigned long requests; /* served on this connection */
    char *buffer;           /* a scratch buffer the constructor sets up */
    size_t buffer_size;
} conn_t;

static void conn_construct(void *obj, void *arg) {
    conn_t *c = obj;
    (void)arg;
    c->buffer_size = 256;
    c->buffer = hk_malloc(c->buffer_size); /* once per object lifetime, not per connection */
}

static void conn_destruct(void *obj, void *arg) {
    conn_t *c = obj;
    (void)arg;
    hk_free(c->buffer);
}

typedef struct request_s {
    const char *method, *path;
    const char *keys[MAX_PARAMS], *values[MAX_PARAMS];
    int nparams;
} request_t;

typedef struct totals_s {
    unsigned long requests, bad, bytes_out, cleanups;
} totals_t;

static void count_cleanup(void *arg) { ((totals_t *)arg)->cleanups++; }

/* Split "METHOD PATH?k=v&..." into the request, every string copied into the arena. */
static int parse(hk_arena_t *a, const char *line, request_t *r) {
    memset(r, 0, sizeof *r);
    const char *space = strchr(line, ' ');
    if (space == NULL || space == line) return -1;
    r->method = hk_arena_strndup(a, line, (size_t)(space - line));
    const char *target = space + 1;
    size_t target_len = strcspn(target, " \r\n");
    const char *query = memchr(target, '?', target_len);
    size_t path_len = query ? (size_t)(query - target) : target_len;
    r->path = hk_arena_strndup(a, target, path_len);
    if (r->method == NULL || r->path == NULL || r->path[0] != '/') return -1;
    for (const char *p = query ? query + 1 : NULL; p != NULL && p < target + target_len && r->nparams < MAX_PARAMS;) {
        size_t len = strcspn(p, "& \r\n");
        const char *eq = memchr(p, '=', len);
        if (eq != NULL) {
            r->keys[r->nparams] = hk_arena_strndup(a, p, (size_t)(eq - p));
            r->values[r->nparams] = hk_arena_strndup(a, eq + 1, len - (size_t)(eq - p) - 1);
            r->nparams++;
        }
        p = p[len] == '&' ? p + len + 1 : NULL;
    }
    return 0;
}

/* Build the response in the arena; return its length. */
static size_t handle(hk_arena_t *a, conn_t *conn, const char *line, totals_t *t) {
    request_t r;
    hk_arena_on_cleanup(a, count_cleanup, t); /* runs when the request's arena goes */
    if (parse(a, line, &r) != 0) {
        t->bad++;
        const char *refusal = hk_arena_printf(a, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return refusal ? strlen(refusal) : 0;
    }
    /* the body: a summary line, then one line per parameter; all of it arena memory */
    char *body = hk_arena_printf(a, "%s %s on connection %u (request %lu)\n", r.method, r.path, conn->id,
                                 conn->requests);
    for (int i = 0; i < r.nparams && body != NULL; i++) /* the old body stays in the arena: no matter */
        body = hk_arena_printf(a, "%s  %s = %s\n", body, r.keys[i], r.values[i]);
    if (body == NULL) return 0;
    size_t body_len = strlen(body);
    char *response = hk_arena_printf(a, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", body_len, body);
    conn->requests++;
    return response ? strlen(response) : 0;
}

static const char *synthetic(unsigned long i, char *buf, size_t cap) {
    static const char *const paths[] = {"/", "/items", "/users/profile", "/search", "/static/app.js"};
    snprintf(buf, cap, "GET %s?id=%lu&page=%lu&sort=name HTTP/1.1", paths[i % 5], i, i % 7);
    return buf;
}

int main(int argc, char **argv) {
    int stats = 0;
    const char *source = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--stats") == 0) stats = 1;
        else source = argv[i];
    }
    int from_stdin = source != NULL && strcmp(source, "-") == 0;
    unsigned long n = source != NULL && !from_stdin ? strtoul(source, NULL, 10) : 100000;

    hk_pool_t *conns = hk_pool_create("connection", sizeof(conn_t), 0, HK_POOL_LOCAL, conn_construct,
                                      conn_destruct, NULL);
    if (conns == NULL) {
        perror("hk_pool_create");
        return 1;
    }
    conn_t *open[CONNECTIONS] = {0};
    totals_t t = {0, 0, 0, 0};
    char line[4096];
    for (unsigned long i = 0;; i++) {
        const char *request;
        if (from_stdin) {
            if (fgets(line, sizeof line, stdin) == NULL) break;
            request = line;
        } else {
            if (i >= n) break;
            request = synthetic(i, line, sizeof line);
        }
        /* clients come and go: a connection closes after 50 requests, or after a bad one */
        unsigned slot = (unsigned)(i % CONNECTIONS);
        if (open[slot] == NULL) {
            open[slot] = hk_pool_alloc(conns);
            if (open[slot] == NULL) return 1;
            open[slot]->id = (unsigned)i; /* per connection; the buffer is per object */
            open[slot]->requests = 0;
        }
        hk_arena_t *req = hk_arena_create("request", NULL, 0);
        if (req == NULL) return 1;
        t.bytes_out += handle(req, open[slot], request, &t);
        t.requests++;
        hk_arena_destroy(req); /* the whole request at once, cleanups first */
        if (open[slot]->requests % 50 == 0) {
            hk_pool_free(conns, open[slot]);
            open[slot] = NULL;
        }
    }
    if (stats) hk_stats_print(); /* while the pool is alive: it is listed by name */
    for (unsigned s = 0; s < CONNECTIONS; s++) hk_pool_free(conns, open[s]);
    hk_pool_destroy(conns);
    printf("requests %lu, bad %lu, response bytes %lu, cleanups run %lu\n", t.requests, t.bad, t.bytes_out,
           t.cleanups);
    return t.cleanups == t.requests ? 0 : 1;
}
