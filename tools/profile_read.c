/* profile_read.c — reads one heap profile file (docs/profile-format.md): TAB-separated records,
 * one per line, ending with `end`. Strict about the records it knows (a damaged file is named
 * with its line), tolerant of records and trailing fields it does not know, so the library can
 * add to the format without breaking an older command. */
#define _GNU_SOURCE
#include "profile_read.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

#define PROF_FIELDS_MAX 4200 /* a segment record: 64 pages, or a stack of 64 frames, with room */

struct reader {
    struct profile *p;
    size_t module_cap, stack_cap, site_cap, tick_cap, hist_cap, class_cap, segment_cap;
    bool magic;
};

static const char *parse_stack(struct reader *rd, char **f, size_t n)
{
    struct raw_stack st;
    if (!record_stack(f + 1, n - 1, &st))
        return "a stack record wants: stack <id> <module index>:<hex address>...";
    *(struct raw_stack *)record_push(&rd->p->stacks, &rd->p->stack_count, &rd->stack_cap, sizeof st) = st;
    return NULL;
}

static const char *parse_segment(struct reader *rd, char **f, size_t n)
{
    struct profile *p = rd->p;
    struct prof_map_segment *s = record_push(&p->segments, &p->segment_count, &rd->segment_cap, sizeof *s);
    uint64_t kind;
    if (n < 5 || !record_u64(f[1], 16, &s->address) || !record_u64(f[2], 10, &kind) || kind > 2 || !record_u64(f[3], 10, &s->page_bytes) ||
        !record_u64(f[4], 10, &s->huge_bytes))
        return "a segment record wants: segment <hex address> <kind> <page bytes> <huge bytes> <page>...";
    s->kind = (unsigned)kind;
    s->page_count = n - 5;
    s->pages = xrealloc(NULL, (s->page_count + 1) * sizeof *s->pages);
    for (size_t i = 0; i < s->page_count; i++) {
        struct prof_map_page *pg = &s->pages[i];
        memset(pg, 0, sizeof *pg);
        if (strcmp(f[i + 5], "-") == 0)
            continue;
        char *a = f[i + 5], *b = strchr(a, ':'), *c = b ? strchr(b + 1, ':') : NULL;
        uint64_t bin;
        if (b == NULL || c == NULL)
            return "a page of the heap map wants - or <class>:<used>:<reserved>";
        *b = *c = '\0';
        if (!record_u64(a, 10, &bin) || !record_u64(b + 1, 10, &pg->used) || !record_u64(c + 1, 10, &pg->reserved))
            return "a page of the heap map wants - or <class>:<used>:<reserved>";
        pg->in_use = true;
        pg->bin = (unsigned)bin;
    }
    return NULL;
}

/* One record, split into fields. Returns NULL, or what is wrong with it. */
static const char *parse_record(struct reader *rd, char **f, size_t n)
{
    struct profile *p = rd->p;
    const char *type = f[0];
    if (strcmp(type, "pid") == 0) {
        if (n < 3 || !record_long(f[1], &p->pid) || !record_long(f[2], &p->ppid))
            return "a pid record wants: pid <pid> <parent pid>";
    } else if (strcmp(type, "exe") == 0) {
        free(p->exe);
        p->exe = xstrdup(n > 1 ? f[1] : "");
    } else if (strcmp(type, "mode") == 0) {
        if (n < 3 || (strcmp(f[1], "exact") != 0 && strcmp(f[1], "sampled") != 0) || !record_u64(f[2], 10, &p->rate))
            return "a mode record wants: mode exact|sampled <rate>";
        free(p->mode);
        p->mode = xstrdup(f[1]);
    } else if (strcmp(type, "dump") == 0) {
        uint64_t dump;
        if (n < 4 || !record_u64(f[1], 10, &dump) || !record_u64(f[3], 10, &p->ms))
            return "a dump record wants: dump <number> <reason> <ms>";
        p->dump = (unsigned long)dump;
        free(p->reason);
        p->reason = xstrdup(f[2]);
    } else if (strcmp(type, "totals") == 0) {
        if (n < 7 || !record_u64(f[1], 10, &p->calls) || !record_u64(f[2], 10, &p->bytes) || !record_i64(f[3], &p->live) ||
            !record_i64(f[4], &p->live_blocks) || !record_i64(f[5], &p->peak) || !record_u64(f[6], 10, &p->peak_ms))
            return "a totals record wants: totals <calls> <bytes> <live> <live blocks> <peak> <peak ms>";
    } else if (strcmp(type, "snapshot") == 0) {
        if (n < 3 || !record_i64(f[1], &p->snap_live) || !record_u64(f[2], 10, &p->snap_ms))
            return "a snapshot record wants: snapshot <live> <ms>";
    } else if (strcmp(type, "dropped") == 0) {
        if (n < 2 || !record_u64(f[1], 10, &p->dropped))
            return "a dropped record wants: dropped <samples>";
    } else if (strcmp(type, "module") == 0) {
        uint64_t index;
        if (n < 6 || !record_u64(f[1], 10, &index) || index != p->module_count)
            return "a module record wants: module <index, in order> <hex bias> <hex start> <hex end> <path>";
        struct raw_module *m = record_push(&p->modules, &p->module_count, &rd->module_cap, sizeof *m);
        if (!record_u64(f[2], 16, &m->bias))
            return "a module record wants: module <index, in order> <hex bias> <hex start> <hex end> <path>";
        m->path = xstrdup(f[5]);
    } else if (strcmp(type, "stack") == 0) {
        return parse_stack(rd, f, n);
    } else if (strcmp(type, "site") == 0) {
        struct prof_site *s = record_push(&p->sites, &p->site_count, &rd->site_cap, sizeof *s);
        if (n < 12 || !record_u64(f[1], 10, &s->stack) || !record_u64(f[2], 10, &s->calls) || !record_u64(f[3], 10, &s->bytes) ||
            !record_u64(f[4], 10, &s->temp_calls) || !record_u64(f[5], 10, &s->temp_bytes) || !record_i64(f[6], &s->live) ||
            !record_i64(f[7], &s->live_blocks) || !record_i64(f[8], &s->peak) || !record_u64(f[9], 10, &s->peak_ms) ||
            !record_i64(f[10], &s->at_peak) || !record_i64(f[11], &s->blocks_at_peak))
            return "a site record wants 11 numbers: site <stack> <calls> <bytes> <temporary calls> <temporary bytes> "
                   "<live> <live blocks> <peak> <peak ms> <live at the heap's peak> <blocks then>";
    } else if (strcmp(type, "width") == 0) {
        if (n < 2 || !record_u64(f[1], 10, &p->width_ms))
            return "a width record wants: width <ms>";
    } else if (strcmp(type, "tick") == 0) {
        struct prof_tick *t = record_push(&p->ticks, &p->tick_count, &rd->tick_cap, sizeof *t);
        if (n < 7 || !record_u64(f[1], 10, &t->ms) || !record_i64(f[2], &t->live) || !record_u64(f[3], 10, &t->committed) ||
            !record_u64(f[4], 10, &t->resident) || !record_u64(f[5], 10, &t->calls) || !record_u64(f[6], 10, &t->bytes))
            return "a tick record wants: tick <ms> <live> <committed> <resident> <calls> <bytes>";
    } else if (strcmp(type, "hist") == 0) {
        struct prof_hist *h = record_push(&p->hist, &p->hist_count, &rd->hist_cap, sizeof *h);
        uint64_t k;
        if (n < 4 || !record_u64(f[1], 10, &k) || k > 64 || !record_u64(f[2], 10, &h->calls) || !record_u64(f[3], 10, &h->bytes))
            return "a hist record wants: hist <bit length> <calls> <bytes>";
        h->k = (unsigned)k;
    } else if (strcmp(type, "class") == 0) {
        uint64_t index;
        if (n < 3 || !record_u64(f[1], 10, &index) || index != p->class_count)
            return "a class record wants: class <index, in order> <block size>";
        uint64_t *c = record_push(&p->class_size, &p->class_count, &rd->class_cap, sizeof *c);
        if (!record_u64(f[2], 10, c))
            return "a class record wants: class <index, in order> <block size>";
    } else if (strcmp(type, "map") == 0) {
        if (n < 3 || !record_u64(f[1], 10, &p->map_ms) || !record_i64(f[2], &p->map_live))
            return "a map record wants: map <ms> <live>";
        p->has_map = true;
    } else if (strcmp(type, "segment") == 0) {
        return parse_segment(rd, f, n);
    } else if (strcmp(type, "end") == 0) {
        p->complete = true;
    }
    return NULL;
}

bool profile_read(struct profile *p, const char *path, char **error)
{
    memset(p, 0, sizeof *p);
    p->path = xstrdup(path);
    *error = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (asprintf(error, "cannot read the profile %s: %s", path, strerror(errno)) < 0)
            *error = NULL;
        return false;
    }
    struct reader rd = { .p = p };
    char *line = NULL, **fields = xrealloc(NULL, PROF_FIELDS_MAX * sizeof *fields);
    size_t cap = 0, lineno = 0;
    ssize_t len;
    const char *why = NULL;
    while (why == NULL && !p->complete && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        size_t n = record_fields(line, fields, PROF_FIELDS_MAX);
        if (lineno == 1) {
            rd.magic = n >= 2 && strcmp(fields[0], "heapkit-profile") == 0;
            if (!rd.magic)
                why = "not a heapkit profile (its first line is not 'heapkit-profile<TAB>1')";
            continue;
        }
        why = parse_record(&rd, fields, n);
    }
    fclose(f);
    free(line);
    free(fields);
    if (why == NULL && lineno == 0)
        why = "the file is empty";
    if (why == NULL && (p->mode == NULL || p->reason == NULL))
        why = "the file ends before its mode and dump records";
    if (why != NULL) {
        if (asprintf(error, "%s:%zu: %s", path, lineno, why) < 0)
            *error = NULL;
        return false;
    }
    raw_stacks_sort(p->stacks, p->stack_count);
    return true;
}

const struct raw_stack *profile_stack(const struct profile *p, uint64_t id)
{
    return raw_stacks_find(p->stacks, p->stack_count, id);
}

void profile_clear(struct profile *p)
{
    free(p->path);
    free(p->exe);
    free(p->mode);
    free(p->reason);
    for (size_t i = 0; i < p->module_count; i++)
        free(p->modules[i].path);
    free(p->modules);
    for (size_t i = 0; i < p->stack_count; i++)
        free(p->stacks[i].frames);
    free(p->stacks);
    free(p->sites);
    free(p->ticks);
    free(p->hist);
    free(p->class_size);
    for (size_t i = 0; i < p->segment_count; i++)
        free(p->segments[i].pages);
    free(p->segments);
    memset(p, 0, sizeof *p);
}
