/* numa_api.c — explicit NUMA placement: hk_malloc_node, where a block's pages are (hk_node_of),
 * moving them (hk_migrate), the machine's nodes and the thread's. A block asked for on another
 * node than the calling thread's comes from that node's heap: a heap record like a thread's, whose
 * segments are all placed on the node, used under a lock by whoever asks (there is no thread
 * behind it). Every free of its blocks is a remote free, collected when the node heap next
 * allocates; so memory freed there is reused on that node. */
#include "hooks.h"

typedef struct hk_node_heap_s {
    bool ready;
    hk_heap_t heap;
} hk_node_heap_t;

/* The records (about 2 KiB each) are in one metadata mapping made on the first hk_malloc_node for
 * another node, not in the library's data: a process under `ulimit -v` that never asks pays no
 * address space for them. The locks are here, for the fork table. */
static _Atomic(hk_node_heap_t *) hk_node_heaps;
static pthread_mutex_t hk_node_heap_locks[HK_NUMA_MAX_NODES] = {[0 ... HK_NUMA_MAX_NODES - 1] = PTHREAD_MUTEX_INITIALIZER};

hk_rare_path static hk_node_heap_t *hk_node_heaps_get(void) {
    hk_node_heap_t *all = atomic_load_explicit(&hk_node_heaps, memory_order_acquire);
    if (all != NULL) return all;
    size_t bytes = HK_NUMA_MAX_NODES * sizeof(hk_node_heap_t);
    hk_node_heap_t *made = hk_meta_map(bytes); /* zero: no record ready */
    if (made == NULL) return NULL;
    if (!atomic_compare_exchange_strong_explicit(&hk_node_heaps, &all, made, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        hk_meta_unmap(made, bytes); /* another thread made them first */
        return all;
    }
    return made;
}

/* A block of size (at most HK_MEDIUM_MAX) from the node heap, which the caller holds locked. */
hk_rare_path static void *hk_node_heap_pop(hk_heap_t *heap, size_t size) {
    hk_heap_maybe_collect(heap);
    size_t bin = hk_bin_of(size);
    hk_page_t *page = heap->bins[bin].first;
    if (page == NULL || page->free == NULL || page->block_size < size) page = hk_heap_find_page(heap, bin, size);
    if (page == NULL) return NULL;
    return hk_page_pop(page);
}

/* A block from node's heap: size bytes, its start aligned to align (a power of two, at most half
 * of HK_MEDIUM_MAX; 0 or HK_BLOCK_ALIGN for none), size + align within HK_MEDIUM_MAX. */
hk_rare_path static void *hk_node_heap_alloc(size_t size, size_t align, int node) {
    hk_node_heap_t *all = hk_node_heaps_get();
    if (all == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    hk_node_heap_t *nh = &all[node];
    size_t over = align > HK_BLOCK_ALIGN ? size + align - 1 : size;
    pthread_mutex_lock(&hk_node_heap_locks[node]);
    if (!nh->ready) {
        memset(&nh->heap, 0, sizeof nh->heap);
        hk_heap_owned_init(&nh->heap);
        nh->heap.numa_node = node;
        nh->heap.numa_fixed = true;
        nh->ready = true;
    }
    uint8_t *p = hk_node_heap_pop(&nh->heap, over);
    pthread_mutex_unlock(&hk_node_heap_locks[node]);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    uint8_t *q = align > HK_BLOCK_ALIGN ? (uint8_t *)hk_align_up((uintptr_t)p, align) : p;
    if (q != p) { /* frees find the block start from the page (as alloc.c's aligned path) */
        hk_page_t *page = hk_segment_page_of(hk_ptr_segment(p), p);
        hk_page_set_flags(page, hk_page_flags(page) | HK_PAGE_HAS_ALIGNED);
    }
    hk_hook_alloc(q, size);
    return q;
}

/* Does the calling thread's own heap draw from node? Then its fast path serves the block. */
hk_rare_path static bool hk_node_is_home(int node) {
    hk_heap_t *heap = hk_heap_tls;
    if (heap == &hk_heap_empty) heap = hk_heap_thread_init();
    return heap != NULL && heap->numa_node == node;
}

/* The pools' and arenas' way in (HK_ON_NODE): an aligned block on node, or on the calling
 * thread's terms when node is HK_NUMA_ANY. */
hk_internal void *hk_numa_aligned_alloc(size_t align, size_t size, int node) {
    if (node == HK_NUMA_ANY || !hk_numa.placeable)
        return align > HK_BLOCK_ALIGN ? hk_aligned_alloc(align, size) : hk_malloc(size);
    bool paged = align <= HK_MEDIUM_MAX / 2 && size <= HK_MEDIUM_MAX - (align > HK_BLOCK_ALIGN ? align : 0);
    if (paged && hk_node_is_home(node)) return align > HK_BLOCK_ALIGN ? hk_aligned_alloc(align, size) : hk_malloc(size);
    if (paged) return hk_node_heap_alloc(size, align, node);
    /* A huge block names its node itself: not the one the thread happens to run on now. */
    void *p = hk_huge_alloc_node(size, align, false, node);
    if (p != NULL) hk_hook_alloc(p, size);
    return p;
}

hk_rare_path HK_API void *hk_malloc_node(size_t size, int node) {
    hk_process_init();
    if (!hk_numa_node_valid(node)) {
        errno = EINVAL;
        return NULL;
    }
    return hk_numa_aligned_alloc(0, size, node);
}

hk_rare_path HK_API int hk_numa_nodes(void) {
    hk_process_init();
    return hk_numa.topo.node_count;
}

hk_rare_path HK_API int hk_numa_node(void) {
    hk_process_init();
    return hk_numa_current_node();
}

hk_rare_path HK_API int hk_node_of(const void *p) {
    if (p == NULL) return -1;
    hk_process_init();
    if (!hk_numa.fake) return hk_numa_page_node(p);
    /* Simulated nodes: the node the block's segment was placed on. */
    hk_segment_t *seg = NULL;
    if (hk_segmap_get((uintptr_t)p) == HK_MAP_SEGMENT) seg = hk_ptr_segment(p);
    else seg = hk_huge_segment_of((uintptr_t)p);
    return seg != NULL && seg->node != HK_NUMA_ANY ? seg->node : -1;
}

hk_rare_path HK_API long hk_migrate(void *p, size_t size, int node) {
    hk_process_init();
    if (p == NULL || size == 0) {
        errno = EINVAL;
        return -1;
    }
    long moved = hk_numa_move(p, size, node);
    /* A whole huge block moves with its mapping's policy and its node: once freed, its cached
     * extent is then reused on the node its pages are on. */
    hk_segment_t *seg = hk_huge_segment_of((uintptr_t)p);
    if (moved >= 0 && seg != NULL && (uint8_t *)p == (uint8_t *)seg + seg->block_offset && size >= seg->block_size) {
        hk_numa_place(seg, seg->size, node, true);
        seg->node = (int16_t)node;
    }
    return moved;
}

/* ---------------------------------------------------------------------- fork */

static void hk_node_heaps_lock_all(void) {
    for (int n = 0; n < HK_NUMA_MAX_NODES; n++) pthread_mutex_lock(&hk_node_heap_locks[n]);
}

static void hk_node_heaps_unlock_all(void) {
    for (int n = HK_NUMA_MAX_NODES - 1; n >= 0; n--) pthread_mutex_unlock(&hk_node_heap_locks[n]);
}

HK_LOCK_SET(node_heaps, HK_LOCK_NODE_HEAPS, hk_node_heaps_lock_all, hk_node_heaps_unlock_all);
