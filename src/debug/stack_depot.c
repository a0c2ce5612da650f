/* stack_depot.c — every distinct allocation stack, stored once and named by a 32-bit id.
 * Stacks live in one big reserved region, appended and never moved or freed, so an id is just
 * the entry's offset (in 8-byte units) and a lookup needs no lock: buckets and entries are published with release
 * stores after they are complete. Only inserting a new stack takes the lock. */
#include "track.h"

/* 16,384 buckets (64 KiB): programs have a few thousand distinct allocation stacks, tens of
 * thousands at most, and a lookup happens only when a thread's stack cache misses (python3's
 * 10,000 stacks make chains of 0.6 on average). Stacks hash all over the table, so it is all
 * resident after a few dozen stacks: a million buckets (4 MiB) ended up nearly all resident in
 * python3 (9,000 stacks), a tenth of what leak tracking added to its peak RSS; 65,536 (256 KiB)
 * were as resident in a short git run. */
#define HK_DEPOT_BUCKETS ((size_t)1 << 14)
/* Address space only, pages touched as stacks arrive: 1 GiB holds 8 million stacks of 16 frames,
 * more than any program has; under a tight ulimit -v it gets less (hk_meta_map_most), at least
 * the smallest region the core maps. */
#define HK_DEPOT_BYTES ((size_t)1 << 30)
#define HK_DEPOT_BYTES_LEAST ((size_t)HK_SEGMENT_SIZE)
/* MurmurHash3's 64-bit finalizer multiplier: it mixes each frame into the hash. */
#define HK_MURMUR_MUL 0xff51afd7ed558ccdull

/* The entries (hk_stack_entry_t, track.h); id = offset / HK_DEPOT_ID_UNIT; HK_STACK_NONE and
 * _UNKNOWN are never entries. */
uint8_t *hk_stack_depot_base;

static struct {
    pthread_mutex_t lock;
    _Atomic uint32_t *buckets;
    size_t cap;     /* bytes reserved at hk_stack_depot_base */
    size_t used;    /* bytes of it handed out, the first units left unused */
    bool failed;    /* could not reserve the region: every stack is HK_STACK_UNKNOWN */
} hk_depot = {.lock = PTHREAD_MUTEX_INITIALIZER, .used = (size_t)(HK_STACK_UNKNOWN + 1) * HK_DEPOT_ID_UNIT};

static uint32_t hk_stack_hash(const uintptr_t *frames, size_t depth) {
    uint64_t h = HK_GOLDEN_RATIO_64 ^ depth;
    for (size_t i = 0; i < depth; i++) {
        h ^= frames[i];
        h *= HK_MURMUR_MUL;
        h ^= h >> 32;
    }
    return (uint32_t)h;
}

static hk_stack_entry_t *hk_stack_entry(uint32_t id) {
    return (hk_stack_entry_t *)(hk_stack_depot_base + (size_t)id * HK_DEPOT_ID_UNIT);
}

static bool hk_depot_reserve(void) {
    if (hk_stack_depot_base != NULL || hk_depot.failed) return !hk_depot.failed;
    hk_depot.buckets = hk_meta_map(HK_DEPOT_BUCKETS * sizeof(uint32_t));
    uint8_t *base = hk_meta_map_most(HK_DEPOT_BYTES, HK_DEPOT_BYTES_LEAST, &hk_depot.cap);
    /* base only with the buckets: a lookup reads the buckets whenever base is set */
    /* released: a thread that sees base (read without the lock, below) sees the buckets too */
    if (hk_depot.buckets != NULL && base != NULL) __atomic_store_n(&hk_stack_depot_base, base, __ATOMIC_RELEASE);
    else {
        hk_message("cannot reserve memory for allocation stacks: leak reports will show no stacks");
        hk_depot.failed = true;
    }
    return !hk_depot.failed;
}

static uint32_t hk_depot_find(uint32_t head, uint32_t hash, const uintptr_t *frames, size_t depth) {
    for (uint32_t id = head; id != 0;) {
        hk_stack_entry_t *e = hk_stack_entry(id);
        if (e->hash == hash && e->depth == depth && memcmp(e->frames, frames, depth * sizeof *frames) == 0) return id;
        id = atomic_load_explicit(&e->next, memory_order_acquire);
    }
    return 0;
}

/* The id of this stack, added if new; HK_STACK_UNKNOWN if it could not be kept, never HK_STACK_NONE. */
uint32_t hk_stack_depot_put(const uintptr_t *frames, size_t depth) {
    uint32_t hash = hk_stack_hash(frames, depth);
    if (hk_likely(__atomic_load_n(&hk_stack_depot_base, __ATOMIC_ACQUIRE) != NULL)) {
        uint32_t head = atomic_load_explicit(&hk_depot.buckets[hash & (HK_DEPOT_BUCKETS - 1)], memory_order_acquire);
        uint32_t id = hk_depot_find(head, hash, frames, depth);
        if (id != 0) return id;
    }
    pthread_mutex_lock(&hk_depot.lock);
    uint32_t id = HK_STACK_UNKNOWN;
    if (hk_depot_reserve()) {
        _Atomic uint32_t *bucket = &hk_depot.buckets[hash & (HK_DEPOT_BUCKETS - 1)];
        uint32_t head = atomic_load_explicit(bucket, memory_order_relaxed);
        id = hk_depot_find(head, hash, frames, depth);
        size_t bytes = sizeof(hk_stack_entry_t) + depth * sizeof *frames;
        if (id == 0 && hk_depot.used + bytes <= hk_depot.cap) {
            id = (uint32_t)(hk_depot.used / HK_DEPOT_ID_UNIT);
            hk_stack_entry_t *e = hk_stack_entry(id);
            e->hash = hash;
            e->depth = (uint32_t)depth;
            memcpy(e->frames, frames, depth * sizeof *frames);
            atomic_store_explicit(&e->next, head, memory_order_relaxed);
            hk_depot.used += bytes;
            atomic_store_explicit(bucket, id, memory_order_release);
        } else if (id == 0) {
            id = HK_STACK_UNKNOWN; /* full: the whole region holds distinct stacks */
        }
    }
    pthread_mutex_unlock(&hk_depot.lock);
    return id;
}

/* The frames of stack `id`, innermost first; NULL with depth 0 for the unknown stack. */
const uintptr_t *hk_stack_get(uint32_t id, size_t *depth) {
    if (id <= HK_STACK_UNKNOWN || hk_stack_depot_base == NULL) {
        *depth = 0;
        return NULL;
    }
    hk_stack_entry_t *e = hk_stack_entry(id);
    *depth = e->depth;
    return e->frames;
}

HK_LOCK(stack_depot, HK_LOCK_STACK_DEPOT, &hk_depot.lock);
