/* arena.c — hk_arena: regions freed all at once, like APR pools, nginx's ngx_pool_t and talloc.
 * Allocation bumps a pointer through the current chunk. The first chunk is allocated with the
 * arena itself; the next is a quarter of it and later ones double (up to 1 MiB), so an arena
 * that needs a little more than its first chunk takes a little more. Chunks stay linked in order
 * of use: a rewind moves the pointer back over them, and reset keeps the first chunk (and more,
 * up to the arena's `keep` bytes) for the next request without calling the allocator. An
 * allocation over a quarter of the next chunk gets a block of its own, so a big buffer neither
 * wastes the rest of a chunk nor makes every later chunk big.
 * Cleanups, child arenas and large blocks carry a serial number: reset, destroy and rewind undo
 * everything from a serial on, newest first, so cleanups run in reverse order of registration and
 * a child dies before what its parent set up before it. Cleanups run with no lock held.
 * An arena belongs to the thread that made it; HK_ARENA_LOCKED puts a mutex around every call.
 * Chunks of 256 KiB and more are mappings of their own, unmapped when the arena lets them go.
 * Memory not handed out is poisoned in an ASan build, and with HEAPKIT_LEAKS=1 what reset and
 * rewind take back is filled with 0xdd, so a use after reset shows.
 * Under heap checking (HEAPKIT_CHECK) every allocation is a heap block of its own, which the
 * checker wraps in canaries (or puts against a guard page), named by the arena; reset, rewind and
 * destroy free them, newest first, into the checker's quarantine: an overflow is found when they
 * do, and a use after reset when the quarantine lets the block go (guard pages: at the access).
 * Their records come from the chunks, so a rewind takes back exactly the records made since its
 * mark. */
#include "check.h" /* hk_checking: a checked program keeps its chunks heapkit blocks, and each allocation is a checked block */
#include "registry.h"

/* The arena block (header and first chunk) by default: a page, room for a request's strings and
 * small structures, for one small malloc per arena. */
#define HK_ARENA_FIRST_DEFAULT ((size_t)4096)
/* A first chunk has at least this many bytes: less would be mostly header. */
#define HK_ARENA_FIRST_MIN ((size_t)256)
/* The first chunk after the embedded one is 1/HK_ARENA_SPILL_SHARE of it, and at least twice the
 * smallest first chunk (see hk_arena_spill_bytes). */
#define HK_ARENA_SPILL_SHARE 4
#define HK_ARENA_SPILL_MIN (2 * HK_ARENA_FIRST_MIN)
/* Chunks stop doubling at 1 MiB: by then one malloc per chunk is cheap next to filling it, and a
 * bigger chunk would only hold more unused memory (big allocations get blocks of their own). */
#define HK_ARENA_CHUNK_MAX ((size_t)1 << 20)
/* An allocation over 1/HK_ARENA_LARGE_SHARE of the next chunk gets a block of its own, so a big
 * buffer neither wastes the rest of a chunk nor makes every later chunk big. */
#define HK_ARENA_LARGE_SHARE 4
#define HK_ARENA_ALIGN HK_BLOCK_ALIGN /* as malloc's blocks */
/* Bigger alignments get a block of their own: they would waste up to a page of a chunk. */
#define HK_ARENA_ALIGN_MAX ((size_t)4096)

/* Chunks this big or bigger are mappings of their own, given back to the kernel when the arena
 * lets them go (beyond a cache of HK_ARENA_MAP_CACHE of the biggest size, for the next arena):
 * an arena that grew to many megabytes leaves nothing resident once destroyed, where heapkit
 * blocks this size would wait in the allocator's caches for reuse or a purge. */
#define HK_ARENA_MAP_MIN ((size_t)256 * 1024)
#define HK_ARENA_MAP_CACHE 2

/* arena->slow: why calls take the slow path: locked, the owner checked (HEAPKIT_LEAKS=1), every
 * allocation a checked block of its own (HEAPKIT_CHECK), under Valgrind's memcheck (each
 * allocation is made accessible: the fast paths then need not test for memcheck) */
enum { HK_ARENA_SLOW_LOCKED = 1, HK_ARENA_SLOW_CHECK = 2, HK_ARENA_SLOW_BLOCKS = 4, HK_ARENA_SLOW_MEMCHECK = 8 };

typedef struct hk_arena_chunk_s {
    struct hk_arena_chunk_s *next, *prev; /* in order of use; kept across resets up to `keep` */
    uintptr_t start, end;                 /* usable bytes, 16-byte aligned */
    uintptr_t high;                       /* how far it was used when the arena moved on */
    size_t bytes;                         /* of the whole block */
    bool mapped;                          /* its own mapping (hk_arena_chunk_new), not a heapkit block */
} hk_arena_chunk_t;

typedef struct hk_arena_large_s {
    struct hk_arena_large_s *next;
    uint64_t serial;
    size_t bytes;
} hk_arena_large_t;

/* Heap checking: an allocation made a heap block of its own (its record lies in a chunk). */
typedef struct hk_arena_block_s {
    struct hk_arena_block_s *next;
    uint64_t serial;
    void *block;
    size_t size;
} hk_arena_block_t;

typedef struct hk_arena_cleanup_s {
    struct hk_arena_cleanup_s *next;
    uint64_t serial;
    void (*fn)(void *arg);
    void *arg;
} hk_arena_cleanup_t;

struct hk_arena_s {
    /* -- the fast path; cur is stored atomically (relaxed) so statistics may read it */
    uintptr_t cur, limit;
    hk_handle_t handle; /* the magic word every call checks (registry.h) */
    unsigned slow;
    uintptr_t align_add, align_mask; /* hk_arena_alloc's alignment, less one and its mask: 16, or 8
                                        with HK_ARENA_ALIGN_8 (memory operands of the fast path's
                                        add and and, so it costs no instruction more) */
    /* -- everything else */
    hk_arena_chunk_t *chunk;   /* the current one */
    uintptr_t chunk_start;     /* its start, for statistics read from other threads */
    size_t used_before;        /* bytes used in the chunks before it (statistics) */
    size_t next_bytes;         /* size of the next chunk to allocate */
    size_t keep;
    hk_arena_large_t *large;   /* newest first, like the next three */
    hk_arena_block_t *blocks;  /* heap checking: every allocation */
    hk_arena_cleanup_t *cleanups;
    hk_arena_t *children;
    hk_arena_t *parent, *sibling_next, *sibling_prev;
    uint64_t serial;           /* the next serial number to hand out */
    uint64_t serial_in_parent;
    uint64_t generation;       /* resets so far: a mark from before one is dead */
    pthread_t owner;
    bool locked;
    int16_t node; /* HK_ON_NODE's node for its chunks, HK_NUMA_ANY: the allocating thread's */
    uint16_t label;
    pthread_mutex_t lock;
    _Atomic size_t chunks, chunk_bytes, large_count, large_bytes, child_count;
    hk_reg_node_t reg;
    hk_arena_chunk_t first; /* its memory follows the header */
    _Alignas(HK_ARENA_ALIGN) uint8_t data[];
};

_Static_assert(offsetof(struct hk_arena_s, handle) == HK_HANDLE_OFFSET, "the handle header is where the check reads it");


/* What reset, rewind or destroy takes off an arena, to be undone with no lock held. */
typedef struct hk_arena_undo_s {
    hk_arena_cleanup_t *cleanups;
    hk_arena_t *children;
    hk_arena_large_t *large;
    hk_arena_block_t *blocks;
} hk_arena_undo_t;

static void hk_arena_destroy_detached(hk_arena_t *a);

static void hk_stat_add(_Atomic size_t *counter, size_t n) { atomic_fetch_add_explicit(counter, n, memory_order_relaxed); }
static void hk_stat_sub(_Atomic size_t *counter, size_t n) { atomic_fetch_sub_explicit(counter, n, memory_order_relaxed); }

static void hk_arena_set_cur(hk_arena_t *a, uintptr_t cur) { __atomic_store_n(&a->cur, cur, __ATOMIC_RELAXED); }

/* Fresh memory made accessible (ASan, memcheck). Memcheck's request builds its arguments on the
 * stack: out of line, so the allocation fast paths keep no frame. */
#if defined(HK_VALGRIND)
static hk_noinline void hk_arena_unpoison_memcheck(void *p, size_t n) { hk_unpoison(p, n); }
#define hk_arena_unpoison(p, n) (hk_unlikely(hk_under_memcheck) ? hk_arena_unpoison_memcheck((p), (n)) : (void)0)
#define hk_arena_unpoison_fast(p, n) ((void)(p), (void)(n)) /* never under memcheck: a->slow says so */
#define HK_ARENA_SLOW_VALGRIND (hk_under_memcheck ? HK_ARENA_SLOW_MEMCHECK : 0)
#else
#define hk_arena_unpoison(p, n) hk_unpoison((p), (n))
#define hk_arena_unpoison_fast(p, n) hk_unpoison((p), (n)) /* ASan */
#define HK_ARENA_SLOW_VALGRIND 0
#endif

/* ------------------------------------------------------------------ threads */

/* Lock a locked arena, or check that the caller owns an unlocked one (debug mode only: the
 * check needs pthread_self on every call). False: misuse, reported, the call is ignored. */
static bool hk_arena_enter(hk_arena_t *a, const char *who) {
    if (a->locked) {
        pthread_mutex_lock(&a->lock);
        return true;
    }
    if ((a->slow & HK_ARENA_SLOW_CHECK) && !pthread_equal(a->owner, pthread_self())) {
        hk_error("%s(arena '%s'): called from a thread that does not own the arena (create it with "
                 "HK_ARENA_LOCKED to share it, or hand it over with hk_arena_set_owner); ignored",
                 who, a->reg.name);
        return false;
    }
    return true;
}

static void hk_arena_leave(hk_arena_t *a) {
    if (a->locked) pthread_mutex_unlock(&a->lock);
}

HK_API void hk_arena_set_owner(hk_arena_t *a) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_set_owner");
    a->owner = pthread_self();
}

/* ------------------------------------------------------------------ memory */

/* Bytes that reset or rewind took back: poisoned (ASan), or filled in debug mode. */
static void hk_arena_scrub(uintptr_t lo, uintptr_t hi) {
    if (hi <= lo) return;
    if (hk_tracking()) memset((void *)lo, HK_FREED_BYTE, hi - lo);
    hk_poison((void *)lo, hi - lo);
}

static void hk_arena_chunk_init(hk_arena_chunk_t *c, uintptr_t start, uintptr_t end, size_t bytes) {
    c->next = c->prev = NULL;
    c->start = hk_align_up(start, HK_ARENA_ALIGN);
    c->end = end & ~(uintptr_t)(HK_ARENA_ALIGN - 1);
    c->high = c->start;
    c->bytes = bytes;
    hk_poison((void *)c->start, c->end - c->start);
}

static void hk_arena_use_chunk(hk_arena_t *a, hk_arena_chunk_t *c) {
    a->chunk = c;
    __atomic_store_n(&a->chunk_start, c->start, __ATOMIC_RELAXED);
    hk_arena_set_cur(a, c->start);
    a->limit = c->end;
}

static void hk_arena_label(const hk_arena_t *a, const void *block) {
    if (hk_tracking()) hk_track_set_label(block, a->label);
    /* a guard block's record is the checker's, not the tracker's: named there too */
    hk_check_set_label(block, a->label);
}

/* A block of its own for `size` bytes aligned to `align`, on the large list. */
static void *hk_arena_large(hk_arena_t *a, size_t size, size_t align) {
    size_t header = hk_align_up(sizeof(hk_arena_large_t), align > HK_ARENA_ALIGN ? align : HK_ARENA_ALIGN);
    if (size > SIZE_MAX - header) {
        errno = ENOMEM;
        return NULL;
    }
    hk_arena_large_t *l = hk_numa_aligned_alloc(align > HK_ARENA_ALIGN ? align : 0, header + size, a->node);
    if (l == NULL) return NULL;
    hk_arena_label(a, l);
    l->serial = a->serial++;
    l->bytes = header + size;
    l->next = a->large;
    a->large = l;
    hk_stat_add(&a->large_count, 1);
    hk_stat_add(&a->large_bytes, l->bytes);
    return (uint8_t *)l + header;
}

static void *hk_arena_bump(hk_arena_t *a, size_t size, size_t align);

/* Mapped chunks of HK_ARENA_CHUNK_MAX bytes kept for the next arena that grows (slots taken
 * and filled by exchange: no lock, no list). */
static _Atomic(hk_arena_chunk_t *) hk_arena_map_cache[HK_ARENA_MAP_CACHE];

/* A chunk's memory: a mapping of its own when big (and nothing needs it to be a heapkit block:
 * not tracked or checked, no NUMA node asked for), else a heapkit block. */
static hk_arena_chunk_t *hk_arena_chunk_new(const hk_arena_t *a, size_t bytes) {
    if (bytes < HK_ARENA_MAP_MIN || a->node != HK_NUMA_ANY || hk_tracking() || hk_checking()) {
        hk_arena_chunk_t *c = hk_numa_aligned_alloc(0, bytes, a->node);
        if (c != NULL) c->mapped = false;
        return c;
    }
    if (bytes == HK_ARENA_CHUNK_MAX)
        for (size_t i = 0; i < HK_ARENA_MAP_CACHE; i++) {
            hk_arena_chunk_t *c = atomic_exchange_explicit(&hk_arena_map_cache[i], NULL, memory_order_acquire);
            if (c != NULL) return c;
        }
    size_t mapped;
    hk_arena_chunk_t *c = hk_os_map_aligned(bytes, 0, &mapped);
    if (c != NULL) c->mapped = true;
    return c;
}

static void hk_arena_chunk_free(hk_arena_chunk_t *c) {
    hk_arena_unpoison(c, c->bytes);
    if (!c->mapped) {
        hk_free(c);
        return;
    }
    if (c->bytes == HK_ARENA_CHUNK_MAX)
        for (size_t i = 0; i < HK_ARENA_MAP_CACHE; i++) {
            hk_arena_chunk_t *empty = NULL;
            if (atomic_compare_exchange_strong_explicit(&hk_arena_map_cache[i], &empty, c, memory_order_release,
                                                        memory_order_relaxed))
                return;
        }
    hk_os_unmap(c, c->bytes);
}

/* Heap checking: the allocation as a checked heap block of its own, named by the arena, with its
 * record in a chunk (the arena is locked or owned). */
static void *hk_arena_checked_block(hk_arena_t *a, size_t size, size_t align) {
    hk_arena_block_t *r = hk_arena_bump(a, sizeof *r, HK_ARENA_ALIGN);
    if (r == NULL) return NULL;
    void *p = align > HK_ARENA_ALIGN ? hk_aligned_alloc(align, hk_align_up(size, align)) : hk_malloc(size);
    if (p == NULL) {
        hk_arena_set_cur(a, (uintptr_t)r); /* the record was the last thing bumped */
        return NULL;
    }
    hk_check_set_label(p, a->label);
    *r = (hk_arena_block_t){.next = a->blocks, .serial = a->serial++, .block = p, .size = size};
    a->blocks = r;
    hk_stat_add(&a->large_count, 1);
    hk_stat_add(&a->large_bytes, size);
    return p;
}

/* `size` does not fit in the current chunk: move on to the next kept chunk big enough, or a new one. */
static hk_noinline void *hk_arena_grow(hk_arena_t *a, size_t size, size_t align) {
    size_t need = size + align - 1;
    if (size > HK_ARENA_CHUNK_MAX || need > a->next_bytes / HK_ARENA_LARGE_SHARE || align > HK_ARENA_ALIGN_MAX)
        return hk_arena_large(a, size, align);
    hk_arena_chunk_t *c = a->chunk;
    c->high = a->cur;
    size_t used_before = a->used_before + (c->high - c->start);
    hk_arena_chunk_t *next = c->next;
    while (next != NULL && next->end - next->start < need) { /* too small: skipped this time */
        next->high = next->start;
        c = next;
        next = next->next;
    }
    if (next == NULL) {
        size_t bytes = a->next_bytes;
        size_t header = hk_align_up(sizeof(hk_arena_chunk_t), HK_ARENA_ALIGN);
        next = hk_arena_chunk_new(a, bytes);
        if (next == NULL) return NULL;
        hk_arena_label(a, next);
        bool mapped = next->mapped;
        hk_arena_chunk_init(next, (uintptr_t)next + header, (uintptr_t)next + bytes, bytes);
        next->mapped = mapped;
        next->prev = c;
        c->next = next;
        hk_stat_add(&a->chunks, 1);
        hk_stat_add(&a->chunk_bytes, bytes);
        if (a->next_bytes < HK_ARENA_CHUNK_MAX) a->next_bytes *= 2;
    }
    __atomic_store_n(&a->used_before, used_before, __ATOMIC_RELAXED); /* statistics read it */
    hk_arena_use_chunk(a, next);
    return hk_arena_bump(a, size, align);
}

static void *hk_arena_bump(hk_arena_t *a, size_t size, size_t align) {
    uintptr_t p = hk_align_up(a->cur, align);
    if (hk_likely(p <= a->limit && size <= a->limit - p)) {
        hk_arena_set_cur(a, p + size);
        hk_arena_unpoison((void *)p, size);
        return (void *)p;
    }
    return hk_arena_grow(a, size, align);
}

/* An allocation's memory: bumped in a chunk, or under heap checking a checked block of its own. */
static void *hk_arena_take(hk_arena_t *a, size_t size, size_t align) {
    return a->slow & HK_ARENA_SLOW_BLOCKS ? hk_arena_checked_block(a, size, align) : hk_arena_bump(a, size, align);
}

static hk_noinline void *hk_arena_alloc_slow(hk_arena_t *a, size_t size, size_t align, const char *who) {
    if (!hk_arena_enter(a, who)) return NULL;
    void *p = hk_arena_take(a, size, align);
    hk_arena_leave(a);
    return p;
}

/* Any arena, after the handle check. */
static hk_noinline void *hk_arena_alloc_checked(hk_arena_t *a, size_t size) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_alloc", NULL);
    return hk_arena_alloc_slow(a, size, a->align_add + 1, "hk_arena_alloc");
}

/* The fast path: the thread's remembered live arena (registry.h: the handle check in one
 * compare), not locked (only the owner reads cur and limit), room in the chunk. */
HK_API void *hk_arena_alloc(hk_arena_t *a, size_t size) {
    if (hk_likely(hk_handle_remembered(a, HK_REG_ARENA, hk_handle_deaths_now())) && hk_likely(a->slow == 0)) {
        uintptr_t p = (a->cur + a->align_add) & a->align_mask;
        if (hk_likely(size <= a->limit - p)) { /* limit is 16-aligned: p <= limit */
            hk_arena_set_cur(a, p + size);
            hk_arena_unpoison_fast((void *)p, size);
            return (void *)p;
        }
    }
    return hk_arena_alloc_checked(a, size);
}

HK_API void *hk_arena_calloc(hk_arena_t *a, size_t count, size_t size) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_calloc", NULL);
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = hk_arena_alloc(a, total);
    if (p != NULL) memset(p, 0, total);
    return p;
}

HK_API void *hk_arena_aligned_alloc(hk_arena_t *a, size_t alignment, size_t size) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_aligned_alloc", NULL);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return hk_arena_alloc_slow(a, size, alignment <= a->align_add ? a->align_add + 1 : alignment,
                               "hk_arena_aligned_alloc");
}

/* Strings need no alignment: they are packed. */
static char *hk_arena_string(hk_arena_t *a, const char *s, size_t n, const char *who) {
    char *p;
    if (hk_likely(a->slow == 0) && hk_likely(n < a->limit - a->cur)) {
        p = (char *)a->cur;
        hk_arena_set_cur(a, a->cur + n + 1);
        hk_arena_unpoison_fast(p, n + 1);
    } else {
        if (n == SIZE_MAX) {
            errno = ENOMEM;
            return NULL;
        }
        p = hk_arena_alloc_slow(a, n + 1, 1, who);
        if (p == NULL) return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

HK_API char *hk_arena_strdup(hk_arena_t *a, const char *s) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_strdup", NULL);
    return hk_arena_string(a, s, strlen(s), "hk_arena_strdup");
}

HK_API char *hk_arena_strndup(hk_arena_t *a, const char *s, size_t n) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_strndup", NULL);
    return hk_arena_string(a, s, strnlen(s, n), "hk_arena_strndup");
}

/* Formatted straight into the rest of the current chunk; only if it does not fit is it formatted
 * again into memory of the right size. */
HK_API char *hk_arena_vprintf(hk_arena_t *a, const char *fmt, va_list ap) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_printf", NULL);
    if (!hk_arena_enter(a, "hk_arena_printf")) return NULL;
    va_list again;
    va_copy(again, ap);
    uintptr_t p = a->cur;
    /* Heap checking: nothing in place, the text gets a checked block of its own (hk_arena_take). */
    size_t room = a->slow & HK_ARENA_SLOW_BLOCKS ? 0 : a->limit - p;
    hk_arena_unpoison((void *)p, room);
    size_t len = hk_format((char *)p, room, fmt, ap);
    char *out;
    if (len < room) {
        out = (char *)p;
        out[len] = '\0';
        hk_arena_set_cur(a, p + len + 1);
        hk_poison((void *)(p + len + 1), room - len - 1);
    } else {
        hk_poison((void *)p, room);
        out = len == SIZE_MAX ? NULL : hk_arena_take(a, len + 1, 1);
        if (out != NULL) {
            hk_format(out, len + 1, fmt, again);
            out[len] = '\0';
        } else {
            errno = ENOMEM;
        }
    }
    va_end(again);
    hk_arena_leave(a);
    return out;
}

HK_API char *hk_arena_printf(hk_arena_t *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = hk_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------ cleanups, undo */

HK_API int hk_arena_on_cleanup(hk_arena_t *a, void (*fn)(void *arg), void *arg) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_on_cleanup", -1);
    if (fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!hk_arena_enter(a, "hk_arena_on_cleanup")) return -1;
    hk_arena_cleanup_t *c = hk_arena_bump(a, sizeof *c, HK_ARENA_ALIGN);
    if (c != NULL) {
        c->fn = fn;
        c->arg = arg;
        c->serial = a->serial++;
        c->next = a->cleanups;
        a->cleanups = c;
    }
    hk_arena_leave(a);
    return c != NULL ? 0 : -1;
}

/* Take off everything created at serial `from` or later (the arena is locked or owned). */
static void hk_arena_detach(hk_arena_t *a, uint64_t from, hk_arena_undo_t *u) {
    *u = (hk_arena_undo_t){NULL, NULL, NULL, NULL};
    hk_arena_cleanup_t **cl = &u->cleanups;
    while (a->cleanups != NULL && a->cleanups->serial >= from) {
        *cl = a->cleanups;
        a->cleanups = a->cleanups->next;
        cl = &(*cl)->next;
    }
    *cl = NULL;
    hk_arena_t **ch = &u->children;
    while (a->children != NULL && a->children->serial_in_parent >= from) {
        hk_arena_t *child = a->children;
        a->children = child->sibling_next;
        child->parent = NULL; /* its destroy must not look for us */
        *ch = child;
        ch = &child->sibling_next;
        hk_stat_sub(&a->child_count, 1);
    }
    *ch = NULL;
    if (a->children != NULL) a->children->sibling_prev = NULL;
    hk_arena_large_t **l = &u->large;
    while (a->large != NULL && a->large->serial >= from) {
        *l = a->large;
        a->large = a->large->next;
        hk_stat_sub(&a->large_count, 1);
        hk_stat_sub(&a->large_bytes, (*l)->bytes);
        l = &(*l)->next;
    }
    *l = NULL;
    hk_arena_block_t **b = &u->blocks;
    while (a->blocks != NULL && a->blocks->serial >= from) {
        *b = a->blocks;
        a->blocks = a->blocks->next;
        hk_stat_sub(&a->large_count, 1);
        hk_stat_sub(&a->large_bytes, (*b)->size);
        b = &(*b)->next;
    }
    *b = NULL;
}

/* Cleanups and children newest first, by serial; then the large blocks. No lock is held, so
 * a cleanup may use other arenas (not this one, which is being emptied). */
static void hk_arena_run_undo(hk_arena_undo_t *u) {
    while (u->cleanups != NULL || u->children != NULL) {
        hk_arena_cleanup_t *cl = u->cleanups;
        hk_arena_t *child = u->children;
        if (cl != NULL && (child == NULL || cl->serial > child->serial_in_parent)) {
            u->cleanups = cl->next;
            cl->fn(cl->arg);
        } else {
            u->children = child->sibling_next;
            hk_arena_destroy_detached(child);
        }
    }
    while (u->large != NULL) {
        hk_arena_large_t *l = u->large;
        u->large = l->next;
        hk_free(l);
    }
    for (hk_arena_block_t *b = u->blocks; b != NULL; b = b->next) hk_free(b->block); /* checked, quarantined */
}

/* Move the bump pointer back to `pos` in chunk `to` (which is at or before the current one). */
static void hk_arena_rewind_memory(hk_arena_t *a, hk_arena_chunk_t *to, uintptr_t pos) {
    hk_arena_chunk_t *c = a->chunk;
    uintptr_t used_end = a->cur;
    while (c != to) {
        hk_arena_scrub(c->start, used_end);
        c->high = c->start;
        c = c->prev;
        used_end = c->high;
    }
    hk_arena_scrub(pos, used_end);
    size_t used_before = 0;
    for (hk_arena_chunk_t *b = &a->first; b != to; b = b->next) used_before += b->high - b->start;
    __atomic_store_n(&a->used_before, used_before, __ATOMIC_RELAXED); /* statistics read it */
    hk_arena_use_chunk(a, to);
    hk_arena_set_cur(a, pos);
}

/* The first chunk after the embedded one is a quarter of it: most arenas that outgrow their
 * first chunk (a request a little bigger than usual) need only a little more; from there on
 * each chunk is twice the last. */
static size_t hk_arena_spill_bytes(size_t first) {
    size_t bytes = hk_align_up(first / HK_ARENA_SPILL_SHARE, HK_ARENA_ALIGN);
    return bytes < HK_ARENA_SPILL_MIN ? HK_ARENA_SPILL_MIN : bytes;
}

/* After a reset: keep the chunks after the first up to `keep` bytes, give the rest back. The
 * next new chunk is twice the last one kept, so growth does not start over from small chunks
 * nor run away after many resets. */
static void hk_arena_trim_chunks(hk_arena_t *a) {
    size_t kept = 0;
    hk_arena_chunk_t *c = &a->first;
    while (c->next != NULL && kept + c->next->bytes <= a->keep) {
        c = c->next;
        kept += c->bytes;
    }
    a->next_bytes = c == &a->first ? hk_arena_spill_bytes(c->bytes)
                    : c->bytes * 2 < HK_ARENA_CHUNK_MAX ? c->bytes * 2
                                                        : HK_ARENA_CHUNK_MAX;
    hk_arena_chunk_t *drop = c->next;
    c->next = NULL;
    while (drop != NULL) {
        hk_arena_chunk_t *next = drop->next;
        hk_stat_sub(&a->chunks, 1);
        hk_stat_sub(&a->chunk_bytes, drop->bytes);
        hk_arena_chunk_free(drop);
        drop = next;
    }
}

/* ------------------------------------------------------------------ create, reset, destroy */

static void hk_arena_figures(hk_reg_node_t *node, hk_reg_figures_t *f);

HK_API hk_arena_t *hk_arena_create_ex(const char *name, hk_arena_t *parent, unsigned flags, size_t first_chunk,
                                      size_t keep) {
    int node = hk_flags_node(flags);
    hk_process_init();
    if ((flags & ~(HK_ARENA_LOCKED | HK_ARENA_ALIGN_8 | HK_ON_NODE_MASK)) != 0 || (node != HK_NUMA_ANY && !hk_numa_node_valid(node))) {
        errno = EINVAL;
        return NULL;
    }
    if (parent != NULL) HK_HANDLE_CHECK(parent, HK_REG_ARENA, "hk_arena_create", NULL);
    size_t header = offsetof(hk_arena_t, data);
    size_t bytes = first_chunk == 0 ? HK_ARENA_FIRST_DEFAULT : first_chunk;
    if (bytes < header + HK_ARENA_FIRST_MIN) bytes = header + HK_ARENA_FIRST_MIN;
    if (bytes > HK_ARENA_CHUNK_MAX) bytes = HK_ARENA_CHUNK_MAX;
    hk_arena_t *a = hk_numa_aligned_alloc(0, bytes, node);
    if (a == NULL) return NULL;
    memset(a, 0, header);
    a->node = (int16_t)node;
    a->locked = (flags & HK_ARENA_LOCKED) != 0;
    a->align_add = (flags & HK_ARENA_ALIGN_8 ? 8 : HK_ARENA_ALIGN) - 1;
    a->align_mask = ~a->align_add;
    a->slow = (a->locked ? HK_ARENA_SLOW_LOCKED : 0) | (hk_tracking() && !a->locked ? HK_ARENA_SLOW_CHECK : 0) |
              (hk_checking() ? HK_ARENA_SLOW_BLOCKS : 0) | HK_ARENA_SLOW_VALGRIND;
    a->owner = pthread_self();
    a->keep = keep;
    a->next_bytes = hk_arena_spill_bytes(bytes);
    pthread_mutex_init(&a->lock, NULL);
    hk_arena_chunk_init(&a->first, (uintptr_t)a->data, (uintptr_t)a + bytes, bytes);
    hk_arena_use_chunk(a, &a->first);
    atomic_store_explicit(&a->chunks, 1, memory_order_relaxed);
    atomic_store_explicit(&a->chunk_bytes, bytes, memory_order_relaxed);
    hk_registry_add(&a->reg, HK_REG_ARENA, name, a->locked ? &a->lock : NULL, hk_arena_figures);
    hk_handle_set(&a->handle, a, HK_REG_ARENA, &a->reg);
    if (hk_tracking() || hk_checking()) {
        a->label = hk_track_label_intern(a->reg.name);
        hk_arena_label(a, a); /* an arena never destroyed is reported by its name */
    }
    if (parent != NULL) {
        if (!hk_arena_enter(parent, "hk_arena_create")) {
            hk_arena_destroy_detached(a);
            return NULL;
        }
        a->parent = parent;
        a->serial_in_parent = parent->serial++;
        a->sibling_next = parent->children;
        if (parent->children != NULL) parent->children->sibling_prev = a;
        parent->children = a;
        hk_stat_add(&parent->child_count, 1);
        hk_arena_leave(parent);
    }
    return a;
}

HK_API hk_arena_t *hk_arena_create(const char *name, hk_arena_t *parent, unsigned flags) {
    return hk_arena_create_ex(name, parent, flags, 0, 0);
}

/* The arena is off its parent's list: empty it and free it. */
static void hk_arena_destroy_detached(hk_arena_t *a) {
    hk_handle_kill(&a->handle, a, HK_REG_ARENA); /* first: a later call with this handle is refused */
    hk_registry_remove(&a->reg);
    hk_arena_undo_t u;
    hk_arena_detach(a, 0, &u);
    hk_arena_run_undo(&u);
    hk_arena_chunk_t *c = a->first.next;
    while (c != NULL) {
        hk_arena_chunk_t *next = c->next;
        hk_arena_chunk_free(c);
        c = next;
    }
    hk_arena_unpoison(a, a->first.bytes);
    pthread_mutex_destroy(&a->lock);
    hk_free(a);
}

HK_API void hk_arena_destroy(hk_arena_t *a) {
    if (a == NULL) return; /* like free(NULL) */
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_destroy");
    if ((a->slow & HK_ARENA_SLOW_CHECK) && !hk_arena_enter(a, "hk_arena_destroy")) return;
    hk_arena_t *parent = a->parent;
    if (parent != NULL) {
        if (parent->locked) pthread_mutex_lock(&parent->lock);
        if (a->sibling_prev != NULL) a->sibling_prev->sibling_next = a->sibling_next;
        else parent->children = a->sibling_next;
        if (a->sibling_next != NULL) a->sibling_next->sibling_prev = a->sibling_prev;
        hk_stat_sub(&parent->child_count, 1);
        if (parent->locked) pthread_mutex_unlock(&parent->lock);
    }
    hk_arena_destroy_detached(a);
}

HK_API void hk_arena_reset(hk_arena_t *a) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_reset");
    if (!hk_arena_enter(a, "hk_arena_reset")) return;
    hk_arena_undo_t u;
    hk_arena_detach(a, 0, &u);
    hk_arena_leave(a);
    hk_arena_run_undo(&u);
    if (a->locked) pthread_mutex_lock(&a->lock);
    hk_arena_rewind_memory(a, &a->first, a->first.start);
    hk_arena_trim_chunks(a);
    a->generation++;
    hk_arena_leave(a);
}

/* ------------------------------------------------------------------ marks */

HK_API hk_arena_mark_t hk_arena_mark(hk_arena_t *a) {
    hk_arena_mark_t m = {NULL, 0, 0, 0};
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_mark", m);
    if (!hk_arena_enter(a, "hk_arena_mark")) return m;
    m.chunk_ = a->chunk;
    m.offset_ = a->cur - a->chunk->start;
    m.serial_ = a->serial;
    m.generation_ = a->generation;
    hk_arena_leave(a);
    return m;
}

/* The chunk of a live mark: in the chain up to the current chunk, at or below what is used. */
static hk_arena_chunk_t *hk_arena_mark_chunk(hk_arena_t *a, const hk_arena_mark_t *m) {
    if (m->generation_ != a->generation) return NULL;
    for (hk_arena_chunk_t *c = &a->first;; c = c->next) {
        uintptr_t used = c == a->chunk ? a->cur : c->high;
        if (c == m->chunk_) return m->offset_ <= used - c->start ? c : NULL;
        if (c == a->chunk) return NULL;
    }
}

HK_API void hk_arena_rewind(hk_arena_t *a, hk_arena_mark_t mark) {
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_rewind");
    if (!hk_arena_enter(a, "hk_arena_rewind")) return;
    hk_arena_chunk_t *to = hk_arena_mark_chunk(a, &mark);
    if (to == NULL || mark.serial_ > a->serial) {
        hk_arena_leave(a);
        hk_error("hk_arena_rewind(arena '%s'): the mark is dead (taken before a reset, or past where an earlier "
                 "rewind left the arena); ignored",
                 a->reg.name);
        return;
    }
    hk_arena_undo_t u;
    hk_arena_detach(a, mark.serial_, &u);
    hk_arena_leave(a);
    hk_arena_run_undo(&u);
    if (a->locked) pthread_mutex_lock(&a->lock);
    hk_arena_rewind_memory(a, to, to->start + mark.offset_);
    hk_arena_leave(a);
}

/* ------------------------------------------------------------------ statistics */

static void hk_arena_figures_read(hk_arena_t *a, hk_reg_figures_t *f) {
    /* Another thread may be allocating: read only the arena's own words, each atomically. */
    uintptr_t cur = __atomic_load_n(&a->cur, __ATOMIC_RELAXED);
    uintptr_t start = __atomic_load_n(&a->chunk_start, __ATOMIC_RELAXED);
    size_t before = __atomic_load_n(&a->used_before, __ATOMIC_RELAXED);
    f->used = before + (cur > start ? cur - start : 0);
    f->chunks = atomic_load_explicit(&a->chunks, memory_order_relaxed);
    f->large = atomic_load_explicit(&a->large_count, memory_order_relaxed);
    f->large_bytes = atomic_load_explicit(&a->large_bytes, memory_order_relaxed);
    f->bytes = atomic_load_explicit(&a->chunk_bytes, memory_order_relaxed) + f->large_bytes;
}

static void hk_arena_figures(hk_reg_node_t *node, hk_reg_figures_t *f) {
    hk_arena_t *a = (hk_arena_t *)((uint8_t *)node - offsetof(hk_arena_t, reg));
    if (a->locked) pthread_mutex_lock(&a->lock);
    hk_arena_figures_read(a, f);
    if (a->locked) pthread_mutex_unlock(&a->lock);
}

HK_API void hk_arena_stats(hk_arena_t *a, hk_arena_stats_t *out) {
    if (out == NULL) return; /* nowhere to put them */
    *out = (hk_arena_stats_t){0};
    HK_HANDLE_CHECK(a, HK_REG_ARENA, "hk_arena_stats");
    hk_reg_figures_t f = {0};
    hk_arena_figures(&a->reg, &f);
    *out = (hk_arena_stats_t){.name = a->reg.name, .used = f.used, .chunks = f.chunks,
                              .chunk_bytes = f.bytes - f.large_bytes, .large = f.large,
                              .large_bytes = f.large_bytes,
                              .children = atomic_load_explicit(&a->child_count, memory_order_relaxed)};
}
