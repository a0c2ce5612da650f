/* profile_export.c — a heap profile in the formats the tools people already have read:
 * folded stacks (`--collapsed`: one line per site, its frames outermost first joined by ';', a
 * space and its weight, as flamegraph.pl, inferno and speedscope take them) and pprof's
 * profile.proto (`--pprof`: uncompressed protobuf, which `pprof` and `go tool pprof` read; the
 * sample values are Go's heap profile's four, alloc_objects, alloc_space, inuse_objects and
 * inuse_space, plus temp_objects and peak_space). The protobuf is encoded by hand here: a handful
 * of message types, varints and length-delimited fields. */
#define _GNU_SOURCE
#include "profile_report.h"

#include <stdlib.h>
#include <string.h>

bool prof_write_collapsed(FILE *out, const struct prof_model *m, enum prof_metric metric)
{
    for (size_t i = 0; i < m->entry_count; i++) {
        int64_t v = prof_metric_value(m->entries[i].site, metric);
        if (v > 0)
            fprintf(out, "%s %lld\n", m->entries[i].key, (long long)v);
    }
    return !ferror(out);
}

/* --- protobuf ----------------------------------------------------------------------------- */

struct pb {
    unsigned char *data;
    size_t len, cap;
};

static void pb_byte(struct pb *b, unsigned char c)
{
    if (b->len == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL) {
            fputs("heapkit: out of memory\n", stderr);
            exit(1);
        }
    }
    b->data[b->len++] = c;
}

static void pb_varint(struct pb *b, uint64_t v)
{
    while (v >= 0x80) {
        pb_byte(b, (unsigned char)(v | 0x80));
        v >>= 7;
    }
    pb_byte(b, (unsigned char)v);
}

static void pb_key(struct pb *b, unsigned field, unsigned wire) { pb_varint(b, (uint64_t)field << 3 | wire); }

static void pb_int(struct pb *b, unsigned field, uint64_t v)
{
    if (v == 0)
        return; /* proto3: zero is the default, not written */
    pb_key(b, field, 0);
    pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *data, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n);
    for (size_t i = 0; i < n; i++)
        pb_byte(b, ((const unsigned char *)data)[i]);
}

static void pb_message(struct pb *b, unsigned field, struct pb *inner)
{
    pb_bytes(b, field, inner->data, inner->len);
    inner->len = 0;
}

/* The string table: index 0 is "", as the format wants. Linear search: a profile has a few
 * thousand distinct names. */
struct strings {
    const char **s;
    size_t n, cap;
};

static uint64_t str_id(struct strings *t, const char *s)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->s[i], s) == 0)
            return i;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->s = realloc(t->s, t->cap * sizeof *t->s);
        if (t->s == NULL) {
            fputs("heapkit: out of memory\n", stderr);
            exit(1);
        }
    }
    t->s[t->n] = s;
    return t->n++;
}

/* One location per frame of each site (a location may name inlined frames; heapkit's
 * symbolizer gives each its own frame, so each is a location with one line here). Functions
 * are shared by name and file. */
struct pfunc {
    uint64_t name, file;
};

bool prof_write_pprof(FILE *out, const struct prof_model *m)
{
    struct strings strings = { 0 };
    str_id(&strings, "");
    uint64_t space = str_id(&strings, "space"), bytes = str_id(&strings, "bytes"); /* the period's type */
    struct pb prof = { 0 }, msg = { 0 }, sub = { 0 };
    static const char *const types[][2] = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
                                            { "inuse_objects", "count" }, { "inuse_space", "bytes" },
                                            { "temp_objects", "count" },  { "peak_space", "bytes" } };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        pb_int(&msg, 1, str_id(&strings, types[i][0]));
        pb_int(&msg, 2, str_id(&strings, types[i][1]));
        pb_message(&prof, 1, &msg);
    }
    struct pfunc *funcs = NULL;
    size_t nfuncs = 0, capfuncs = 0;
    uint64_t next_location = 1;
    struct pb locations = { 0 };
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct prof_entry *e = &m->entries[i];
        const struct prof_site *s = e->site;
        struct pb ids = { 0 }, values = { 0 };
        for (size_t f = 0; f < e->depth; f++) {
            const struct leak_frame *fr = &e->frames[f];
            uint64_t name = str_id(&strings, e->names[f]), file = str_id(&strings, fr->file != NULL ? fr->file : "");
            size_t fn = 0;
            while (fn < nfuncs && (funcs[fn].name != name || funcs[fn].file != file))
                fn++;
            if (fn == nfuncs) {
                if (nfuncs == capfuncs) {
                    capfuncs = capfuncs ? capfuncs * 2 : 64;
                    funcs = realloc(funcs, capfuncs * sizeof *funcs);
                    if (funcs == NULL) {
                        fputs("heapkit: out of memory\n", stderr);
                        exit(1);
                    }
                }
                funcs[nfuncs++] = (struct pfunc){ name, file };
            }
            uint64_t loc = next_location++;
            pb_int(&msg, 1, loc);
            pb_int(&msg, 3, fr->address);
            pb_int(&sub, 1, fn + 1);
            pb_int(&sub, 2, fr->line);
            pb_message(&msg, 4, &sub);
            pb_message(&locations, 4, &msg);
            pb_varint(&ids, loc);
        }
        int64_t v[] = { (int64_t)s->calls, (int64_t)s->bytes, s->live_blocks, s->live, (int64_t)s->temp_calls, s->at_peak };
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            pb_varint(&values, (uint64_t)v[k]);
        pb_bytes(&msg, 1, ids.data, ids.len); /* packed location ids, leaf first */
        pb_bytes(&msg, 2, values.data, values.len);
        pb_message(&prof, 2, &msg);
        free(ids.data);
        free(values.data);
    }
    for (size_t i = 0; i < locations.len; i++)
        pb_byte(&prof, locations.data[i]);
    for (size_t i = 0; i < nfuncs; i++) {
        pb_int(&msg, 1, i + 1);
        pb_int(&msg, 2, funcs[i].name);
        pb_int(&msg, 3, funcs[i].name);
        pb_int(&msg, 4, funcs[i].file);
        pb_message(&prof, 5, &msg);
    }
    for (size_t i = 0; i < strings.n; i++)
        pb_bytes(&prof, 6, strings.s[i], strlen(strings.s[i]));
    pb_int(&prof, 10, m->profile.ms * 1000000u); /* duration_nanos */
    pb_int(&msg, 1, space);
    pb_int(&msg, 2, bytes);
    pb_message(&prof, 11, &msg);
    pb_int(&prof, 12, m->profile.rate != 0 ? m->profile.rate : 1);
    size_t written = fwrite(prof.data, 1, prof.len, out);
    bool ok = written == prof.len && !ferror(out);
    free(prof.data);
    free(msg.data);
    free(sub.data);
    free(locations.data);
    free(funcs);
    free(strings.s);
    return ok;
}
