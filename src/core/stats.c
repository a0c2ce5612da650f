/* stats.c — what the heap holds, for people (text) and programs (JSON).
 * Totals come from the os counters; per size class figures from walking every segment's page
 * records under the segments lock. Reads of other threads' pages race benignly: a snapshot. */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

/* The whole report, text or JSON: the totals, 48 size-class lines, and up to 33 lines each of
 * pools and arenas (pools/registry.c), with room to spare. */
#define HK_STATS_TEXT_BYTES ((size_t)16 * 1024)
#define HK_STATS_JSON_BYTES ((size_t)32 * 1024)

typedef struct hk_class_stats_s {
    size_t pages, live_blocks, page_bytes;
} hk_class_stats_t;

typedef struct hk_snapshot_s {
    hk_stats_t totals;
    hk_class_stats_t classes[HK_BIN_COUNT];
    size_t free_purged; /* free pages given back to the kernel, still in their segment's reservation */
    /* Pages in use whose frees all take the generic path (HK_PAGE_OBSERVED: a hook or the hardened
     * mode), so a program or test can tell whether its frees are observed (leak tracking alone
     * leaves them plain: none). */
    size_t observed_pages;
} hk_snapshot_t;

hk_rare_path static void hk_snapshot(hk_snapshot_t *s) {
    memset(s, 0, sizeof *s);
    hk_stats_t *t = &s->totals;
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        t->resident += hk_os_resident(seg, seg->size);
        if (seg->kind == HK_SEGMENT_HUGE) continue;
        t->segments++;
        if (hk_thp_advised(seg)) t->thp_segments++;
        for (uint32_t i = 0; i < seg->page_count; i++) {
            hk_page_t *page = &seg->pages[i];
            size_t area;
            hk_page_area(page, &area);
            if (!page->in_use) {
                if (!page->is_purged && page->mem_dirty) t->free_pending += area;
                if (page->is_purged) s->free_purged += area;
                continue;
            }
            t->free_in_pages += (size_t)(page->capacity - page->used) * page->block_size;
            if (hk_page_flags(page) & HK_PAGE_OBSERVED) s->observed_pages++;
            hk_class_stats_t *c = &s->classes[page->bin];
            c->pages++;
            c->live_blocks += page->used;
            c->page_bytes += area;
            t->live += (size_t)page->used * page->block_size;
        }
    }
    t->abandoned = atomic_load_explicit(&hk_state.abandoned_count, memory_order_relaxed);
    pthread_mutex_unlock(&hk_state.segments_lock);
    pthread_mutex_lock(&hk_state.heaps_lock);
    t->threads = hk_state.heap_count;
    t->metadata = atomic_load_explicit(&hk_state.meta_reserved, memory_order_relaxed);
    t->heap_errors = atomic_load_explicit(&hk_state.heap_errors, memory_order_relaxed);
    pthread_mutex_unlock(&hk_state.heaps_lock);
    t->huge_live = atomic_load_explicit(&hk_state.huge_live, memory_order_relaxed);
    t->huge_cached = hk_huge_cached();
    t->live += t->huge_live;
    t->reserved = atomic_load_explicit(&hk_state.reserved, memory_order_relaxed);
    t->committed = atomic_load_explicit(&hk_state.committed, memory_order_relaxed);
    t->committed_peak = atomic_load_explicit(&hk_state.committed_peak, memory_order_relaxed);
    if (t->committed > t->reserved) t->committed = t->reserved;
    if (t->resident > t->committed) t->resident = t->committed; /* the counters move while we walk */
}

hk_rare_path HK_API void hk_stats_get(hk_stats_t *out) {
    hk_snapshot_t s;
    hk_snapshot(&s);
    *out = s.totals;
}

/* resident / live, with two decimals, as "1.23" (Redis's mem_fragmentation_ratio, for the heap). */
hk_rare_path static void hk_buf_ratio(hk_buf_t *b, size_t num, size_t den) {
    if (den == 0) {
        hk_buf_printf(b, "0.00");
        return;
    }
    uint64_t r = (uint64_t)((double)num * 100.0 / (double)den + 0.5);
    hk_buf_printf(b, "%lu.%02lu", (unsigned long)(r / 100), (unsigned long)(r % 100));
}

hk_rare_path static void hk_stats_text(hk_buf_t *b, const hk_snapshot_t *s) {
    const hk_stats_t *t = &s->totals;
    hk_buf_printf(b, "heapkit: memory statistics of pid %d\n", (int)getpid());
    const struct {
        const char *name;
        size_t value;
        const char *meaning;
    } rows[] = {
        {"reserved", t->reserved, "address space mapped from the OS"},
        {"committed", t->committed, "mapped and not given back"},
        {"peak committed", t->committed_peak, "the most committed at any time"},
        {"resident", t->resident, "in RAM now"},
        {"live", t->live, "in blocks handed out and not freed"},
        {"huge live", t->huge_live, "of which in blocks over 128 KiB"},
        {"free in pages", t->free_in_pages, "free blocks in pages in use, reused first"},
        {"free pending", t->free_pending, "free pages waiting for the purge delay"},
        {"huge cached", t->huge_cached, "freed huge blocks kept for reuse"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char num[HK_NUMBER_TEXT];
        hk_buf_t nb = {num, sizeof num, 0};
        hk_buf_bytes(&nb, rows[i].value);
        hk_buf_printf(b, "  %-14s %12s   %s\n", rows[i].name, num, rows[i].meaning);
    }
    char ratio[HK_NUMBER_TEXT];
    hk_buf_t rb = {ratio, sizeof ratio, 0};
    hk_buf_ratio(&rb, t->resident, t->live);
    hk_buf_printf(b, "  %-14s %12s   %s\n", "fragmentation", ratio, "resident / live");
    hk_buf_printf(b, "  segments %zu (huge pages advised %zu), abandoned %zu, thread heaps %zu, metadata ",
                  t->segments, t->thp_segments, t->abandoned, t->threads);
    hk_buf_bytes(b, t->metadata);
    hk_buf_printf(b, " reserved\n");
    hk_buf_printf(b, "  %5s %10s %7s %12s %12s %12s %6s\n", "class", "block", "pages", "live blocks", "live bytes",
                  "page bytes", "use");
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        const hk_class_stats_t *c = &s->classes[bin];
        if (c->pages == 0) continue;
        size_t bsize = hk_bin_size(bin), live = c->live_blocks * bsize;
        char lb[HK_NUMBER_TEXT], pb[HK_NUMBER_TEXT], use[HK_NUMBER_TEXT];
        hk_buf_t lbb = {lb, sizeof lb, 0}, pbb = {pb, sizeof pb, 0}, ub = {use, sizeof use, 0};
        hk_buf_bytes(&lbb, live);
        hk_buf_bytes(&pbb, c->page_bytes);
        hk_buf_ratio(&ub, live * 100, c->page_bytes);
        hk_buf_printf(b, "  %5zu %10zu %7zu %12zu %12s %12s %5s%%\n", bin, bsize, c->pages, c->live_blocks, lb, pb,
                      use);
    }
    hk_subsystems_stats(b, false); /* pools and arenas, by name */
}

hk_rare_path static void hk_stats_json_into(hk_buf_t *b, const hk_snapshot_t *s) {
    const hk_stats_t *t = &s->totals;
    hk_buf_printf(b,
                  "{\"pid\":%d,\"reserved\":%zu,\"committed\":%zu,\"committed_peak\":%zu,\"resident\":%zu,\"live\":%zu,"
                  "\"huge_live\":%zu,\"free_in_pages\":%zu,\"free_pending\":%zu,\"huge_cached\":%zu,\"fragmentation\":",
                  (int)getpid(), t->reserved, t->committed, t->committed_peak, t->resident, t->live, t->huge_live,
                  t->free_in_pages, t->free_pending, t->huge_cached);
    hk_buf_ratio(b, t->resident, t->live);
    hk_buf_printf(b, ",\"free_purged\":%zu,\"observed_pages\":%zu,\"segments\":%zu,\"thp_segments\":%zu,\"abandoned\":%zu,\"threads\":%zu,"
                  "\"metadata\":%zu,\"classes\":[",
                  s->free_purged, s->observed_pages, t->segments, t->thp_segments, t->abandoned, t->threads, t->metadata);
    bool first = true;
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) {
        const hk_class_stats_t *c = &s->classes[bin];
        if (c->pages == 0) continue;
        size_t bsize = hk_bin_size(bin);
        hk_buf_printf(b, "%s{\"class\":%zu,\"block_size\":%zu,\"pages\":%zu,\"live_blocks\":%zu,\"live_bytes\":%zu,"
                         "\"page_bytes\":%zu}",
                      first ? "" : ",", bin, bsize, c->pages, c->live_blocks, c->live_blocks * bsize, c->page_bytes);
        first = false;
    }
    hk_buf_printf(b, "]");
    hk_subsystems_stats(b, true); /* ,"pools":[...],"arenas":[...] */
    hk_buf_printf(b, "}");
}

hk_rare_path HK_API size_t hk_stats_json(char *buf, size_t cap) {
    hk_snapshot_t s;
    hk_snapshot(&s);
    hk_buf_t b = {buf, cap, 0};
    hk_stats_json_into(&b, &s);
    return b.len;
}

hk_rare_path HK_API void hk_stats_print_fd(int fd) {
    hk_snapshot_t s;
    hk_snapshot(&s);
    char text[HK_STATS_TEXT_BYTES];
    hk_buf_t b = {text, sizeof text, 0};
    hk_stats_text(&b, &s);
    hk_write_all(fd, text, b.len < sizeof text ? b.len : sizeof text - 1);
}

hk_rare_path HK_API void hk_stats_print(void) { hk_stats_print_fd(STDERR_FILENO); }

/* ------------------------------------------------------------------ at exit */

hk_rare_path static bool hk_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* HEAPKIT_STATS_DIR (set by `heapkit run --stats`): each process's report goes to a file of its own,
 * DIR/stats.PID.N.txt, which the command prints once the program has ended, rather than into the
 * process's stderr, which its parent may be reading (a test that wants a child's stderr empty, git
 * relaying a helper's stderr as "remote:" lines). N is the first number not taken: an image that
 * exec'd this one left its own under the same pid. */
hk_rare_path static void hk_stats_to_dir(const char *dir) {
    char path[PATH_MAX];
    int fd = -1;
    for (unsigned n = 0; n < 1000; n++) {
        hk_buf_t b = {path, sizeof path, 0};
        hk_buf_printf(&b, "%s/stats.%d.%u.txt", dir, (int)getpid(), n);
        if (b.len >= sizeof path) {
            hk_message("statistics not written: HEAPKIT_STATS_DIR is too long");
            return;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST) break;
    }
    if (fd < 0) {
        hk_message("cannot write statistics to %s: %m", path);
        return;
    }
    hk_stats_print_fd(fd);
    close(fd);
}

/* HEAPKIT_STATS and HEAPKIT_STATS_FILE: after the leak check (module ranks), so its report comes first. */
static void hk_stats_at_exit(uintptr_t caller_sp) {
    (void)caller_sp;
    const char *file = hk_state.options.stats_file;
    if (file != NULL) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            hk_message("cannot write statistics to %s: %m", file);
            return;
        }
        if (hk_ends_with(file, ".json")) {
            char buf[HK_STATS_JSON_BYTES];
            size_t n = hk_stats_json(buf, sizeof buf);
            hk_write_all(fd, buf, n < sizeof buf ? n : sizeof buf - 1);
            hk_write_all(fd, "\n", 1);
        } else {
            hk_stats_print_fd(fd);
        }
        close(fd);
    } else if (hk_state.options.stats && hk_state.options.stats_dir != NULL) {
        hk_stats_to_dir(hk_state.options.stats_dir);
    } else if (hk_state.options.stats) {
        hk_stats_print_fd(hk_report_fd()); /* stderr as it was at start: the program may have closed it */
    }
}

HK_SUBSYSTEM(stats, HK_SUBSYSTEM_STATS, .at_exit = hk_stats_at_exit);
