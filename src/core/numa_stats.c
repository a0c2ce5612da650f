/* numa_stats.c — the heap by NUMA node: segments, committed and live bytes by the node each
 * segment was placed on, resident bytes by the node the kernel has each page on, and bytes that
 * landed on another node than asked. A section of the statistics report (text and JSON) when the
 * machine has more than one node (or a simulated topology); nothing at all on one node. */
#define _GNU_SOURCE
#include "core.h"

typedef struct hk_node_totals_s {
    size_t segments, committed, live, resident, misplaced;
} hk_node_totals_t;

/* Bytes of a paged segment given back to the OS (its purged free pages). */
hk_rare_path static size_t hk_segment_purged_bytes(hk_segment_t *seg) {
    size_t purged = 0, area;
    for (uint32_t i = 0; i < seg->page_count; i++)
        if (!seg->pages[i].in_use && seg->pages[i].is_purged) {
            hk_page_area(&seg->pages[i], &area);
            purged += area;
        }
    return purged;
}

hk_rare_path static size_t hk_segment_live_bytes(hk_segment_t *seg) {
    if (seg->kind == HK_SEGMENT_HUGE) return seg->block_size;
    size_t live = 0;
    for (uint32_t i = 0; i < seg->page_count; i++)
        if (seg->pages[i].in_use) live += (size_t)seg->pages[i].used * seg->pages[i].block_size;
    return live;
}

/* Walk every segment once, under the segments lock (the pages' figures are a racy snapshot, as in
 * stats.c). */
hk_rare_path static void hk_node_totals(hk_node_totals_t *by_node) {
    memset(by_node, 0, sizeof(hk_node_totals_t) * HK_NUMA_MAX_NODES);
    size_t ps = hk_os_page_size();
    pthread_mutex_lock(&hk_state.segments_lock);
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        int asked = seg->node;
        if (asked >= 0 && asked < HK_NUMA_MAX_NODES) {
            hk_node_totals_t *t = &by_node[asked];
            t->segments++;
            t->committed += seg->size - (seg->kind == HK_SEGMENT_HUGE ? 0 : hk_segment_purged_bytes(seg));
            t->live += hk_segment_live_bytes(seg);
        }
        if (hk_numa.fake) { /* no kernel to ask: resident where it was asked */
            if (asked >= 0 && asked < HK_NUMA_MAX_NODES) by_node[asked].resident += hk_os_resident(seg, seg->size);
            continue;
        }
        size_t pages[HK_NUMA_MAX_NODES] = {0};
        hk_numa_count_pages(seg, seg->size, pages);
        for (int n = 0; n < HK_NUMA_MAX_NODES; n++) {
            by_node[n].resident += pages[n] * ps;
            if (asked >= 0 && n != asked) by_node[asked].misplaced += pages[n] * ps;
        }
    }
    pthread_mutex_unlock(&hk_state.segments_lock);
}

hk_rare_path HK_API size_t hk_stats_nodes(hk_node_stats_t *out, size_t cap) {
    hk_process_init();
    hk_node_totals_t by_node[HK_NUMA_MAX_NODES];
    hk_node_totals(by_node);
    size_t count = 0;
    for (int n = 0; n < HK_NUMA_MAX_NODES; n++) {
        if (!hk_numa_node_valid(n)) continue;
        if (count < cap)
            out[count] = (hk_node_stats_t){.node = n,
                                           .segments = by_node[n].segments,
                                           .committed = by_node[n].committed,
                                           .live = by_node[n].live,
                                           .resident = by_node[n].resident,
                                           .misplaced = by_node[n].misplaced};
        count++;
    }
    return count;
}

hk_rare_path static const char *hk_numa_policy_name(void) {
    if (!hk_numa.active) return "off";
    if (hk_numa.process_policy) return "process"; /* numactl or set_mempolicy decides */
    return hk_numa.mode == HK_NUMA_MODE_INTERLEAVE ? "interleave" : "local";
}

static bool hk_numa_reported(void) { return hk_numa.topo.node_count > 1; }

hk_rare_path static void hk_numa_stats_text(hk_buf_t *b) {
    if (!hk_numa_reported()) return;
    hk_node_totals_t by_node[HK_NUMA_MAX_NODES];
    hk_node_totals(by_node);
    hk_buf_printf(b, "  NUMA: %d nodes%s, policy %s\n", hk_numa.topo.node_count, hk_numa.fake ? " (simulated)" : "",
                  hk_numa_policy_name());
    hk_buf_printf(b, "  %5s %9s %12s %12s %12s %12s\n", "node", "segments", "committed", "live", "resident",
                  "misplaced");
    for (int n = 0; n < HK_NUMA_MAX_NODES; n++) {
        if (!hk_numa_node_valid(n)) continue;
        const hk_node_totals_t *t = &by_node[n];
        char c[HK_NUMBER_TEXT], l[HK_NUMBER_TEXT], r[HK_NUMBER_TEXT], m[HK_NUMBER_TEXT];
        hk_buf_t cb = {c, sizeof c, 0}, lb = {l, sizeof l, 0}, rb = {r, sizeof r, 0}, mb = {m, sizeof m, 0};
        hk_buf_bytes(&cb, t->committed);
        hk_buf_bytes(&lb, t->live);
        hk_buf_bytes(&rb, t->resident);
        hk_buf_bytes(&mb, t->misplaced);
        hk_buf_printf(b, "  %5d %9zu %12s %12s %12s %12s\n", n, t->segments, c, l, r, m);
    }
}

hk_rare_path static void hk_numa_stats_json(hk_buf_t *b) {
    if (!hk_numa_reported()) return;
    hk_node_totals_t by_node[HK_NUMA_MAX_NODES];
    hk_node_totals(by_node);
    hk_buf_printf(b, ",\"numa\":{\"nodes\":%d,\"simulated\":%s,\"policy\":\"%s\",\"per_node\":[",
                  hk_numa.topo.node_count, hk_numa.fake ? "true" : "false", hk_numa_policy_name());
    bool first = true;
    for (int n = 0; n < HK_NUMA_MAX_NODES; n++) {
        if (!hk_numa_node_valid(n)) continue;
        const hk_node_totals_t *t = &by_node[n];
        hk_buf_printf(b,
                      "%s{\"node\":%d,\"segments\":%zu,\"committed\":%zu,\"live\":%zu,\"resident\":%zu,"
                      "\"misplaced\":%zu}",
                      first ? "" : ",", n, t->segments, t->committed, t->live, t->resident, t->misplaced);
        first = false;
    }
    hk_buf_printf(b, "]}");
}

HK_SUBSYSTEM(numa_stats, HK_SUBSYSTEM_NUMA_STATS, .stats_text = hk_numa_stats_text, .stats_json = hk_numa_stats_json);
