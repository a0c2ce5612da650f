/* unit_owned.c — the heap's table of its own segments (heap->owned), which free's fast path trusts
 * instead of the segment map: it names only segments that are mapped and owned by the heap, after
 * frees fill it, after hk_trim unmaps emptied segments, and after a thread's exit abandons them;
 * an empty slot never matches NULL's segment (free(NULL) on a thread that has no heap yet), and
 * slot 0 takes segments like any other (a segment at a 512 MiB boundary lands there). */
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>

enum { BLOCKS = 100000 };
static void *blocks[BLOCKS];

/* Every slot names nothing (HK_OWNED_NONE), or a mapped small/medium segment whose owner is heap. */
static void check_table(const hk_heap_t *heap, const char *when) {
    for (size_t i = 0; i < HK_OWNED_SLOTS; i++) {
        hk_segment_t *seg = heap->owned[i];
        CHECK(seg != NULL, "%s: slot %zu holds NULL, which free(NULL) would match", when, i);
        if (seg == NULL || seg == HK_OWNED_NONE) continue;
        CHECK(HK_OWNED_SLOT(seg) == i, "%s: segment %p in slot %zu", when, (void *)seg, i);
        CHECK(hk_segmap_get((uintptr_t)seg) == HK_MAP_SEGMENT, "%s: slot %zu names %p, not a mapped segment", when, i,
              (void *)seg);
        if (hk_segmap_get((uintptr_t)seg) == HK_MAP_SEGMENT)
            CHECK(hk_segment_owner(seg) == heap, "%s: slot %zu names %p, owned by another heap", when, i, (void *)seg);
    }
}

/* Blocks over several segments, all freed: each segment is noted by a free. */
static void burst(void) {
    for (size_t i = 0; i < BLOCKS; i++) blocks[i] = hk_malloc(64 + (i % 7) * 96);
    for (size_t i = 0; i < BLOCKS; i++) hk_free(blocks[i]);
}

static size_t noted(const hk_heap_t *heap) {
    size_t n = 0;
    for (size_t i = 0; i < HK_OWNED_SLOTS; i++) n += heap->owned[i] != HK_OWNED_NONE;
    return n;
}

static hk_heap_t *thread_heap;

static void *thread_main(void *arg) {
    (void)arg;
    hk_free(NULL); /* no heap yet: &hk_heap_empty, whose empty slots must not match NULL */
    CHECK(hk_heap_tls == &hk_heap_empty, "free(NULL) made a heap");
    burst();
    thread_heap = hk_heap_tls;
    blocks[0] = hk_malloc(48); /* a live block: its segment outlives the thread, abandoned */
    check_table(thread_heap, "in a thread");
    return NULL;
}

int main(void) {
    hk_process_init();
    check_table(&hk_heap_empty, "the empty heap");
    void *p = hk_malloc(64);
    hk_free(p);
    hk_heap_t *heap = hk_heap_tls;
    CHECK(heap->owned[HK_OWNED_SLOT(p)] == hk_ptr_segment(p), "a free did not note its segment %p",
          (void *)hk_ptr_segment(p));
    burst();
    CHECK(noted(heap) >= 2, "a burst over several segments noted %zu", noted(heap));
    check_table(heap, "after a burst");
    hk_trim(); /* unmaps the segments left empty: their slots must be empty first */
    check_table(heap, "after hk_trim");

    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    hk_trim(); /* expires the parked heap: its segments are abandoned */
    if (thread_heap != NULL && thread_heap != heap) check_table(thread_heap, "after the thread's heap expired");
    hk_free(blocks[0]); /* a block of an abandoned segment: not in this heap's table */
    check_table(heap, "after a free into an abandoned segment");
    return unit_done("unit_owned");
}
