/* profile_model.c — a heap profile as the reports use it: the file read (profile_read.c) and
 * every site's stack symbolized offline as the leak report's are (leak_symbolize_stack: libdw,
 * inlined calls as frames, heapkit's own frames above the allocation call dropped), each frame
 * given a name and a place, and each site a key (its names, outermost first) by which the same
 * site is found in another profile of the same program. */
#define _GNU_SOURCE
#include "profile_report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize.h"
#include "xalloc.h"

const char *const prof_metric_names[PROF_METRICS] = { "peak", "calls", "bytes", "temporary", "leaked" };

int64_t prof_metric_value(const struct prof_site *s, enum prof_metric m)
{
    switch (m) {
    case PROF_PEAK:
        return s->at_peak;
    case PROF_CALLS:
        return (int64_t)s->calls;
    case PROF_BYTES:
        return (int64_t)s->bytes;
    case PROF_TEMP:
        return (int64_t)s->temp_calls;
    case PROF_LEAKED:
        return s->live;
    case PROF_METRICS:
        break;
    }
    return 0;
}

char *prof_bytes(int64_t v, char buf[32])
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double x = (double)(v < 0 ? -v : v);
    unsigned u = 0;
    while (x >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%s%lld B", v < 0 ? "-" : "", (long long)(v < 0 ? -v : v));
    else
        snprintf(buf, 32, "%s%.1f %s", v < 0 ? "-" : "", x, units[u]);
    return buf;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static void name_frames(struct prof_entry *e)
{
    e->names = calloc(e->depth + 1, sizeof *e->names);
    e->places = calloc(e->depth + 1, sizeof *e->places);
    if (e->names == NULL || e->places == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    size_t key_len = 0;
    for (size_t i = 0; i < e->depth; i++) {
        const struct leak_frame *f = &e->frames[i];
        if (f->function != NULL)
            e->names[i] = xasprintf("%s", f->function);
        else if (f->module != NULL)
            e->names[i] = xasprintf("%s+0x%llx", base_name(f->module), (unsigned long long)f->rel);
        else
            e->names[i] = xasprintf("0x%llx", (unsigned long long)f->address);
        if (f->file != NULL && f->line != 0)
            e->places[i] = xasprintf("%s:%u", base_name(f->file), f->line);
        else
            e->places[i] = xasprintf("%s", f->module != NULL ? base_name(f->module) : "");
        for (char *c = e->names[i]; *c != '\0'; c++)
            if (*c == ';' || *c == '\n' || *c == '\r')
                *c = ','; /* ';' separates frames in folded stacks */
        key_len += strlen(e->names[i]) + 1;
    }
    e->key = malloc(key_len + 2);
    if (e->key == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    e->key[0] = '\0';
    char *k = e->key;
    for (size_t i = e->depth; i-- > 0;) {
        size_t n = strlen(e->names[i]);
        memcpy(k, e->names[i], n);
        k += n;
        *k++ = ';';
    }
    if (k > e->key)
        k--;
    *k = '\0';
}

bool prof_model_load(struct prof_model *m, const char *path)
{
    memset(m, 0, sizeof *m);
    char *error;
    if (!profile_read(&m->profile, path, &error)) {
        fprintf(stderr, "heapkit: %s\n", error != NULL ? error : "out of memory");
        free(error);
        profile_clear(&m->profile);
        return false;
    }
    const struct profile *p = &m->profile;
    m->entries = calloc(p->site_count + 1, sizeof *m->entries);
    if (m->entries == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    struct symbolizer *sym = symbolizer_new();
    for (size_t i = 0; i < p->site_count; i++) {
        struct prof_entry *e = &m->entries[m->entry_count++];
        e->site = &p->sites[i];
        struct leak_group g = { 0 };
        const struct raw_stack *st = profile_stack(p, e->site->stack);
        if (st != NULL && sym != NULL)
            leak_symbolize_stack(sym, p->modules, p->module_count, st, &g);
        e->frames = g.frames;
        e->depth = g.depth;
        if (e->depth == 0) { /* no stack kept: the library's own blocks, or a full depot */
            e->frames = calloc(1, sizeof *e->frames);
            e->depth = 1;
            e->frames[0].function = "[no stack]";
        }
        name_frames(e);
    }
    m->sym = sym; /* the frames' function and file strings are its: kept for the model's life */
    return true;
}

void prof_model_free(struct prof_model *m)
{
    for (size_t i = 0; i < m->entry_count; i++) {
        struct prof_entry *e = &m->entries[i];
        for (size_t j = 0; j < e->depth; j++) {
            free(e->names[j]);
            free(e->places[j]);
        }
        free(e->names);
        free(e->places);
        free(e->key);
        free(e->frames);
    }
    free(m->entries);
    if (m->sym != NULL)
        symbolizer_free(m->sym);
    profile_clear(&m->profile);
}
