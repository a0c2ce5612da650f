/* fragmentation.c — the statistics report's fragmentation figures, per size class, in the three
 * kinds a person can act on: internal (bytes lost to rounding a request up to its class: needs the
 * size each block was asked for, so only when blocks are tracked, HEAPKIT_LEAKS=1 or
 * HEAPKIT_PROFILE=exact), external (free blocks, carved or not, in pages that still hold live
 * ones: memory neither the program nor another class can use) and retained (pages in use with no
 * live block, kept for reuse; and, for the whole heap, free pages waiting for the purge delay and
 * cached huge blocks). A stats_text/stats_json part of the report (subsystem), read under the
 * segment lock like the core's own figures: a snapshot that may be a few blocks off. */
#include "track.h"

typedef struct hk_frag_class_s {
    size_t pages, internal, external, retained, tracked; /* tracked: live blocks whose size is known */
} hk_frag_class_t;

typedef struct hk_frag_s {
    hk_frag_class_t classes[HK_BIN_COUNT];
    size_t free_pending, huge_cached;
    bool tracked; /* blocks carry their asked sizes: internal fragmentation is known */
} hk_frag_t;

/* Reads a block another thread may be writing: a snapshot, like the rest of the figures. */
__attribute__((no_sanitize("address", "thread"))) static bool hk_frag_looks_free(const hk_segment_t *seg,
                                                                                 const hk_page_t *page, uint32_t i) {
    return hk_block_looks_free((const hk_block_t *)(const void *)(page->start + (size_t)i * page->block_size), seg);
}

static void hk_frag_page(hk_frag_t *f, hk_segment_t *seg, hk_page_t *page) {
    size_t area;
    hk_page_area(page, &area);
    if (!page->in_use) {
        if (!page->is_purged && page->mem_dirty) f->free_pending += area;
        return;
    }
    hk_frag_class_t *c = &f->classes[page->bin];
    c->pages++;
    if (page->used == 0) c->retained += area;
    else c->external += (size_t)(page->reserved - page->used) * page->block_size;
    if (seg->track == NULL) return;
    for (uint32_t i = 0; i < page->capacity; i++) {
        const hk_track_rec_t *rec = hk_track_record(seg, page, i);
        if (rec->stack == HK_STACK_NONE) continue;
        /* Leak tracking alone leaves a freed block's record as it was (leak_free.c): the block's
         * link word tells it free, as the core's own checks tell it (the other threads run, so
         * their lists cannot be walked here). */
        if (hk_state.frees_plain && hk_frag_looks_free(seg, page, i)) continue;
        size_t used = (size_t)rec->size + ((size_t)rec->offset << HK_BLOCK_ALIGN_SHIFT);
        c->internal += used < page->block_size ? page->block_size - used : 0;
        c->tracked++;
    }
}

static void hk_frag_collect(hk_frag_t *f) {
    memset(f, 0, sizeof *f);
    f->tracked = hk_state.hooks.segment_mapped != NULL; /* the tracker keeps a record per block */
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        if (seg->kind == HK_SEGMENT_HUGE) continue;
        for (uint32_t i = 0; i < seg->page_count; i++) hk_frag_page(f, seg, &seg->pages[i]);
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
    f->huge_cached = hk_huge_cached();
}

static void hk_frag_text(hk_buf_t *b) {
    hk_frag_t f;
    hk_frag_collect(&f);
    hk_buf_printf(b, "  fragmentation by class: internal (rounding up to the class), external (free blocks in pages\n"
                     "  that hold live ones), retained (pages with no live block kept for reuse)%s\n",
                  f.tracked ? "" : "; internal needs tracked blocks (HEAPKIT_LEAKS=1 or HEAPKIT_PROFILE=exact)");
    hk_buf_printf(b, "  %5s %10s %12s %12s %12s\n", "class", "block", "internal", "external", "retained");
    size_t internal = 0, external = 0, retained = 0;
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        const hk_frag_class_t *c = &f.classes[bin];
        if (c->pages == 0) continue;
        char in[HK_NUMBER_TEXT], ex[HK_NUMBER_TEXT], re[HK_NUMBER_TEXT];
        hk_buf_t ib = {in, sizeof in, 0}, eb = {ex, sizeof ex, 0}, rb = {re, sizeof re, 0};
        if (f.tracked) hk_buf_bytes(&ib, c->internal);
        else hk_buf_printf(&ib, "-");
        hk_buf_bytes(&eb, c->external);
        hk_buf_bytes(&rb, c->retained);
        hk_buf_printf(b, "  %5zu %10zu %12s %12s %12s\n", bin, hk_bin_size(bin), in, ex, re);
        internal += c->internal;
        external += c->external;
        retained += c->retained;
    }
    hk_buf_printf(b, "  %5s %10s ", "all", "");
    if (f.tracked) hk_buf_bytes(b, internal);
    else hk_buf_printf(b, "-");
    hk_buf_printf(b, " internal, ");
    hk_buf_bytes(b, external);
    hk_buf_printf(b, " external, ");
    hk_buf_bytes(b, retained + f.free_pending + f.huge_cached);
    hk_buf_printf(b, " retained (with ");
    hk_buf_bytes(b, f.free_pending);
    hk_buf_printf(b, " of free pages waiting to be purged and ");
    hk_buf_bytes(b, f.huge_cached);
    hk_buf_printf(b, " of cached huge blocks)\n");
}

static void hk_frag_json(hk_buf_t *b) {
    hk_frag_t f;
    hk_frag_collect(&f);
    hk_buf_printf(b, ",\"fragmentation_classes\":[");
    bool first = true;
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        const hk_frag_class_t *c = &f.classes[bin];
        if (c->pages == 0) continue;
        hk_buf_printf(b, "%s{\"class\":%zu,\"block_size\":%zu,\"internal\":", first ? "" : ",", bin, hk_bin_size(bin));
        if (f.tracked) hk_buf_printf(b, "%zu", c->internal);
        else hk_buf_printf(b, "null");
        hk_buf_printf(b, ",\"external\":%zu,\"retained\":%zu}", c->external, c->retained);
        first = false;
    }
    hk_buf_printf(b, "],\"retained_free_pages\":%zu,\"retained_huge_cached\":%zu", f.free_pending, f.huge_cached);
}

HK_SUBSYSTEM(fragmentation, HK_SUBSYSTEM_FRAGMENTATION, .stats_text = hk_frag_text, .stats_json = hk_frag_json);
