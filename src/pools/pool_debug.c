/* pool_debug.c — hk_pool's answers to bad input, and its tracked mode (HEAPKIT_LEAKS=1).
 * A free is checked before anything is written: the pointer must be heapkit memory, its chunk
 * must carry this pool's tag, and it must be the start of an object already made. Each misuse
 * gets one line naming the pool and the address (another pool's object names that pool too).
 * Tracked mode: each object is a heapkit block of its own, labelled with the pool's name, with a
 * trailer word holding the pool's tag; the tracker's record says exactly whether it is live, so
 * the leak check can report an object never returned, with its allocation stack, by pool name. */
#include "pool.h"

#define HK_POOL_CHUNK_MIN_SHIFT 16
#define HK_POOL_CHUNK_MAX_SHIFT 22

/* The name of the pool whose tag is `tag`, if such a pool is alive. */
static bool hk_pool_name_of_tag(uintptr_t tag, char *name, size_t cap) {
    if (tag == 0) return false;
    uintptr_t pool = tag ^ hk_key ^ HK_POOL_MAGIC;
    const hk_reg_node_t *node = (const hk_reg_node_t *)(pool + offsetof(hk_pool_t, reg)); /* compared, not read */
    return hk_registry_name_of(node, HK_REG_POOL, name, cap);
}

/* p is not in a chunk of this pool: is it an object of another live pool? Chunk sizes differ by
 * pool, so try each size; every candidate header lies in p's 4 MiB granule, which is mapped. */
hk_no_asan static bool hk_pool_owner_name(const void *p, char *name, size_t cap) {
    for (unsigned shift = HK_POOL_CHUNK_MIN_SHIFT; shift <= HK_POOL_CHUNK_MAX_SHIFT; shift++) {
        const hk_pool_chunk_t *c = (const hk_pool_chunk_t *)((uintptr_t)p & ~(((uintptr_t)1 << shift) - 1));
        if (hk_pool_name_of_tag(c->tag, name, cap)) return true;
    }
    return false;
}

static bool hk_is_heapkit_memory(const void *p) {
    uint8_t where = hk_segmap_get((uintptr_t)p);
    return (uint8_t)(where - HK_MAP_SEGMENT) <= HK_MAP_HUGE_TAIL - HK_MAP_SEGMENT;
}

static void hk_pool_report_foreign(const hk_pool_t *pool, const void *p, bool heapkit) {
    char other[HK_NAME_LEN];
    if (heapkit && hk_pool_owner_name(p, other, sizeof other))
        hk_misuse("hk_pool_free(pool '%s', %p): object of pool '%s', not of this one%s", pool->reg.name, p, other, hk_misuse_tail("; ignored"));
    else if (heapkit)
        hk_misuse("hk_pool_free(pool '%s', %p): pointer not allocated by this pool%s", pool->reg.name, p, hk_misuse_tail("; ignored"));
    else
        hk_misuse("hk_pool_free(pool '%s', %p): pointer not allocated by heapkit, so by no pool%s",
                 pool->reg.name, p, hk_misuse_tail("; ignored"));
}

void hk_pool_report_double_free(const hk_pool_t *pool, const void *p) {
    hk_misuse("hk_pool_free(pool '%s', %p): double free (the object is already free)%s", pool->reg.name, p, hk_misuse_tail("; ignored"));
}

void hk_pool_report_smashed(const hk_pool_t *pool, const void *p) {
    hk_misuse("hk_pool_free(pool '%s', %p): the word after the %zu-byte object was overwritten (a write past its "
             "end?)%s",
             pool->reg.name, p, pool->size, hk_misuse_tail("; freed anyway"));
}

hk_no_asan bool hk_pool_check_free(hk_pool_t *pool, void *p, hk_pool_chunk_t **chunk_out, hk_obj_state_t *state) {
    if (!hk_is_heapkit_memory(p)) {
        hk_pool_report_foreign(pool, p, false);
        return false;
    }
    hk_pool_chunk_t *c = (hk_pool_chunk_t *)((uintptr_t)p & pool->chunk_mask);
    if (c->tag != pool->tag) {
        hk_pool_report_foreign(pool, p, true);
        return false;
    }
    uint64_t offset = (uintptr_t)p - (uintptr_t)c - pool->first;
    uint64_t index = (uint64_t)(((unsigned __int128)offset * pool->inverse) >> 64); /* offset / stride */
    if (offset >= (uint64_t)pool->span || index >= atomic_load_explicit(&c->carved, memory_order_relaxed)) {
        hk_misuse("hk_pool_free(pool '%s', %p): no object was handed out at this address%s", pool->reg.name, p, hk_misuse_tail("; ignored"));
        return false;
    }
    if (index * pool->stride != offset) {
        hk_misuse("hk_pool_free(pool '%s', %p): pointer into the middle of a %zu-byte object%s", pool->reg.name,
                 p, pool->size, hk_misuse_tail("; ignored"));
        return false;
    }
    uintptr_t link = *hk_pool_link_of(pool, p);
    *state = link == hk_pool_live_mark(pool, p)    ? HK_OBJ_LIVE
             : hk_pool_looks_free(pool, c, link) ? HK_OBJ_FREE
                                                 : HK_OBJ_SMASHED;
    *chunk_out = c;
    return true;
}

/* ------------------------------------------------------------------ tracked mode */

static size_t hk_tracked_trailer(const hk_pool_t *pool) { return hk_align_up(pool->size, sizeof(uintptr_t)); }

void *hk_pool_tracked_alloc(hk_pool_t *pool) {
    size_t trailer = hk_tracked_trailer(pool), bytes = trailer + sizeof(uintptr_t);
    uint8_t *p = pool->align > 16 ? hk_aligned_alloc(pool->align, bytes) : hk_malloc(bytes);
    if (p == NULL) return NULL;
    hk_track_set_label(p, pool->label);
    hk_check_set_label(p, pool->label); /* heap errors in it name the pool */
    *(uintptr_t *)(p + trailer) = pool->tag;
    if (pool->ctor != NULL) pool->ctor(p, pool->arg);
    atomic_fetch_add_explicit(&pool->tracked_live, 1, memory_order_relaxed);
    return p;
}

void hk_pool_tracked_free(hk_pool_t *pool, void *p) {
    hk_block_state_t state = hk_tracking() ? hk_track_block_state(p) : hk_check_block_state(p);
    size_t trailer = hk_tracked_trailer(pool);
    if (state == HK_BLOCK_FREE) {
        hk_pool_report_double_free(pool, p);
        return;
    }
    if (state == HK_BLOCK_INTERIOR) {
        hk_misuse("hk_pool_free(pool '%s', %p): pointer into the middle of an object%s", pool->reg.name, p, hk_misuse_tail("; ignored"));
        return;
    }
    if (state == HK_BLOCK_FOREIGN || hk_usable_size(p) < trailer + sizeof(uintptr_t)) {
        hk_pool_report_foreign(pool, p, state != HK_BLOCK_FOREIGN || hk_is_heapkit_memory(p));
        return;
    }
    uintptr_t *tag = (uintptr_t *)((uint8_t *)p + trailer);
    if (*tag != pool->tag) {
        char other[HK_NAME_LEN];
        if (hk_pool_name_of_tag(*tag, other, sizeof other))
            hk_misuse("hk_pool_free(pool '%s', %p): object of pool '%s', not of this one%s", pool->reg.name, p,
                     other, hk_misuse_tail("; ignored"));
        else
            hk_misuse("hk_pool_free(pool '%s', %p): pointer not allocated by this pool%s", pool->reg.name, p, hk_misuse_tail("; ignored"));
        return;
    }
    if (pool->dtor != NULL) pool->dtor(p, pool->arg);
    memset(p, HK_FREED_BYTE, pool->size); /* a use after free reads 0xdd, not the old object */
    *tag = 0;
    atomic_fetch_sub_explicit(&pool->tracked_live, 1, memory_order_relaxed);
    hk_free(p);
}
