/* registry.c — every live pool and arena, by name: the statistics list them, fork takes their locks.
 * Members link into one of a few shards (by address), each with its own mutex, so servers that
 * create an arena per request in many threads do not all queue on one lock. Links are xor-ed
 * with hk_key, so being listed here does not make a lost arena reachable to the leak scan.
 * Lock order: a shard lock, then a member's own lock, then the allocator's locks; never the reverse. */
#include "registry.h"

#include <stdlib.h>

/* Shards, each with its lock: threads that create an arena per request spread over 8 locks, and
 * statistics and fork walk 8 lists. */
#define HK_REGISTRY_SHARDS 8
/* Names listed per member kind in the statistics, so the report stays a screen long; further
 * names are summed into one line. */
#define HK_REGISTRY_STATS_LINES 32

typedef struct hk_registry_shard_s {
    _Alignas(HK_CACHE_LINE) pthread_mutex_t lock; /* each on a cache line of its own */
    uintptr_t head; /* encoded */
} hk_registry_shard_t;

static hk_registry_shard_t hk_registry[HK_REGISTRY_SHARDS] = {
    {.lock = PTHREAD_MUTEX_INITIALIZER}, {.lock = PTHREAD_MUTEX_INITIALIZER}, {.lock = PTHREAD_MUTEX_INITIALIZER},
    {.lock = PTHREAD_MUTEX_INITIALIZER}, {.lock = PTHREAD_MUTEX_INITIALIZER}, {.lock = PTHREAD_MUTEX_INITIALIZER},
    {.lock = PTHREAD_MUTEX_INITIALIZER}, {.lock = PTHREAD_MUTEX_INITIALIZER},
};

static uintptr_t hk_reg_encode(const hk_reg_node_t *node) { return (uintptr_t)node ^ hk_key; }
static hk_reg_node_t *hk_reg_decode(uintptr_t w) { return (hk_reg_node_t *)(w ^ hk_key); }

/* A member's name, cut to HK_NAME_LEN; fallback if it has none. */
static void hk_name_copy(char *dst, const char *name, const char *fallback) {
    if (name == NULL || name[0] == '\0') name = fallback;
    size_t n = strnlen(name, HK_NAME_LEN - 1);
    memcpy(dst, name, n);
    dst[n] = '\0';
}

/* ---------------------------------------------------------------------- fork
 * A child must not inherit a pool or arena lock held by a thread that does not exist there: the
 * shard locks and every member's own lock are one entry of the lock table, ranked before the
 * allocator's locks, as they are taken everywhere else. */

hk_plain_path static void hk_registry_fork_prepare(void) {
    for (size_t s = 0; s < HK_REGISTRY_SHARDS; s++) pthread_mutex_lock(&hk_registry[s].lock);
    for (size_t s = 0; s < HK_REGISTRY_SHARDS; s++)
        for (uintptr_t w = hk_registry[s].head; w != 0; w = hk_reg_decode(w)->next) {
            if (hk_reg_decode(w)->lock != NULL) pthread_mutex_lock(hk_reg_decode(w)->lock);
            if (hk_reg_decode(w)->spin != NULL) hk_spin_lock(hk_reg_decode(w)->spin);
        }
}

hk_plain_path static void hk_registry_fork_release(void) {
    for (size_t s = 0; s < HK_REGISTRY_SHARDS; s++)
        for (uintptr_t w = hk_registry[s].head; w != 0; w = hk_reg_decode(w)->next) {
            if (hk_reg_decode(w)->spin != NULL) hk_spin_unlock(hk_reg_decode(w)->spin);
            if (hk_reg_decode(w)->lock != NULL) pthread_mutex_unlock(hk_reg_decode(w)->lock);
        }
    for (size_t s = HK_REGISTRY_SHARDS; s-- > 0;) pthread_mutex_unlock(&hk_registry[s].lock);
}

HK_LOCK_SET(registry, HK_LOCK_REGISTRY, hk_registry_fork_prepare, hk_registry_fork_release);

/* ------------------------------------------------------------------ members */

void hk_registry_add(hk_reg_node_t *node, hk_reg_kind_t kind, const char *name, pthread_mutex_t *lock,
                     void (*figures)(hk_reg_node_t *node, hk_reg_figures_t *f)) {
    node->kind = (uint8_t)kind;
    node->lock = lock;
    node->figures = figures;
    hk_name_copy(node->name, name, kind == HK_REG_POOL ? "pool" : "arena");
    uintptr_t a = (uintptr_t)node;
    /* the address's bits above a cache line, folded from three places: members made in a row
     * (one chunk, one page) still spread */
    node->shard = (uint8_t)(((a >> 6) ^ (a >> 12) ^ (a >> 20)) % HK_REGISTRY_SHARDS);
    hk_registry_shard_t *s = &hk_registry[node->shard];
    pthread_mutex_lock(&s->lock);
    node->prev = 0;
    node->next = s->head;
    if (s->head != 0) hk_reg_decode(s->head)->prev = hk_reg_encode(node);
    s->head = hk_reg_encode(node);
    pthread_mutex_unlock(&s->lock);
}

void hk_registry_remove(hk_reg_node_t *node) {
    hk_registry_shard_t *s = &hk_registry[node->shard];
    pthread_mutex_lock(&s->lock);
    if (node->prev != 0) hk_reg_decode(node->prev)->next = node->next;
    else s->head = node->next;
    if (node->next != 0) hk_reg_decode(node->next)->prev = node->prev;
    node->next = node->prev = 0;
    pthread_mutex_unlock(&s->lock);
}

hk_plain_path void hk_registry_each(hk_reg_kind_t kind, void (*fn)(hk_reg_node_t *node, void *arg), void *arg) {
    for (size_t i = 0; i < HK_REGISTRY_SHARDS; i++) {
        hk_registry_shard_t *s = &hk_registry[i];
        pthread_mutex_lock(&s->lock);
        for (uintptr_t w = s->head; w != 0; w = hk_reg_decode(w)->next)
            if (hk_reg_decode(w)->kind == kind) fn(hk_reg_decode(w), arg);
        pthread_mutex_unlock(&s->lock);
    }
}

/* node may be anything (a pointer read from a chunk header or an object trailer): it is only
 * compared with members, never dereferenced unless it is one. */
bool hk_registry_name_of(const hk_reg_node_t *node, hk_reg_kind_t kind, char *buf, size_t cap) {
    bool found = false;
    for (size_t i = 0; i < HK_REGISTRY_SHARDS && !found; i++) {
        hk_registry_shard_t *s = &hk_registry[i];
        pthread_mutex_lock(&s->lock);
        for (uintptr_t w = s->head; w != 0 && !found; w = hk_reg_decode(w)->next) {
            if (hk_reg_decode(w) != node || node->kind != kind) continue;
            size_t n = strnlen(node->name, cap - 1);
            memcpy(buf, node->name, n);
            buf[n] = '\0';
            found = true;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return found;
}

/* ------------------------------------------------------------------ handles */

void hk_handle_set(hk_handle_t *handle, const void *h, hk_reg_kind_t kind, const hk_reg_node_t *node) {
    handle->node = node;
    handle->magic = hk_handle_magic(h, kind);
}

hk_internal __thread hk_handle_seen_t hk_handle_last[HK_REG_KINDS] __attribute__((tls_model("initial-exec")));
hk_internal _Atomic uintptr_t hk_handle_deaths = 1;

void hk_handle_kill(hk_handle_t *handle, const void *h, hk_reg_kind_t kind) {
    handle->magic = hk_handle_magic(h, kind) ^ HK_HANDLE_DEAD;
    atomic_fetch_add_explicit(&hk_handle_deaths, 2, memory_order_release);
}

static const char *hk_kind_name(hk_reg_kind_t kind) { return kind == HK_REG_POOL ? "pool" : "arena"; }

/* The name in a (possibly destroyed) member's node: printable bytes up to the NUL, or "?". */
hk_no_asan_handle static void hk_handle_name(const hk_handle_t *handle, const void *h, char *buf, size_t cap) {
    uintptr_t node = (uintptr_t)handle->node;
    size_t n = 0;
    /* the node is inside the member's own block: a pointer elsewhere is not trusted */
    if (node > (uintptr_t)h && node - (uintptr_t)h < 4096) {
        const char *name = ((const hk_reg_node_t *)node)->name;
        while (n < cap - 1 && n < HK_NAME_LEN - 1 && name[n] >= 0x20 && name[n] < 0x7f) n++;
        if (n > 0) memcpy(buf, name, n);
    }
    if (n == 0) buf[n++] = '?';
    buf[n] = '\0';
}

hk_no_asan_handle void hk_handle_refuse(const char *call, const void *h, hk_reg_kind_t want) {
    const char *want_name = hk_kind_name(want);
    const char *tail = hk_state.options.abort_on_error ? "" : "; refused";
    uintptr_t a = (uintptr_t)h;
    if (h == NULL) {
        hk_error("%s(NULL): no %s given%s", call, want_name, tail);
    } else if ((uint8_t)(hk_segmap_get(a) - HK_MAP_SEGMENT) > HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT) {
        hk_error("%s(%p): not a%s %s (not memory heapkit handed out)%s", call, h, want == HK_REG_ARENA ? "n" : "",
                 want_name, tail);
    } else {
        const hk_handle_t *handle = (const hk_handle_t *)(a + HK_HANDLE_OFFSET);
        char name[HK_NAME_LEN];
        const hk_reg_kind_t other = want == HK_REG_POOL ? HK_REG_ARENA : HK_REG_POOL;
        if (handle->magic == (hk_handle_magic(h, want) ^ HK_HANDLE_DEAD)) {
            hk_handle_name(handle, h, name, sizeof name);
            hk_error("%s(%s '%s' %p): the %s was destroyed%s", call, want_name, name, h, want_name, tail);
        } else if (handle->magic == hk_handle_magic(h, other)) {
            hk_handle_name(handle, h, name, sizeof name);
            hk_error("%s(%p): %s '%s', not a%s %s%s", call, h, hk_kind_name(other), name,
                     want == HK_REG_ARENA ? "n" : "", want_name, tail);
        } else if (handle->magic == (hk_handle_magic(h, other) ^ HK_HANDLE_DEAD)) {
            hk_handle_name(handle, h, name, sizeof name);
            hk_error("%s(%p): a destroyed %s ('%s'), not a%s %s%s", call, h, hk_kind_name(other), name,
                     want == HK_REG_ARENA ? "n" : "", want_name, tail);
        } else {
            hk_error("%s(%p): not a%s %s (heapkit memory, but no live %s starts there)%s", call, h,
                     want == HK_REG_ARENA ? "n" : "", want_name, want_name, tail);
        }
    }
    errno = EINVAL;
}

/* --------------------------------------------------------------- statistics */

typedef struct hk_reg_group_s {
    char name[HK_NAME_LEN];
    hk_reg_figures_t f;
} hk_reg_group_t;

typedef struct hk_reg_groups_s {
    hk_reg_kind_t kind;
    size_t count;
    bool overflow;               /* some names did not get a line: they are in `others` */
    hk_reg_group_t groups[HK_REGISTRY_STATS_LINES];
    hk_reg_group_t others;
} hk_reg_groups_t;

static void hk_reg_group_add(hk_reg_node_t *node, void *arg) {
    hk_reg_groups_t *g = arg;
    hk_reg_group_t *line = NULL;
    for (size_t i = 0; i < g->count && line == NULL; i++)
        if (strcmp(g->groups[i].name, node->name) == 0) line = &g->groups[i];
    if (line == NULL && g->count < HK_REGISTRY_STATS_LINES) {
        line = &g->groups[g->count++];
        memcpy(line->name, node->name, sizeof line->name);
    }
    if (line == NULL) {
        line = &g->others;
        g->overflow = true;
    }
    size_t before = line->f.count;
    hk_reg_figures_t f = {0};
    node->figures(node, &f);
    if (before == 0) {
        line->f.object_size = f.object_size;
        line->f.local = f.local;
    }
    line->f.count++;
    line->f.live += f.live;
    line->f.capacity += f.capacity;
    line->f.used += f.used;
    line->f.chunks += f.chunks;
    line->f.bytes += f.bytes;
    line->f.large += f.large;
    line->f.large_bytes += f.large_bytes;
}

static void hk_reg_collect(hk_reg_groups_t *g, hk_reg_kind_t kind) {
    memset(g, 0, sizeof *g);
    g->kind = kind;
    hk_name_copy(g->others.name, "(other names)", NULL);
    hk_registry_each(kind, hk_reg_group_add, g);
}

static void hk_reg_bytes(char *out, size_t cap, size_t n) {
    hk_buf_t b = {out, cap, 0};
    hk_buf_bytes(&b, n);
}

static void hk_reg_text_line(hk_buf_t *b, hk_reg_kind_t kind, const hk_reg_group_t *line) {
    const hk_reg_figures_t *f = &line->f;
    char bytes[HK_NUMBER_TEXT];
    hk_reg_bytes(bytes, sizeof bytes, f->bytes);
    if (kind == HK_REG_POOL) {
        hk_buf_printf(b, "    %-24s %5zu %-6s %8zu %10zu %10zu %7zu %12s\n", line->name, f->count,
                      f->local ? "local" : "shared", f->object_size, f->live, f->capacity, f->chunks, bytes);
    } else {
        char used[HK_NUMBER_TEXT], large[HK_NUMBER_TEXT];
        hk_reg_bytes(used, sizeof used, f->used);
        hk_reg_bytes(large, sizeof large, f->large_bytes);
        hk_buf_printf(b, "    %-24s %5zu %12s %7zu %7zu %12s %12s\n", line->name, f->count, used, f->chunks, f->large,
                      large, bytes);
    }
}

static void hk_registry_stats_text(hk_buf_t *b) {
    static const hk_reg_kind_t kinds[] = {HK_REG_POOL, HK_REG_ARENA};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        hk_reg_groups_t g;
        hk_reg_collect(&g, kinds[k]);
        if (g.count == 0) continue;
        if (kinds[k] == HK_REG_POOL)
            hk_buf_printf(b, "  %-26s %5s %-6s %8s %10s %10s %7s %12s\n", "pools", "count", "mode", "object", "live",
                          "capacity", "chunks", "bytes");
        else
            hk_buf_printf(b, "  %-26s %5s %12s %7s %7s %12s %12s\n", "arenas", "count", "used", "chunks", "large",
                          "large bytes", "bytes");
        for (size_t i = 0; i < g.count; i++) hk_reg_text_line(b, kinds[k], &g.groups[i]);
        if (g.overflow) hk_reg_text_line(b, kinds[k], &g.others);
    }
}

/* A JSON string: names come from the program and may hold quotes or control characters. */
static void hk_json_string(hk_buf_t *b, const char *s) {
    hk_buf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') hk_buf_printf(b, "\\%c", c);
        else if (c < 0x20) hk_buf_printf(b, "\\u%04x", c);
        else hk_buf_printf(b, "%c", c);
    }
    hk_buf_printf(b, "\"");
}

static void hk_reg_json_line(hk_buf_t *b, hk_reg_kind_t kind, const hk_reg_group_t *line, bool first) {
    const hk_reg_figures_t *f = &line->f;
    hk_buf_printf(b, "%s{\"name\":", first ? "" : ",");
    hk_json_string(b, line->name);
    if (kind == HK_REG_POOL)
        hk_buf_printf(b, ",\"count\":%zu,\"mode\":\"%s\",\"object_size\":%zu,\"live\":%zu,\"capacity\":%zu,"
                         "\"chunks\":%zu,\"bytes\":%zu}",
                      f->count, f->local ? "local" : "shared", f->object_size, f->live, f->capacity, f->chunks,
                      f->bytes);
    else
        hk_buf_printf(b, ",\"count\":%zu,\"used\":%zu,\"chunks\":%zu,\"large\":%zu,\"large_bytes\":%zu,\"bytes\":%zu}",
                      f->count, f->used, f->chunks, f->large, f->large_bytes, f->bytes);
}

/* ,"pools":[...],"arenas":[...] — appended to the statistics object by stats.c. */
static void hk_registry_stats_json(hk_buf_t *b) {
    static const hk_reg_kind_t kinds[] = {HK_REG_POOL, HK_REG_ARENA};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        hk_reg_groups_t g;
        hk_reg_collect(&g, kinds[k]);
        hk_buf_printf(b, ",\"%s\":[", kinds[k] == HK_REG_POOL ? "pools" : "arenas");
        for (size_t i = 0; i < g.count; i++) hk_reg_json_line(b, kinds[k], &g.groups[i], i == 0);
        if (g.overflow) hk_reg_json_line(b, kinds[k], &g.others, false);
        hk_buf_printf(b, "]");
    }
}

#ifdef HK_VALGRIND
hk_internal bool hk_under_memcheck;

/* Valgrind preloads its tool's own library into the program: memcheck's names the tool. */
hk_plain_path static void hk_registry_init(void) {
    if (!RUNNING_ON_VALGRIND) return; /* no string read: they are in .rodata (hk_plain_const) */
    const char *preload = getenv("LD_PRELOAD");
    hk_under_memcheck = preload != NULL && strstr(preload, "vgpreload_memcheck") != NULL;
}
#else
hk_plain_path static void hk_registry_init(void) {}
#endif

HK_SUBSYSTEM(registry, HK_SUBSYSTEM_REGISTRY, .init = hk_registry_init, .stats_text = hk_registry_stats_text,
             .stats_json = hk_registry_stats_json);
