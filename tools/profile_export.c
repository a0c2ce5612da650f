/* profile_export.c — a heap profile in the formats the tools people already have read:
 * folded stacks (`--collapsed`: one line per site, its frames outermost first joined by ';', a
 * space and its weight, as flamegraph.pl, inferno and speedscope take them) and pprof's
 * profile.proto (`--pprof`: uncompressed protobuf, which `pprof` and `go tool pprof` read; the
 * sample values are Go's heap profile's four, alloc_objects, alloc_space, inuse_objects and
 * inuse_space, plus temp_objects and peak_space). The protobuf is encoded by hand here: a handful
 * of message types, varints and length-delimited fields. */
#define _GNU_SOURCE
#include "profile_report.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
        b->data = xrealloc(b->data, b->cap);
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

static void *xgrow(void *p, size_t *cap, size_t size)
{
    *cap = *cap ? *cap * 2 : 64;
    return xrealloc(p, *cap * size);
}

static uint64_t hash_mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++)
        h = hash_mix(h, (unsigned char)*s);
    return h;
}

/* An open-addressed index of ids 1..n (0 = an empty slot), kept at most half full. Python's
 * profile has 6,000 sites of up to 16 frames: every table here is looked up 100,000 times. */
struct index {
    uint32_t *slot;
    size_t mask;
};

/* Makes room for id n, keeping the index at most half full (rehashing the ids it holds). */
static void index_grow(struct index *ix, size_t n, uint64_t (*hash_of)(const void *, uint32_t), const void *ctx)
{
    if (ix->slot != NULL && 2 * n < ix->mask + 1)
        return;
    struct index old = *ix;
    size_t size = old.slot == NULL ? 1024 : 2 * (old.mask + 1);
    ix->slot = xcalloc(size, sizeof *ix->slot);
    ix->mask = size - 1;
    for (size_t i = 0; old.slot != NULL && i <= old.mask; i++) {
        if (old.slot[i] == 0)
            continue;
        size_t j = hash_of(ctx, old.slot[i]) & ix->mask;
        while (ix->slot[j] != 0)
            j = (j + 1) & ix->mask;
        ix->slot[j] = old.slot[i];
    }
    free(old.slot);
}

/* Adds id n, already appended to its table (so the rehash of a growth can read it). */
static void index_put(struct index *ix, uint64_t hash, uint32_t n, uint64_t (*hash_of)(const void *, uint32_t),
                      const void *ctx)
{
    index_grow(ix, n, hash_of, ctx);
    size_t j = hash & ix->mask;
    while (ix->slot[j] != 0)
        j = (j + 1) & ix->mask;
    ix->slot[j] = n;
}

/* The first slot to look at for `hash` (the index made on first use); the look-up goes on to the
 * next slots until an empty one. */
static size_t index_start(struct index *ix, uint64_t hash)
{
    if (ix->slot == NULL) {
        ix->slot = xcalloc(1024, sizeof *ix->slot);
        ix->mask = 1023;
    }
    return hash & ix->mask;
}

/* The string table: index 0 is "", as the format wants. */
struct strings {
    const char **s;
    size_t n, cap;
    struct index ix; /* id = index + 1 */
};

static uint64_t string_hash(const void *ctx, uint32_t id) { return hash_str(((const struct strings *)ctx)->s[id - 1]); }

static uint64_t str_id(struct strings *t, const char *s)
{
    uint64_t h = hash_str(s);
    for (size_t j = index_start(&t->ix, h); t->n != 0 && t->ix.slot[j] != 0; j = (j + 1) & t->ix.mask)
        if (strcmp(t->s[t->ix.slot[j] - 1], s) == 0)
            return t->ix.slot[j] - 1;
    if (t->n == t->cap)
        t->s = xgrow(t->s, &t->cap, sizeof *t->s);
    t->s[t->n++] = s;
    index_put(&t->ix, h, (uint32_t)t->n, string_hash, t);
    return t->n - 1;
}

/* Functions are shared by name and file; locations by address, function and line, so a frame
 * that many sites run through is one location (a site's inlined frames share its address and
 * stay locations of their own, one line each). Both are numbered from 1 in the order made. */
struct pfunc {
    uint64_t name, file;
};

struct ploc {
    uint64_t address, func, line;
};

struct ptables {
    struct pfunc *funcs;
    size_t nfuncs, capfuncs;
    struct index func_ix;
    struct ploc *locs;
    size_t nlocs, caplocs;
    struct index loc_ix;
};

static uint64_t func_hash_of(const struct pfunc *f) { return hash_mix(hash_mix(0xcbf29ce484222325ull, f->name), f->file); }
static uint64_t func_hash(const void *ctx, uint32_t id) { return func_hash_of(&((const struct ptables *)ctx)->funcs[id - 1]); }
static uint64_t loc_hash_of(const struct ploc *l)
{
    return hash_mix(hash_mix(hash_mix(0xcbf29ce484222325ull, l->address), l->func), l->line);
}
static uint64_t loc_hash(const void *ctx, uint32_t id) { return loc_hash_of(&((const struct ptables *)ctx)->locs[id - 1]); }

static uint64_t func_id(struct ptables *t, struct pfunc f)
{
    uint64_t h = func_hash_of(&f);
    for (size_t j = index_start(&t->func_ix, h); t->func_ix.slot[j] != 0; j = (j + 1) & t->func_ix.mask) {
        const struct pfunc *g = &t->funcs[t->func_ix.slot[j] - 1];
        if (g->name == f.name && g->file == f.file)
            return t->func_ix.slot[j];
    }
    if (t->nfuncs == t->capfuncs)
        t->funcs = xgrow(t->funcs, &t->capfuncs, sizeof *t->funcs);
    t->funcs[t->nfuncs++] = f;
    index_put(&t->func_ix, h, (uint32_t)t->nfuncs, func_hash, t);
    return t->nfuncs;
}

static uint64_t loc_id(struct ptables *t, struct ploc l)
{
    uint64_t h = loc_hash_of(&l);
    for (size_t j = index_start(&t->loc_ix, h); t->loc_ix.slot[j] != 0; j = (j + 1) & t->loc_ix.mask) {
        const struct ploc *k = &t->locs[t->loc_ix.slot[j] - 1];
        if (k->address == l.address && k->func == l.func && k->line == l.line)
            return t->loc_ix.slot[j];
    }
    if (t->nlocs == t->caplocs)
        t->locs = xgrow(t->locs, &t->caplocs, sizeof *t->locs);
    t->locs[t->nlocs++] = l;
    index_put(&t->loc_ix, h, (uint32_t)t->nlocs, loc_hash, t);
    return t->nlocs;
}

/* The sample type pprof shows when none is asked for: the bytes each site held at the heap's
 * peak, what a heap profile is read for (inuse_space, Go's default, is what is left at the end). */
#define PPROF_DEFAULT_TYPE "peak_space"

bool prof_write_pprof(FILE *out, const struct prof_model *m)
{
    struct strings strings = { 0 };
    str_id(&strings, "");
    uint64_t space = str_id(&strings, "space"), bytes = str_id(&strings, "bytes"); /* the period's type */
    struct pb prof = { 0 }, msg = { 0 }, sub = { 0 };
    static const char *const types[][2] = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
                                            { "inuse_objects", "count" }, { "inuse_space", "bytes" },
                                            { "temp_objects", "count" },  { PPROF_DEFAULT_TYPE, "bytes" } };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        pb_int(&msg, 1, str_id(&strings, types[i][0]));
        pb_int(&msg, 2, str_id(&strings, types[i][1]));
        pb_message(&prof, 1, &msg);
    }
    struct ptables t = { 0 };
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct prof_entry *e = &m->entries[i];
        const struct prof_site *s = e->site;
        struct pb ids = { 0 }, values = { 0 };
        for (size_t f = 0; f < e->depth; f++) {
            const struct leak_frame *fr = &e->frames[f];
            struct pfunc fn = { str_id(&strings, e->names[f]), str_id(&strings, fr->file != NULL ? fr->file : "") };
            pb_varint(&ids, loc_id(&t, (struct ploc){ fr->address, func_id(&t, fn), fr->line }));
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
    for (size_t i = 0; i < t.nlocs; i++) {
        pb_int(&msg, 1, i + 1);
        pb_int(&msg, 3, t.locs[i].address);
        pb_int(&sub, 1, t.locs[i].func);
        pb_int(&sub, 2, t.locs[i].line);
        pb_message(&msg, 4, &sub);
        pb_message(&prof, 4, &msg);
    }
    for (size_t i = 0; i < t.nfuncs; i++) {
        pb_int(&msg, 1, i + 1);
        pb_int(&msg, 2, t.funcs[i].name);
        pb_int(&msg, 3, t.funcs[i].name);
        pb_int(&msg, 4, t.funcs[i].file);
        pb_message(&prof, 5, &msg);
    }
    uint64_t default_type = str_id(&strings, PPROF_DEFAULT_TYPE);
    for (size_t i = 0; i < strings.n; i++)
        pb_bytes(&prof, 6, strings.s[i], strlen(strings.s[i]));
    /* time_nanos: when profiling started, from the file's time (it is written when the dump is
     * taken, m->profile.ms after the start) */
    struct stat st;
    if (m->profile.path != NULL && stat(m->profile.path, &st) == 0) {
        uint64_t written = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
        uint64_t ran = m->profile.ms * 1000000u;
        pb_int(&prof, 9, written > ran ? written - ran : written);
    }
    pb_int(&prof, 10, m->profile.ms * 1000000u); /* duration_nanos */
    pb_int(&msg, 1, space);
    pb_int(&msg, 2, bytes);
    pb_message(&prof, 11, &msg);
    pb_int(&prof, 12, m->profile.rate != 0 ? m->profile.rate : 1);
    pb_int(&prof, 14, default_type);
    size_t written = fwrite(prof.data, 1, prof.len, out);
    bool ok = written == prof.len && !ferror(out);
    free(prof.data);
    free(msg.data);
    free(sub.data);
    free(t.funcs);
    free(t.func_ix.slot);
    free(t.locs);
    free(t.loc_ix.slot);
    free(strings.s);
    free(strings.ix.slot);
    return ok;
}
