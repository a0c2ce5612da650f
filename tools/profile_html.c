/* profile_html.c — `heapkit report --html OUT.html`: one self-contained page that opens offline
 * in any browser. The page is tools/report.html (built into the command as a byte array by
 * tools/embed.cmake), whose script draws every chart as SVG or canvas by itself: no charting
 * library, no network. This file puts the profile's data into it as JSON: the timeline, the
 * sites with their stacks (frame names in one table, each site a list of indices), the size
 * histogram, the size classes and the heap map. A page stays small for long runs: at most
 * PROF_HTML_TOP sites by each measure are listed, the others summed into one. */
#define _GNU_SOURCE
#include "profile_report.h"

#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

#define PROF_HTML_TOP 1000

extern const unsigned char hk_report_html[];
extern const size_t hk_report_html_size;

static void page_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20 || *c == '<' || *c == '>' || *c == '&') /* never '</script>' inside the page */
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

/* Frame names, each once: a linear-probing table from name + place to its index. */
struct names {
    char **keys;
    size_t *ids;
    size_t cap, n;
    const char **name, **place;
};

static size_t hash_str(const char *a, const char *b)
{
    size_t h = 1469598103934665603u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211u;
    h = (h ^ 0xff) * 1099511628211u;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211u;
    return h;
}

static size_t name_id(struct names *t, const char *name, const char *place)
{
    size_t i = hash_str(name, place) & (t->cap - 1);
    while (t->keys[i] != NULL) {
        if (strcmp(t->name[t->ids[i]], name) == 0 && strcmp(t->place[t->ids[i]], place) == 0)
            return t->ids[i];
        i = (i + 1) & (t->cap - 1);
    }
    t->keys[i] = (char *)name;
    t->ids[i] = t->n;
    t->name[t->n] = name;
    t->place[t->n] = place;
    return t->n++;
}

static const struct prof_model *rank_model;
static enum prof_metric rank_metric;
static int by_rank(const void *a, const void *b)
{
    int64_t x = prof_metric_value(rank_model->entries[*(const size_t *)a].site, rank_metric);
    int64_t y = prof_metric_value(rank_model->entries[*(const size_t *)b].site, rank_metric);
    return (x < y) - (x > y);
}

bool prof_write_html(FILE *out, const struct prof_model *m)
{
    const struct profile *p = &m->profile;
    /* Which sites the page lists: the top ones by each measure. */
    bool *keep = xcalloc(m->entry_count, sizeof *keep);
    size_t *order = xcalloc(m->entry_count, sizeof *order);
    for (int metric = 0; metric < PROF_METRICS; metric++) {
        for (size_t i = 0; i < m->entry_count; i++)
            order[i] = i;
        rank_model = m;
        rank_metric = (enum prof_metric)metric;
        qsort(order, m->entry_count, sizeof *order, by_rank);
        for (size_t i = 0; i < m->entry_count && i < PROF_HTML_TOP; i++)
            keep[order[i]] = true;
    }
    free(order);
    size_t total_frames = 1;
    for (size_t i = 0; i < m->entry_count; i++)
        total_frames += m->entries[i].depth;
    struct names t = { 0 };
    t.cap = 16;
    while (t.cap < 2 * total_frames + 2)
        t.cap *= 2;
    t.keys = xcalloc(t.cap, sizeof *t.keys);
    t.ids = xcalloc(t.cap, sizeof *t.ids);
    t.name = xcalloc(total_frames + 2, sizeof *t.name);
    t.place = xcalloc(total_frames + 2, sizeof *t.place);
    size_t other = name_id(&t, "[smaller sites]", "");

    const char *text = (const char *)hk_report_html, *mark = strstr(text, "/*HK_PROFILE_DATA*/");
    if (mark == NULL) {
        fputs("heapkit: the built-in report page has no place for the data\n", stderr);
        return false;
    }
    fwrite(text, 1, (size_t)(mark - text), out);
    fputs("{\"exe\":", out);
    page_json_string(out, p->exe != NULL ? p->exe : "?");
    fprintf(out, ",\"pid\":%ld,\"mode\":\"%s\",\"rate\":%llu,\"reason\":", p->pid, p->mode, (unsigned long long)p->rate);
    page_json_string(out, p->reason);
    fprintf(out, ",\"ms\":%llu,\"calls\":%llu,\"bytes\":%llu,\"live\":%lld,\"peak\":%lld,\"peak_ms\":%llu,\"site_count\":%zu",
            (unsigned long long)p->ms, (unsigned long long)p->calls, (unsigned long long)p->bytes, (long long)p->live,
            (long long)p->peak, (unsigned long long)p->peak_ms, p->site_count);
    fputs(",\"ticks\":[", out);
    for (size_t i = 0; i < p->tick_count; i++) {
        const struct prof_tick *k = &p->ticks[i];
        fprintf(out, "%s[%llu,%lld,%llu,%llu,%llu]", i ? "," : "", (unsigned long long)k->ms, (long long)k->live,
                (unsigned long long)k->committed, (unsigned long long)k->resident, (unsigned long long)k->calls);
    }
    fputs("],\"sites\":[", out);
    struct prof_site rest = { 0 };
    size_t listed = 0, dropped = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct prof_entry *e = &m->entries[i];
        const struct prof_site *s = e->site;
        if (!keep[i]) {
            rest.calls += s->calls;
            rest.bytes += s->bytes;
            rest.temp_calls += s->temp_calls;
            rest.live += s->live;
            rest.at_peak += s->at_peak;
            dropped++;
            continue;
        }
        fputs(listed++ ? ",{\"f\":[" : "{\"f\":[", out);
        for (size_t f = e->depth; f-- > 0;)
            fprintf(out, "%zu%s", name_id(&t, e->names[f], e->places[f]), f ? "," : "");
        fprintf(out, "],\"c\":%llu,\"b\":%llu,\"t\":%llu,\"l\":%lld,\"p\":%lld,\"pm\":%llu,\"ap\":%lld}",
                (unsigned long long)s->calls, (unsigned long long)s->bytes, (unsigned long long)s->temp_calls,
                (long long)s->live, (long long)s->peak, (unsigned long long)s->peak_ms, (long long)s->at_peak);
    }
    if (dropped > 0)
        fprintf(out, "%s{\"f\":[%zu],\"c\":%llu,\"b\":%llu,\"t\":%llu,\"l\":%lld,\"p\":0,\"pm\":0,\"ap\":%lld}",
                listed ? "," : "", other, (unsigned long long)rest.calls, (unsigned long long)rest.bytes,
                (unsigned long long)rest.temp_calls, (long long)rest.live, (long long)rest.at_peak);
    fputs("],\"names\":[", out);
    for (size_t i = 0; i < t.n; i++) {
        fputs(i ? "," : "", out);
        page_json_string(out, t.name[i]);
    }
    fputs("],\"places\":[", out);
    for (size_t i = 0; i < t.n; i++) {
        fputs(i ? "," : "", out);
        page_json_string(out, t.place[i]);
    }
    fputs("],\"hist\":[", out);
    for (size_t i = 0; i < p->hist_count; i++)
        fprintf(out, "%s[%u,%llu,%llu]", i ? "," : "", p->hist[i].k, (unsigned long long)p->hist[i].calls,
                (unsigned long long)p->hist[i].bytes);
    fputs("],\"classes\":[", out);
    for (size_t i = 0; i < p->class_count; i++)
        fprintf(out, "%s%llu", i ? "," : "", (unsigned long long)p->class_size[i]);
    fputs("]", out);
    if (p->has_map) {
        fprintf(out, ",\"map\":{\"ms\":%llu,\"live\":%lld,\"segments\":[", (unsigned long long)p->map_ms,
                (long long)p->map_live);
        for (size_t i = 0; i < p->segment_count; i++) {
            const struct prof_map_segment *s = &p->segments[i];
            fprintf(out, "%s[\"%llx\",%u,%llu,%llu,[", i ? "," : "", (unsigned long long)s->address, s->kind,
                    (unsigned long long)s->page_bytes, (unsigned long long)s->huge_bytes);
            for (size_t j = 0; j < s->page_count; j++) {
                const struct prof_map_page *pg = &s->pages[j];
                if (pg->in_use)
                    fprintf(out, "%s[%u,%llu,%llu]", j ? "," : "", pg->bin, (unsigned long long)pg->used,
                            (unsigned long long)pg->reserved);
                else
                    fprintf(out, "%s0", j ? "," : "");
            }
            fputs("]]", out);
        }
        fputs("]}", out);
    }
    fputs("}", out);
    const char *after = mark + strlen("/*HK_PROFILE_DATA*/");
    fwrite(after, 1, hk_report_html_size - (size_t)(after - text), out);
    free(keep);
    free(t.keys);
    free(t.ids);
    free(t.name);
    free(t.place);
    return !ferror(out);
}
