/* pool_chunk.c — hk_pool's chunks and the sets that own them (pool.c has the caches and the API).
 * A set keeps its chunks on three lists by how many objects are free; a chunk moves between them
 * as objects come and go, and goes back to heapkit when it is empty beyond the set's reserve.
 * Objects freed by other threads wait on a chunk's remote list until its owner collects them. */
#include "pool.h"

#define HK_POOL_ADOPT_MAX 8 /* orphans one refill may take before it finds a free object */


/* The set that owns c: a thread's (whose flushes put its objects back directly), or the pool's. */
void hk_chunk_set_owner(hk_pool_chunk_t *c, hk_pool_set_t *set) {
    atomic_store_explicit(&c->owner, set, memory_order_release);
}

void hk_set_push(hk_pool_set_t *set, hk_pool_chunk_t *c, uint8_t list) {
    c->list = list;
    c->prev = NULL;
    c->next = set->lists[list];
    if (c->next != NULL) c->next->prev = c;
    set->lists[list] = c;
    if (list == HK_LIST_EMPTY) set->empty_count++;
}

void hk_set_remove(hk_pool_set_t *set, hk_pool_chunk_t *c) {
    if (c->prev != NULL) c->prev->next = c->next;
    else set->lists[c->list] = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    if (c->list == HK_LIST_EMPTY) set->empty_count--;
    c->next = c->prev = NULL;
}

void hk_set_taken_add(hk_pool_set_t *set, intptr_t n) {
    size_t t = atomic_load_explicit(&set->taken, memory_order_relaxed);
    atomic_store_explicit(&set->taken, t + (size_t)n, memory_order_relaxed); /* one writer: the owner */
}

/* Memory back to the allocator; the destructor runs on every object made in it. */
void hk_chunk_release(hk_pool_t *pool, hk_pool_chunk_t *c) {
    uint32_t carved = atomic_load_explicit(&c->carved, memory_order_relaxed);
    hk_unpoison(c, pool->chunk_size);
    if (pool->dtor != NULL)
        for (uint32_t i = 0; i < carved; i++) pool->dtor(hk_chunk_object(pool, c, i), pool->arg);
    c->tag = 0; /* a stale pointer into this memory no longer passes for an object */
    atomic_fetch_sub_explicit(&pool->chunks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&pool->bytes, pool->chunk_size, memory_order_relaxed);
    hk_free(c);
}

/* Put c on the list its state calls for; give it back if it is empty beyond the reserve. */
void hk_set_settle(hk_pool_t *pool, hk_pool_set_t *set, hk_pool_chunk_t *c, uint32_t reserve) {
    uint8_t list = HK_LIST_FULL;
    if (c->used == 0) list = HK_LIST_EMPTY;
    else if (c->free != hk_chunk_end(pool, c) || c->more != hk_chunk_end(pool, c) ||
             atomic_load_explicit(&c->carved, memory_order_relaxed) < c->capacity)
        list = HK_LIST_PARTIAL;
    if (list == HK_LIST_EMPTY && set->empty_count >= reserve) {
        hk_set_remove(set, c);
        hk_chunk_release(pool, c);
        return;
    }
    if (list != c->list) {
        hk_set_remove(set, c);
        hk_set_push(set, c, list);
    }
}

hk_pool_chunk_t *hk_chunk_new(hk_pool_t *pool, hk_pool_set_t *set) {
    hk_pool_chunk_t *c = hk_numa_aligned_alloc(pool->chunk_size, pool->chunk_size, pool->node);
    if (c == NULL) return NULL;
    memset(c, 0, sizeof *c);
    c->tag = pool->tag;
    c->capacity = pool->capacity;
    c->free = c->more = hk_chunk_end(pool, c);
    hk_chunk_set_owner(c, set);
    hk_poison((uint8_t *)c + pool->first - sizeof(uintptr_t), pool->chunk_size - pool->first + sizeof(uintptr_t));
    atomic_fetch_add_explicit(&pool->chunks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->bytes, pool->chunk_size, memory_order_relaxed);
    hk_set_push(set, c, HK_LIST_EMPTY);
    return c;
}

/* Objects of one of a chunk's free lists (from head, ending at end) into out, up to want in all;
 * the list's new head. Each object taken links to itself from now on ("free, in a cache"): the
 * inline paths' record promises that of every object in a cache (heapkit_pool_inline.h). */
static uintptr_t hk_chunk_take_list(hk_pool_t *pool, uintptr_t head, uintptr_t end, void **out, uint32_t *n, uint32_t want) {
    while (*n < want && head != end) {
        void *obj = (void *)(head ^ pool->key);
        uintptr_t *link = hk_pool_link_of(pool, obj);
        head = *link;
        *link = hk_pool_cached_mark(pool, obj);
        out[(*n)++] = obj;
    }
    return head;
}

/* Up to `want` free objects of c into out: from its free lists first, then (if `carve`) newly made ones. Each
 * keeps a link word that looks free (into its chunk) until it is handed out. */
uint32_t hk_chunk_take(hk_pool_t *pool, hk_pool_chunk_t *c, void **out, uint32_t want, bool carve) {
    uint32_t n = 0;
    uintptr_t end = hk_chunk_end(pool, c);
    c->free = hk_chunk_take_list(pool, c->free, end, out, &n, want);
    c->more = hk_chunk_take_list(pool, c->more, end, out, &n, want);
    uint32_t carved = atomic_load_explicit(&c->carved, memory_order_relaxed);
    while (carve && n < want && carved < c->capacity) {
        void *obj = hk_chunk_object(pool, c, carved++);
        hk_unpoison(hk_pool_link_of(pool, obj), sizeof(uintptr_t) + pool->size);
        if (pool->ctor != NULL) pool->ctor(obj, pool->arg);
        *hk_pool_link_of(pool, obj) = hk_pool_cached_mark(pool, obj);
        hk_pool_poison_free(pool, obj);
        out[n++] = obj;
    }
    atomic_store_explicit(&c->carved, carved, memory_order_relaxed);
    c->used += n;
    return n;
}

/* Objects other threads freed into c join its free lists. A remote list ends at the chunk like
 * the free lists do, so it becomes one as it is, unless both lists are in use (then it is walked
 * to its end and spliced). Only c's owner (or, for the pool's own chunks, the holder of the pool
 * lock) calls this. */
uint32_t hk_chunk_collect(hk_pool_t *pool, hk_pool_chunk_t *c) {
    uintptr_t word = hk_remote_take(&c->remote);
    if (word == 0) return 0;
    uintptr_t head = hk_remote_head(word), end = hk_chunk_end(pool, c);
    uint32_t n = hk_remote_count(word);
    if (c->free == end) {
        c->free = head ^ pool->key;
    } else if (c->more == end) {
        c->more = head ^ pool->key;
    } else {
        void *last = (void *)head;
        uint32_t steps = 1;
        for (uintptr_t w = *hk_pool_link_of(pool, last); w != end; w = *hk_pool_link_of(pool, last)) {
            last = (void *)(w ^ pool->key);
            if (++steps > n || ((uintptr_t)last & pool->chunk_mask) != (uintptr_t)c) {
                hk_misuse("hk_pool: pool '%s': the list of objects freed by other threads into chunk %p is corrupt "
                          "(a write before the start of an object?)%s",
                          pool->reg.name, (void *)c, hk_misuse_tail("; its objects are dropped"));
                return 0;
            }
        }
        *hk_pool_link_of(pool, last) = c->free;
        c->free = head ^ pool->key;
    }
    c->used -= n;
    return n;
}

void hk_set_collect_all(hk_pool_t *pool, hk_pool_set_t *set, uint32_t reserve) {
    size_t collected = 0;
    for (int l = 0; l < HK_LIST_COUNT; l++) {
        hk_pool_chunk_t *next;
        for (hk_pool_chunk_t *c = set->lists[l]; c != NULL; c = next) {
            next = c->next;
            uint32_t n = hk_chunk_collect(pool, c);
            if (n == 0) continue;
            collected += n;
            hk_set_settle(pool, set, c, reserve);
        }
    }
    hk_set_taken_add(set, -(intptr_t)collected);
}

/* Give back every empty chunk of the set beyond `reserve`. */
void hk_set_release_empty(hk_pool_t *pool, hk_pool_set_t *set, uint32_t reserve) {
    while (set->empty_count > reserve) {
        hk_pool_chunk_t *c = set->lists[HK_LIST_EMPTY];
        hk_set_remove(set, c);
        hk_chunk_release(pool, c);
    }
}

/* Called with the pool lock held after the orphans changed, so refills need not take it to look. */
void hk_pool_orphans_changed(hk_pool_t *pool) {
    const hk_pool_set_t *o = &pool->shared;
    bool any = o->lists[HK_LIST_PARTIAL] != NULL || o->lists[HK_LIST_EMPTY] != NULL || o->lists[HK_LIST_FULL] != NULL;
    atomic_store_explicit(&pool->has_orphans, any, memory_order_relaxed);
}

/* A free object back onto its chunk's list (the caller owns the chunk). */
void hk_set_put(hk_pool_t *pool, hk_pool_set_t *set, void *obj, uint32_t reserve) {
    hk_pool_chunk_t *c = (hk_pool_chunk_t *)((uintptr_t)obj & pool->chunk_mask);
    *hk_pool_link_of(pool, obj) = c->free;
    c->free = (uintptr_t)obj ^ pool->key;
    c->used--;
    if (c->used == 0 || c->list == HK_LIST_FULL) hk_set_settle(pool, set, c, reserve);
}

/* An orphan (with the pool lock held) becomes the cache's, with what was freed into it since. */
void hk_chunk_adopt(hk_pool_t *pool, hk_pool_cache_t *cache, hk_pool_chunk_t *c) {
    hk_set_remove(&pool->shared, c);
    hk_set_taken_add(&pool->shared, -(intptr_t)c->used);
    hk_chunk_set_owner(c, &cache->set);
    hk_chunk_collect(pool, c);
    hk_set_taken_add(&cache->set, (intptr_t)c->used);
    hk_set_push(&cache->set, c, HK_LIST_FULL);
    hk_set_settle(pool, &cache->set, c, UINT32_MAX);
}

/* Chunks that exited threads left: take some until one has a free object. */
hk_pool_chunk_t *hk_set_adopt(hk_pool_t *pool, hk_pool_cache_t *cache) {
    hk_pool_chunk_t *found = NULL;
    pthread_mutex_lock(&pool->lock);
    for (int taken = 0; taken < HK_POOL_ADOPT_MAX && found == NULL; taken++) {
        hk_pool_set_t *orphans = &pool->shared;
        hk_pool_chunk_t *c = orphans->lists[HK_LIST_PARTIAL];
        if (c == NULL) c = orphans->lists[HK_LIST_EMPTY];
        if (c == NULL) c = orphans->lists[HK_LIST_FULL];
        if (c == NULL) break;
        hk_chunk_adopt(pool, cache, c);
        if (c->list != HK_LIST_FULL) found = c;
    }
    hk_pool_orphans_changed(pool);
    pthread_mutex_unlock(&pool->lock);
    /* A thread that saw the chunk orphaned may still push to it: look again at the next refill. */
    atomic_store_explicit(&cache->remote_pending, 1, memory_order_relaxed);
    return found;
}
