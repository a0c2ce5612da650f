/* profile_text.c — `heapkit report FILE` on the terminal: what the program allocated, its peak,
 * and the top sites by live bytes at the heap's peak, by calls, by temporary allocations and by
 * bytes still live when the profile was written (leaked, at exit); and `heapkit report --diff A B`:
 * which sites grew between two profiles of one program (two runs, or two dumps of one run). */
#define _GNU_SOURCE
#include "profile_report.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Frames shown per site: the allocation call and the program's frames that called it; more for a
 * site that would read the same as another listed with it (wrappers such as sqlite3Malloc or
 * PyMem_Malloc under every site), up to the most a stack holds. */
#define PROF_TEXT_FRAMES 4

static const struct prof_model *sort_model;
static enum prof_metric sort_metric;

static int by_metric(const void *a, const void *b)
{
    int64_t x = prof_metric_value(sort_model->entries[*(const size_t *)a].site, sort_metric);
    int64_t y = prof_metric_value(sort_model->entries[*(const size_t *)b].site, sort_metric);
    return x > y ? -1 : x < y ? 1 : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* Entry numbers sorted by a metric, largest first. */
static size_t *sorted(const struct prof_model *m, enum prof_metric metric)
{
    size_t *order = malloc((m->entry_count + 1) * sizeof *order);
    if (order == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < m->entry_count; i++)
        order[i] = i;
    sort_model = m;
    sort_metric = metric;
    qsort(order, m->entry_count, sizeof *order, by_metric);
    return order;
}

/* "f (file:line) < g (file:line) < ...": the first `frames` frames, innermost first. */
static void print_stack(FILE *out, const struct prof_entry *e, size_t frames)
{
    if (e == NULL) {
        fputc('\n', out);
        return;
    }
    for (size_t i = 0; i < e->depth && i < frames; i++)
        fprintf(out, "%s%s%s%s%s", i ? " < " : "", e->names[i], e->places[i][0] ? " (" : "", e->places[i],
                e->places[i][0] ? ")" : "");
    if (e->depth > frames)
        fputs(" < ...", out);
    fputc('\n', out);
}

/* Whether two sites' first `frames` frames read the same. */
static bool same_text(const struct prof_entry *a, const struct prof_entry *b, size_t frames)
{
    size_t na = a->depth < frames ? a->depth : frames, nb = b->depth < frames ? b->depth : frames;
    if (na != nb || (a->depth > frames) != (b->depth > frames))
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a->names[i], b->names[i]) != 0 || strcmp(a->places[i], b->places[i]) != 0)
            return false;
    return true;
}

/* A site listed in one table of the report, and the frames its line shows. */
struct listed {
    const struct prof_entry *e;
    size_t frames;
};

/* The frames each listed site shows: PROF_TEXT_FRAMES, or as many more as it takes for it not to
 * read the same as another site of the list whose stack differs further down. Each line for
 * itself: one pair behind the same wrappers does not lengthen the others. */
static void frames_to_tell_apart(struct listed *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        list[i].frames = PROF_TEXT_FRAMES;
        if (list[i].e == NULL)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (j == i || list[j].e == NULL)
                continue;
            size_t deepest = list[i].e->depth > list[j].e->depth ? list[i].e->depth : list[j].e->depth;
            if (same_text(list[i].e, list[j].e, deepest)) /* no frame can tell identical texts apart */
                continue;
            while (list[i].frames < deepest && same_text(list[i].e, list[j].e, list[i].frames))
                list[i].frames++;
        }
    }
}

static double seconds(uint64_t ms) { return (double)ms / 1000.0; }

static void print_top(FILE *out, const struct prof_model *m, enum prof_metric metric, size_t top, const char *title)
{
    size_t *order = sorted(m, metric);
    size_t listed = 0;
    while (listed < m->entry_count && listed < top && prof_metric_value(m->entries[order[listed]].site, metric) > 0)
        listed++;
    struct listed *list = calloc(listed + 1, sizeof *list);
    if (list == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < listed; i++)
        list[i].e = &m->entries[order[i]];
    frames_to_tell_apart(list, listed);
    size_t shown = 0;
    fprintf(out, "\n%s:\n", title);
    for (size_t i = 0; i < listed; i++) {
        const struct prof_entry *e = &m->entries[order[i]];
        const struct prof_site *s = e->site;
        char a[32], b[32];
        switch (metric) {
        case PROF_PEAK:
            fprintf(out, "  %10s in %7lld blocks  (site's own peak %s at %.2f s)  ", prof_bytes(s->at_peak, a),
                    (long long)s->blocks_at_peak, prof_bytes(s->peak, b), seconds(s->peak_ms));
            break;
        case PROF_CALLS:
            fprintf(out, "  %10llu calls, %10s  ", (unsigned long long)s->calls, prof_bytes((int64_t)s->bytes, a));
            break;
        case PROF_TEMP:
            fprintf(out, "  %10llu temporary of %llu calls, %s  ", (unsigned long long)s->temp_calls,
                    (unsigned long long)s->calls, prof_bytes((int64_t)s->temp_bytes, a));
            break;
        case PROF_LEAKED:
        case PROF_BYTES:
        case PROF_METRICS:
            fprintf(out, "  %10s in %7lld blocks  ", prof_bytes(metric == PROF_BYTES ? (int64_t)s->bytes : s->live, a),
                    (long long)s->live_blocks);
            break;
        }
        print_stack(out, e, list[i].frames);
        shown++;
    }
    if (shown == 0)
        fputs("  (none)\n", out);
    free(list);
    free(order);
}

void prof_text_report(FILE *out, const struct prof_model *m, size_t top)
{
    const struct profile *p = &m->profile;
    char a[32], b[32], c[32];
    uint64_t temp_calls = 0, temp_bytes = 0;
    for (size_t i = 0; i < p->site_count; i++) {
        temp_calls += p->sites[i].temp_calls;
        temp_bytes += p->sites[i].temp_bytes;
    }
    bool sampled = strcmp(p->mode, "sampled") == 0;
    fprintf(out, "heapkit: heap profile of %s (pid %ld), %s", p->exe != NULL ? p->exe : "?", p->pid, p->mode);
    if (sampled)
        fprintf(out, " (a sample per %s allocated on average; figures are estimates)", prof_bytes((int64_t)p->rate, a));
    fprintf(out, ", written at %s after %.2f s\n", p->reason, seconds(p->ms));
    fprintf(out, "  allocations %llu (%s), %zu sites; temporary %llu (%s)\n", (unsigned long long)p->calls,
            prof_bytes((int64_t)p->bytes, a), p->site_count, (unsigned long long)temp_calls,
            prof_bytes((int64_t)temp_bytes, b));
    fprintf(out, "  peak live %s at %.2f s; live when written %s in %lld blocks\n", prof_bytes(p->peak, c),
            seconds(p->peak_ms), prof_bytes(p->live, a), (long long)p->live_blocks);
    if (p->dropped != 0)
        fprintf(out, "  %llu samples dropped (more sampled blocks live at once than the table holds)\n",
                (unsigned long long)p->dropped);
    print_top(out, m, PROF_PEAK, top, "Top sites by live bytes at the heap's peak");
    print_top(out, m, PROF_CALLS, top, "Top sites by allocation calls");
    print_top(out, m, PROF_TEMP, top, "Top sites by temporary allocations (freed before the thread allocated again)");
    print_top(out, m, PROF_LEAKED,
              top, strcmp(p->reason, "exit") == 0 ? "Top sites by bytes still live at exit (leaked or kept to the end)"
                                                  : "Top sites by bytes live when the profile was written");
}

/* --- diff --------------------------------------------------------------------------------- */

struct prof_delta {
    const struct prof_entry *a, *b; /* either may be NULL */
    int64_t live, at_peak, calls, bytes;
};

static int by_growth(const void *x, const void *y)
{
    const struct prof_delta *a = x, *b = y;
    int64_t ga = a->live > a->at_peak ? a->live : a->at_peak, gb = b->live > b->at_peak ? b->live : b->at_peak;
    return ga > gb ? -1 : ga < gb ? 1 : (a->bytes < b->bytes) - (a->bytes > b->bytes);
}

/* "+1.5 MiB", "-12 B": a change. */
static char *delta_bytes(int64_t v, char buf[32])
{
    buf[0] = '+';
    prof_bytes(v, v > 0 ? buf + 1 : buf); /* the longest text, "-9223372036854775808 B", fits either way */
    return buf;
}

/* Both profiles' sites in one list sorted by key, so the sites of one stack (the same functions,
 * possibly different call addresses) are summed on each side. */
struct keyed {
    const struct prof_entry *e;
    int side; /* 0: A, 1: B */
};

static int by_key(const void *x, const void *y)
{
    const struct keyed *a = x, *b = y;
    int c = strcmp(a->e->key, b->e->key);
    return c != 0 ? c : a->side - b->side;
}

void prof_text_diff(FILE *out, const struct prof_model *a, const struct prof_model *b, size_t top)
{
    size_t total = a->entry_count + b->entry_count;
    struct keyed *all = calloc(total + 1, sizeof *all);
    struct prof_delta *d = calloc(total + 1, sizeof *d);
    if (all == NULL || d == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < a->entry_count; i++)
        all[i] = (struct keyed){ &a->entries[i], 0 };
    for (size_t i = 0; i < b->entry_count; i++)
        all[a->entry_count + i] = (struct keyed){ &b->entries[i], 1 };
    qsort(all, total, sizeof *all, by_key);
    size_t n = 0;
    for (size_t i = 0; i < total;) {
        struct prof_delta *x = &d[n++];
        size_t j = i;
        for (; j < total && strcmp(all[j].e->key, all[i].e->key) == 0; j++) {
            const struct prof_site *s = all[j].e->site;
            int64_t sign = all[j].side ? 1 : -1;
            if (all[j].side)
                x->b = all[j].e;
            else if (x->a == NULL)
                x->a = all[j].e;
            x->live += sign * s->live;
            x->at_peak += sign * s->at_peak;
            x->calls += sign * (int64_t)s->calls;
            x->bytes += sign * (int64_t)s->bytes;
        }
        i = j;
    }
    free(all);
    qsort(d, n, sizeof *d, by_growth);
    const struct profile *pa = &a->profile, *pb = &b->profile;
    char x[32], y[32], z[32];
    fprintf(out, "heapkit: heap profile diff, from %s (pid %ld, %s at %.2f s) to %s (pid %ld, %s at %.2f s)\n",
            pa->path, pa->pid, pa->reason, seconds(pa->ms), pb->path, pb->pid, pb->reason, seconds(pb->ms));
    fprintf(out, "  live %s -> %s (%s);", prof_bytes(pa->live, x), prof_bytes(pb->live, y),
            delta_bytes(pb->live - pa->live, z));
    fprintf(out, " peak %s -> %s\n", prof_bytes(pa->peak, x), prof_bytes(pb->peak, y));
    fprintf(out, "  allocations %llu -> %llu\n", (unsigned long long)pa->calls, (unsigned long long)pb->calls);
    /* the sites both lists show, for the frames that tell them apart */
    struct listed *list = calloc(2 * top + 1, sizeof *list);
    if (list == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    size_t listed = 0;
    for (size_t i = 0; i < n && listed < top && (d[i].live > 0 || d[i].at_peak > 0); i++)
        list[listed++].e = d[i].b != NULL ? d[i].b : d[i].a;
    /* The sites that shrank, most first: by live bytes alone (one whose bytes at the peak did not
     * change sits in the middle of the order by growth). */
    size_t grew = listed;
    size_t *shrank = calloc(top + 1, sizeof *shrank); /* indices into d */
    if (shrank == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    size_t shrunk = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i].live >= 0)
            continue;
        size_t at = shrunk < top ? shrunk++ : top;
        while (at > 0 && d[shrank[at - 1]].live > d[i].live) {
            if (at < top)
                shrank[at] = shrank[at - 1];
            at--;
        }
        if (at < top)
            shrank[at] = i;
    }
    for (size_t k = 0; k < shrunk; k++)
        list[listed++].e = d[shrank[k]].b != NULL ? d[shrank[k]].b : d[shrank[k]].a;
    frames_to_tell_apart(list, listed);
    fprintf(out, "\nSites that grew most (live bytes, and live bytes at the heap's peak):\n");
    size_t shown = 0;
    for (size_t i = 0; i < n && shown < top; i++) {
        if (d[i].live <= 0 && d[i].at_peak <= 0)
            break;
        fprintf(out, "  live %11s  at peak %11s  calls %+8lld  %s", delta_bytes(d[i].live, x), delta_bytes(d[i].at_peak, y),
                (long long)d[i].calls, d[i].a == NULL ? "(new) " : "");
        print_stack(out, list[shown].e, list[shown].frames);
        shown++;
    }
    if (shown == 0)
        fputs("  (none grew)\n", out);
    fprintf(out, "\nSites that shrank most:\n");
    for (shown = 0; shown < shrunk; shown++) {
        const struct prof_delta *s = &d[shrank[shown]];
        fprintf(out, "  live %11s  %s", prof_bytes(s->live, x), s->b == NULL ? "(gone) " : "");
        print_stack(out, list[grew + shown].e, list[grew + shown].frames);
    }
    if (shown == 0)
        fputs("  (none shrank)\n", out);
    free(shrank);
    free(list);
    free(d);
}
