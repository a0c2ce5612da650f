/* fuzz_ops.c — a libFuzzer target: reads its input as a program of allocation operations, runs
 * it through the hk_* API only, and checks every result against a shadow model (contents,
 * alignment, zeroing, usable size, errno, no overlap). Any mismatch prints why and aborts.
 * Pools and arenas too: objects and arena allocations hold the pattern like blocks, pools and
 * arenas are created, trimmed, reset, rewound to marks and destroyed, their statistics checked,
 * hk_arena_printf compared with snprintf, and handles that are NULL or destroyed must be refused
 * with EINVAL. */

/* Input format: a stream of bytes read front to back; each operation is one opcode byte
 * followed by the bytes its arguments need (slot, size class, size bytes, ...). Missing bytes
 * read as zero, so every input is valid. Blocks live in SLOTS numbered slots; each block is
 * filled with a pattern derived from its id and offset, and checked before it is freed. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapkit.h"

#define SLOTS 64
#define BURST_MAX 256
#define LARGE_MAX (4u << 20)     /* the largest single request */
#define LIVE_MAX (64u << 20)     /* requests that would go past this much live memory are skipped */
#define ALIGN_MIN 16             /* what malloc promises on x86_64/aarch64 for sizes >= 16 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Which C23 sized free a block may be given: free_sized for malloc/calloc/realloc blocks,
 * free_aligned_sized for aligned_alloc blocks, neither for the older aligned functions. */
enum sized_free { SIZED_NONE, SIZED_PLAIN, SIZED_ALIGNED };

struct block {
    unsigned char *p;
    size_t size;   /* bytes asked for */
    size_t filled; /* bytes holding the pattern: size, or the usable size once it was asked */
    size_t align;  /* alignment asked for, 0 for a plain malloc/calloc/realloc */
    uint32_t id;
    enum sized_free sized;
    bool sparse; /* only sampled parts hold the pattern (see spans) */
};

struct input {
    const uint8_t *p;
    size_t n;
};

static struct block slots[SLOTS];

/* Pools and arenas, each with the allocations the model knows of (pattern-filled like blocks). */
#define POOLS 4
#define POOL_OBJS 64
#define ARENAS 4
#define ARENA_ALLOCS 48
#define ARENA_BUDGET (16u << 20)

struct pool_model {
    hk_pool_t *pool;
    size_t size, align;
    size_t live;
    unsigned flags;
};
struct obj_model {
    unsigned char *p;
    int pool;
    uint32_t id;
};
struct arena_model {
    hk_arena_t *arena;
    struct block allocs[ARENA_ALLOCS];
    size_t count;      /* allocations [0, count) are live */
    size_t bytes;
    hk_arena_mark_t mark;
    size_t mark_count; /* allocations when the mark was taken */
    bool mark_ok;
};
static struct pool_model pools[POOLS];
static struct obj_model objs[POOL_OBJS];
static struct arena_model arenas[ARENAS];
static void *stale_handle; /* the last pool or arena destroyed: every call with it must be refused */
static size_t live_bytes;
static uint32_t next_id;
static size_t op_index; /* of the operation being run, for messages */

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_ops: operation %zu: ", op_index);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static uint8_t byte(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static size_t bytes(struct input *in, int count)
{
    size_t v = 0;
    for (int i = 0; i < count; i++)
        v |= (size_t)byte(in) << (8 * i);
    return v;
}

/* Sizes from every size range the allocator distinguishes, and the edges between them;
 * mostly small ones, as programs ask for. */
static size_t pick_size(struct input *in)
{
    uint8_t kind = byte(in);
    switch (kind % 16) {
    case 0: return 0;
    case 1:
    case 2: return bytes(in, 1) % 17;
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: return bytes(in, 2) % 1025;
    case 8:
    case 9:
    case 10: return bytes(in, 2) % 65537;
    case 11: return bytes(in, 3) % (512u << 10);
    case 12: return bytes(in, 3) % (LARGE_MAX + 1);
    default: {
        /* powers of two and their neighbours: class and page boundaries */
        uint8_t b = byte(in);
        size_t p2 = (size_t)1 << (b % 23);
        return (b / 23) % 3 == 0 ? p2 : (b / 23) % 3 == 1 ? p2 - 1 : p2 + 1;
    }
    }
}

/* --- the pattern: a 64-bit word per 8 bytes of offset, different for every block ---------- */

static uint64_t pat_word(uint32_t id, size_t w)
{
    uint64_t x = ((uint64_t)id << 32 | (uint32_t)w) * 0x9e3779b97f4a7c15u;
    return x ^ (x >> 29) ^ ((uint64_t)w * 0xc2b2ae3d27d4eb4fu);
}

static unsigned char pat_byte(uint32_t id, size_t i)
{
    uint64_t w = pat_word(id, i / 8);
    unsigned char b[8];
    memcpy(b, &w, 8);
    return b[i % 8];
}

/* Both return SIZE_MAX, or the offset of the first byte that differs from the pattern. */
static size_t fill_span(unsigned char *p, size_t from, size_t to, uint32_t id)
{
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        p[i] = pat_byte(id, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = pat_word(id, i / 8);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = pat_byte(id, i);
    return SIZE_MAX;
}

static size_t check_span(unsigned char *p, size_t from, size_t to, uint32_t id)
{
    size_t i = from;
    for (; i + 8 <= to; i += 8) {
        uint64_t got;
        memcpy(&got, p + i, 8); /* one load, not a memcmp call */
        if (got != pat_word(id, i / 8))
            break;
    }
    for (; i < to; i++)
        if (p[i] != pat_byte(id, i))
            return i;
    return SIZE_MAX;
}

/* Runs fn on the parts of [from, to) that hold the pattern: all of a block of up to FULL_MAX
 * bytes; of a bigger (sparse) one, the first 4 KiB and then 64 bytes at every 4 KiB. That
 * still sees stray metadata writes and overlaps, at a cost that keeps the fuzzer fast. */
#define FULL_MAX (64u << 10)
static size_t spans(unsigned char *p, size_t from, size_t to, uint32_t id, bool sparse,
                    size_t (*fn)(unsigned char *, size_t, size_t, uint32_t))
{
    if (!sparse)
        return from < to ? fn(p, from, to, id) : SIZE_MAX;
    for (size_t page = from & ~(size_t)4095; page < to; page += 4096) {
        size_t lo = page > from ? page : from;
        size_t hi = page == 0 ? 4096 : page + 64;
        hi = hi < to ? hi : to;
        size_t bad = lo < hi ? fn(p, lo, hi, id) : SIZE_MAX;
        if (bad != SIZE_MAX)
            return bad;
    }
    return SIZE_MAX;
}

static void fill(unsigned char *p, size_t from, size_t to, uint32_t id, bool sparse)
{
    spans(p, from, to, id, sparse, fill_span);
}

static void check(unsigned char *p, size_t n, uint32_t id, bool sparse, const char *when)
{
    size_t i = spans(p, 0, n, id, sparse, check_span);
    if (i != SIZE_MAX)
        fail("block %u at %p (%zu bytes): byte %zu is 0x%02x, want 0x%02x, %s", id, (void *)p, n,
             i, p[i], pat_byte(id, i), when);
}

static void check_zero(const unsigned char *p, size_t n, const char *what)
{
    static const unsigned char zero[4096];
    for (size_t i = 0; i < n; i += sizeof zero) {
        size_t len = n - i < sizeof zero ? n - i : sizeof zero;
        if (memcmp(p + i, zero, len) == 0)
            continue;
        while (p[i] == 0)
            i++;
        fail("%s: %zu-byte block at %p has byte %zu = 0x%02x, want 0", what, n, (const void *)p,
             i, p[i]);
    }
}

/* --- the model ------------------------------------------------------------------------------ */

static size_t extent(const struct block *b)
{
    return b->filled > 0 ? b->filled : 1;
}

/* A new block must be aligned, usable and disjoint from every live block. */
static void check_new(const struct block *nb, const char *what)
{
    uintptr_t a = (uintptr_t)nb->p;
    size_t natural = ALIGN_MIN;
    while (natural > 1 && natural > nb->size)
        natural /= 2;
    if (a % natural != 0)
        fail("%s(%zu) = %p: not aligned to %zu", what, nb->size, (void *)nb->p, natural);
    if (nb->align > 0 && a % nb->align != 0)
        fail("%s(align %zu, %zu) = %p: misaligned", what, nb->align, nb->size, (void *)nb->p);
    size_t usable = hk_usable_size(nb->p);
    if (usable < nb->size)
        fail("%s(%zu) = %p: usable size %zu is smaller", what, nb->size, (void *)nb->p, usable);
    if (!hk_owns(nb->p))
        fail("%s(%zu) = %p: hk_owns says no", what, nb->size, (void *)nb->p);
    for (int s = 0; s < SLOTS; s++) {
        const struct block *b = &slots[s];
        if (b->p == NULL || b == nb)
            continue;
        uintptr_t lo = (uintptr_t)b->p;
        if (a < lo + extent(b) && lo < a + extent(nb))
            fail("%s(%zu) = %p overlaps live block %u at %p (%zu bytes)", what, nb->size,
                 (void *)nb->p, b->id, (void *)b->p, extent(b));
    }
}

static void set_block(int s, void *p, size_t size, size_t align, enum sized_free sized,
                      uint32_t id, const char *what)
{
    struct block *b = &slots[s];
    *b = (struct block){ p, size, size, align, id, sized, size > FULL_MAX };
    check_new(b, what);
    fill(b->p, 0, b->filled, b->id, b->sparse);
    live_bytes += size;
}

static void release(int s, bool sized)
{
    struct block *b = &slots[s];
    if (b->p == NULL)
        return;
    check(b->p, b->filled, b->id, b->sparse, "before free");
    if (sized && b->sized == SIZED_ALIGNED)
        hk_free_aligned_sized(b->p, b->align, b->size);
    else if (sized && b->sized == SIZED_PLAIN)
        hk_free_sized(b->p, b->size);
    else
        hk_free(b->p);
    live_bytes -= b->size;
    b->p = NULL;
}

static bool fits(size_t size)
{
    return live_bytes + size <= LIVE_MAX;
}

static void check_all(const char *when)
{
    for (int s = 0; s < SLOTS; s++)
        if (slots[s].p != NULL)
            check(slots[s].p, slots[s].filled, slots[s].id, slots[s].sparse, when);
}

/* --- the operations ------------------------------------------------------------------------- */

static void op_malloc(struct input *in, int s)
{
    size_t size = pick_size(in);
    release(s, false);
    if (!fits(size))
        return;
    void *p = hk_malloc(size);
    if (p == NULL)
        fail("malloc(%zu) = NULL", size);
    set_block(s, p, size, 0, SIZED_PLAIN, next_id++, "malloc");
}

static void op_calloc(struct input *in, int s)
{
    size_t count = byte(in) % 33, elem = pick_size(in);
    if (count > 0 && elem > LARGE_MAX / count)
        elem = LARGE_MAX / count;
    release(s, false);
    if (!fits(count * elem))
        return;
    unsigned char *p = hk_calloc(count, elem);
    if (p == NULL)
        fail("calloc(%zu, %zu) = NULL", count, elem);
    check_zero(p, count * elem, "calloc");
    set_block(s, p, count * elem, 0, SIZED_PLAIN, next_id++, "calloc");
}

static void op_realloc(struct input *in, int s, bool array)
{
    size_t size = pick_size(in);
    struct block *b = &slots[s];
    size_t old = b->p != NULL ? b->size : 0;
    if (size > old && !fits(size - old))
        return;
    if (b->p != NULL)
        check(b->p, b->filled, b->id, b->sparse, "before realloc");
    unsigned char *p = array ? hk_reallocarray(b->p, 1, size) : hk_realloc(b->p, size);
    if (p == NULL && size == 0 && b->p != NULL) {
        /* glibc's realloc(p, 0) frees p and returns NULL; a fresh minimal block is also fine */
        live_bytes -= b->size;
        b->p = NULL;
        return;
    }
    if (p == NULL)
        fail("realloc(%p, %zu) = NULL", (void *)b->p, size);
    size_t keep = old < size ? old : size;
    check(p, keep, b->id, b->sparse, "after realloc (contents must be kept)");
    /* the block keeps its id, so the copied prefix is already its pattern */
    live_bytes -= old;
    set_block(s, p, size, 0, SIZED_PLAIN, old > 0 ? b->id : next_id++, "realloc");
}

static void op_aligned(struct input *in, int s)
{
    uint8_t how = byte(in) % 5;
    size_t align = (size_t)1 << (byte(in) % 23);
    size_t size = pick_size(in);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    release(s, false);
    if (!fits(size + align))
        return;
    void *p = NULL;
    const char *what;
    enum sized_free sized = SIZED_NONE;
    switch (how) {
    case 0: {
        what = "posix_memalign";
        if (align < sizeof(void *))
            align = sizeof(void *);
        int rc = hk_posix_memalign(&p, align, size);
        if (rc != 0)
            fail("posix_memalign(%zu, %zu) = %d", align, size, rc);
        break;
    }
    case 1:
        what = "aligned_alloc";
        sized = SIZED_ALIGNED;
        p = hk_aligned_alloc(align, size);
        break;
    case 2: what = "memalign"; p = hk_memalign(align, size); break;
    case 3: what = "valloc"; align = page; p = hk_valloc(size); break;
    default:
        what = "pvalloc";
        align = page;
        p = hk_pvalloc(size);
        if (p != NULL && hk_usable_size(p) < ((size + page - 1) & ~(page - 1)))
            fail("pvalloc(%zu): usable size %zu is not whole pages", size, hk_usable_size(p));
        break;
    }
    if (p == NULL)
        fail("%s(%zu, %zu) = NULL", what, align, size);
    set_block(s, p, size, align, sized, next_id++, what);
}

/* Asking the usable size lets us use the slack, so fill it and watch it too. */
static void op_usable(int s)
{
    struct block *b = &slots[s];
    if (hk_usable_size(NULL) != 0)
        fail("usable_size(NULL) != 0");
    int local = 0;
    if (hk_owns(&local) || hk_owns(NULL))
        fail("hk_owns claims a stack address or NULL");
    if (b->p == NULL)
        return;
    size_t u = hk_usable_size(b->p);
    if (u < b->size)
        fail("usable_size(%p) = %zu < %zu asked", (void *)b->p, u, b->size);
    if (u > b->filled) {
        size_t old = b->filled;
        b->filled = u;
        check_new(b, "usable slack");
        fill(b->p, old, u, b->id, b->sparse);
    }
}

/* The value, hidden from the compiler: GCC rejects impossible sizes it can see at build time. */
static size_t opaque(size_t v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}

/* Requests that must fail cleanly, leaving the model untouched. */
static void op_fail(struct input *in, int s)
{
    void *p = NULL;
    const size_t max = opaque(SIZE_MAX);
    errno = 0;
    switch (byte(in) % 6) {
    case 0:
        if (hk_malloc(max - byte(in)) != NULL || errno != ENOMEM)
            fail("malloc(SIZE_MAX - k) did not fail with ENOMEM");
        break;
    case 1:
        if (hk_calloc(max / 16 + 2, 16 + byte(in) % 16) != NULL || errno != ENOMEM)
            fail("calloc overflowing size_t did not fail with ENOMEM");
        break;
    case 2: {
        size_t bad = (byte(in) % 2) ? 3 * sizeof(void *) : sizeof(void *) / 2;
        if (hk_posix_memalign(&p, bad, 64) != EINVAL || p != NULL)
            fail("posix_memalign(%zu, 64) did not return EINVAL", bad);
        break;
    }
    case 3:
        if (slots[s].p != NULL && (hk_realloc(slots[s].p, max - 4096) != NULL || errno != ENOMEM))
            fail("realloc(p, SIZE_MAX - 4096) did not fail with ENOMEM");
        break;
    case 4:
        if (slots[s].p != NULL &&
            (hk_reallocarray(slots[s].p, max / 2, 3) != NULL || errno != ENOMEM))
            fail("reallocarray overflowing size_t did not fail with ENOMEM");
        break;
    default:
        if (hk_aligned_alloc(64, max - 32) != NULL || errno != ENOMEM)
            fail("aligned_alloc(64, SIZE_MAX - 32) did not fail with ENOMEM");
        break;
    }
    if (slots[s].p != NULL)
        check(slots[s].p, slots[s].filled, slots[s].id, slots[s].sparse, "after a failed request");
}

/* Many same-sized blocks at once, freed in an order the input picks: fills and empties pages. */
static void op_burst(struct input *in)
{
    static struct block burst[BURST_MAX];
    size_t n = 1 + byte(in) % BURST_MAX;
    size_t size = bytes(in, 2) % 2049;
    uint8_t order = byte(in) % 3;
    if (!fits(n * size))
        return;
    for (size_t i = 0; i < n; i++) {
        burst[i] = (struct block){ hk_malloc(size), size, size, 0, next_id++, SIZED_PLAIN, false };
        if (burst[i].p == NULL)
            fail("burst malloc(%zu) = NULL", size);
        check_new(&burst[i], "burst malloc");
        fill(burst[i].p, 0, size, burst[i].id, false);
    }
    for (size_t k = 0; k < n; k++) {
        /* forwards, backwards, or every other one first */
        size_t i = order == 0 ? k : order == 1 ? n - 1 - k : (2 * k < n ? 2 * k : 2 * (k - (n + 1) / 2) + 1);
        check(burst[i].p, size, burst[i].id, false, "in a burst");
        hk_free(burst[i].p);
    }
}

static void op_stats(void)
{
    hk_stats_t st;
    hk_stats_get(&st);
    if (st.live < live_bytes)
        fail("stats: live %zu < %zu bytes the model holds", st.live, live_bytes);
    if (st.committed > st.reserved)
        fail("stats: committed %zu > reserved %zu", st.committed, st.reserved);
    static char buf[1 << 16];
    size_t need = hk_stats_json(NULL, 0);
    size_t got = hk_stats_json(buf, sizeof buf);
    size_t len = strlen(buf);
    if (got < sizeof buf && (len != got || buf[0] != '{' || buf[len - 1] != '}'))
        fail("stats_json: returned %zu (%zu first), wrote %zu bytes: %.60s", got, need, len, buf);
    if (got >= sizeof buf && len != sizeof buf - 1)
        fail("stats_json: truncated text is %zu bytes, want %zu", len, sizeof buf - 1);
    char small[8];
    hk_stats_json(small, sizeof small);
    if (strlen(small) != sizeof small - 1)
        fail("stats_json: a %zu-byte buffer holds %zu bytes, want them all but the NUL",
             sizeof small, strlen(small));
}

/* --- pools ---------------------------------------------------------------------------------- */

static bool is_live_handle(const void *h)
{
    for (int i = 0; i < POOLS; i++)
        if (pools[i].pool == h)
            return true;
    for (int i = 0; i < ARENAS; i++)
        if (arenas[i].arena == h)
            return true;
    return false;
}

static void obj_free(int o)
{
    struct obj_model *m = &objs[o];
    if (m->p == NULL)
        return;
    struct pool_model *pm = &pools[m->pool];
    check(m->p, pm->size, m->id, false, "before hk_pool_free");
    hk_pool_free(pm->pool, m->p);
    pm->live--;
    m->p = NULL;
}

/* Its objects back, then the pool destroyed; its handle becomes the stale one. */
static void pool_drop(int i)
{
    if (pools[i].pool == NULL)
        return;
    for (int o = 0; o < POOL_OBJS; o++)
        if (objs[o].p != NULL && objs[o].pool == i)
            obj_free(o);
    hk_pool_destroy(pools[i].pool);
    stale_handle = pools[i].pool;
    pools[i].pool = NULL;
}

static void pool_check_stats(int i, const char *when)
{
    hk_pool_stats_t st;
    hk_pool_stats(pools[i].pool, &st);
    if (st.live != pools[i].live || st.object_size != pools[i].size || st.capacity < st.live)
        fail("pool %d %s: stats say %zu live of %zu bytes (capacity %zu), the model %zu of %zu", i, when, st.live,
             st.object_size, st.capacity, pools[i].live, pools[i].size);
}

/* Calls with NULL or a destroyed handle: refused with EINVAL, nothing else touched. */
static void bad_handles(struct input *in)
{
    void *h = (byte(in) & 1) || stale_handle == NULL || is_live_handle(stale_handle) ? NULL : stale_handle;
    errno = 0;
    if (hk_pool_alloc(h) != NULL || errno != EINVAL)
        fail("hk_pool_alloc(%p) was not refused with EINVAL", h);
    errno = 0;
    if (hk_arena_alloc(h, 16) != NULL || errno != EINVAL)
        fail("hk_arena_alloc(%p) was not refused with EINVAL", h);
    errno = 0;
    if (hk_pool_trim(h) != 0 || errno != EINVAL)
        fail("hk_pool_trim(%p) was not refused with EINVAL", h);
    errno = 0;
    if (hk_arena_printf(h, "%d", 1) != NULL || errno != EINVAL)
        fail("hk_arena_printf(%p) was not refused with EINVAL", h);
    hk_pool_free(h, NULL);
    hk_arena_reset(h);
}

static void op_pool(struct input *in, int s)
{
    uint8_t what = byte(in);
    int i = byte(in) % POOLS;
    int o = s % POOL_OBJS;
    struct pool_model *pm = &pools[i];
    switch (what % 8) {
    case 0: { /* (re)create */
        pool_drop(i);
        size_t size = 1 + bytes(in, 2) % 4096;
        size_t align = byte(in) % 4 == 0 ? (size_t)1 << (byte(in) % 13) : 0;
        unsigned flags = byte(in) & 1 ? HK_POOL_SHARED : HK_POOL_LOCAL;
        hk_pool_t *p = hk_pool_create("fuzz", size, align, flags, NULL, NULL, NULL);
        if (p == NULL)
            fail("hk_pool_create(%zu, align %zu) = NULL", size, align);
        *pm = (struct pool_model){ p, size, align < 8 ? 8 : align, 0, flags };
        break;
    }
    case 1:
    case 2:
    case 3: { /* an object into slot o */
        if (pm->pool == NULL)
            return;
        obj_free(o);
        unsigned char *p = hk_pool_alloc(pm->pool);
        if (p == NULL)
            fail("hk_pool_alloc(pool %d of %zu bytes) = NULL", i, pm->size);
        if ((uintptr_t)p % pm->align != 0)
            fail("hk_pool_alloc(pool %d) = %p: not aligned to %zu", i, (void *)p, pm->align);
        for (int k = 0; k < POOL_OBJS; k++) {
            const struct obj_model *other = &objs[k];
            if (other->p != NULL && (uintptr_t)p < (uintptr_t)other->p + pools[other->pool].size &&
                (uintptr_t)other->p < (uintptr_t)p + pm->size)
                fail("hk_pool_alloc(pool %d) = %p overlaps object %u at %p", i, (void *)p, other->id,
                     (void *)other->p);
        }
        objs[o] = (struct obj_model){ p, i, next_id++ };
        pm->live++;
        fill(p, 0, pm->size, objs[o].id, false);
        break;
    }
    case 4:
        obj_free(o);
        break;
    case 5:
        if (pm->pool == NULL)
            return;
        hk_pool_trim(pm->pool);
        for (int k = 0; k < POOL_OBJS; k++)
            if (objs[k].p != NULL && objs[k].pool == i)
                check(objs[k].p, pm->size, objs[k].id, false, "after hk_pool_trim");
        pool_check_stats(i, "after trim");
        break;
    case 6:
        if (pm->pool != NULL)
            pool_check_stats(i, "");
        break;
    default:
        bad_handles(in);
        break;
    }
}

/* --- arenas --------------------------------------------------------------------------------- */

static void arena_check(int i, size_t from, const char *when)
{
    struct arena_model *am = &arenas[i];
    for (size_t k = from; k < am->count; k++)
        check(am->allocs[k].p, am->allocs[k].size, am->allocs[k].id, am->allocs[k].sparse, when);
}

static void arena_forget(int i, size_t keep)
{
    struct arena_model *am = &arenas[i];
    for (size_t k = keep; k < am->count; k++)
        am->bytes -= am->allocs[k].size;
    am->count = keep;
}

static void arena_drop(int i)
{
    if (arenas[i].arena == NULL)
        return;
    arena_check(i, 0, "before hk_arena_destroy");
    hk_arena_destroy(arenas[i].arena);
    stale_handle = arenas[i].arena;
    arena_forget(i, 0);
    arenas[i].arena = NULL;
}

static void arena_add(int i, unsigned char *p, size_t size, size_t align, const char *what)
{
    struct arena_model *am = &arenas[i];
    if (p == NULL)
        fail("%s(arena %d, %zu) = NULL", what, i, size);
    if (align > 1 && (uintptr_t)p % align != 0)
        fail("%s(arena %d, %zu) = %p: not aligned to %zu", what, i, size, (void *)p, align);
    for (int j = 0; j < ARENAS; j++)
        for (size_t k = 0; k < arenas[j].count; k++) {
            const struct block *b = &arenas[j].allocs[k];
            /* an allocation of 0 bytes may share its address with the next one */
            if (size > 0 && b->size > 0 && (uintptr_t)p < (uintptr_t)b->p + b->size &&
                (uintptr_t)b->p < (uintptr_t)p + size)
                fail("%s(arena %d, %zu) = %p overlaps allocation %u at %p", what, i, size, (void *)p, b->id,
                     (void *)b->p);
        }
    struct block *b = &am->allocs[am->count++];
    *b = (struct block){ p, size, size, align, next_id++, SIZED_NONE, size > FULL_MAX };
    fill(p, 0, size, b->id, b->sparse);
    am->bytes += size;
}

static void op_arena(struct input *in, int s)
{
    uint8_t what = byte(in);
    int i = s % ARENAS;
    struct arena_model *am = &arenas[i];
    if (what % 10 == 0 || am->arena == NULL) { /* (re)create */
        arena_drop(i);
        size_t first = byte(in) % 3 == 0 ? bytes(in, 2) : 0;
        am->arena = hk_arena_create_ex("fuzz", NULL, byte(in) & 1 ? HK_ARENA_LOCKED : 0, first, bytes(in, 2));
        if (am->arena == NULL)
            fail("hk_arena_create_ex(first %zu) = NULL", first);
        am->mark_ok = false;
        return;
    }
    switch (what % 10) {
    case 1:
    case 2:
    case 3: { /* plain, zeroed or aligned memory */
        size_t size = pick_size(in);
        uint8_t how = byte(in) % 3;
        if (am->count == ARENA_ALLOCS || am->bytes + size > ARENA_BUDGET)
            return;
        if (how == 0) {
            arena_add(i, hk_arena_alloc(am->arena, size), size, 16, "hk_arena_alloc");
        } else if (how == 1) {
            unsigned char *p = hk_arena_calloc(am->arena, 1, size);
            if (p != NULL)
                check_zero(p, size, "hk_arena_calloc");
            arena_add(i, p, size, 16, "hk_arena_calloc");
        } else {
            size_t align = (size_t)1 << (byte(in) % 14);
            arena_add(i, hk_arena_aligned_alloc(am->arena, align, size), size, align, "hk_arena_aligned_alloc");
        }
        break;
    }
    case 4: { /* a string, compared with snprintf's */
        if (am->count == ARENA_ALLOCS)
            return;
        static const char text[] = "Host: example.com";
        int prec = byte(in) % 20, width = (int)(byte(in) % 40) - 20;
        long long v = (long long)bytes(in, 8);
        char want[256];
        snprintf(want, sizeof want, "%*d|%.*s|%llx|%+lld|%#o", width, prec, prec, text, (unsigned long long)v, v,
                 (unsigned)prec);
        char *got = hk_arena_printf(am->arena, "%*d|%.*s|%llx|%+lld|%#o", width, prec, prec, text,
                                    (unsigned long long)v, v, (unsigned)prec);
        if (got == NULL || strcmp(got, want) != 0)
            fail("hk_arena_printf gave \"%s\", snprintf \"%s\"", got ? got : "(NULL)", want);
        break;
    }
    case 5:
        arena_check(i, 0, "before hk_arena_reset");
        hk_arena_reset(am->arena);
        arena_forget(i, 0);
        am->mark_ok = false;
        break;
    case 6:
        am->mark = hk_arena_mark(am->arena);
        am->mark_count = am->count;
        am->mark_ok = true;
        break;
    case 7:
        if (!am->mark_ok || am->mark_count > am->count)
            return;
        hk_arena_rewind(am->arena, am->mark);
        arena_forget(i, am->mark_count);
        arena_check(i, 0, "after hk_arena_rewind (what came before the mark must stay)");
        break;
    case 8: {
        hk_arena_stats_t st;
        hk_arena_stats(am->arena, &st);
        if (st.used + st.large_bytes < am->bytes) /* chunks' bytes used, with padding, and large blocks */
            fail("arena %d: stats say %zu bytes used (%zu large), the model holds %zu", i, st.used,
                 st.large_bytes, am->bytes);
        break;
    }
    default:
        arena_drop(i);
        break;
    }
}

static void run(struct input *in)
{
    while (in->n > 0) {
        op_index++;
        uint8_t op = byte(in);
        int s = byte(in) % SLOTS;
        /* Pools and arenas take the top 32 opcodes, which no seed of the older format used, so
         * those seeds still mean what they meant. */
        if (op >= 0xe0) {
            if (op < 0xf0)
                op_pool(in, s);
            else
                op_arena(in, s);
            continue;
        }
        switch (op % 12) {
        case 0:
        case 1: op_malloc(in, s); break;
        case 2: op_calloc(in, s); break;
        case 3: op_realloc(in, s, false); break;
        case 4: op_realloc(in, s, true); break;
        case 5: release(s, false); break;
        case 6: release(s, true); break;
        case 7: op_aligned(in, s); break;
        case 8: op_usable(s); break;
        case 9: op_fail(in, s); break;
        case 10: op_burst(in); break;
        default:
            if (op & 0x80) {
                hk_trim();
                check_all("after hk_trim");
            } else {
                op_stats();
            }
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size };
    op_index = 0;
    run(&in);
    for (int s = 0; s < SLOTS; s++)
        release(s, false);
    for (int i = 0; i < POOLS; i++)
        pool_drop(i);
    for (int i = 0; i < ARENAS; i++)
        arena_drop(i);
    stale_handle = NULL;
    hk_free(NULL);
    if (live_bytes != 0)
        fail("model leak: %zu live bytes after freeing everything", live_bytes);
    return 0;
}
