/* leak_json.c — the leak report as JSON (`heapkit run --leaks --json FILE`): every process, every
 * check, every group including still-reachable and suppressed ones, with symbolized stacks.
 * Strings are escaped per RFC 8259; bytes that are not UTF-8 (file names can hold anything)
 * become U+FFFD so the document always parses. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "leak_report.h"

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t c;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    /* No overlong forms, no surrogates, nothing past U+10FFFF. */
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < min[n] || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    return n;
}

void json_string(FILE *f, const char *str)
{
    if (str == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *s = (const unsigned char *)str; *s != '\0';) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
            fputc(*s++, f);
        } else if (*s == '\n') {
            fputs("\\n", f);
            s++;
        } else if (*s == '\t') {
            fputs("\\t", f);
            s++;
        } else if (*s < 0x20 || *s == 0x7f) {
            fprintf(f, "\\u%04x", *s++);
        } else {
            size_t n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, n, f);
                s += n;
            }
        }
    }
    fputc('"', f);
}

static void json_count(FILE *f, const char *name, const struct leak_count *c, bool last)
{
    fprintf(f, "\"%s\": {\"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64 "}%s", name, c->blocks, c->bytes,
            last ? "" : ", ");
}

void json_frame(FILE *f, const struct leak_frame *fr)
{
    fprintf(f, "{\"address\": \"0x%" PRIx64 "\", \"offset\": \"0x%" PRIx64 "\", \"module\": ", fr->address, fr->rel);
    json_string(f, fr->module);
    fputs(", \"function\": ", f);
    json_string(f, fr->function);
    fputs(", \"file\": ", f);
    json_string(f, fr->file);
    if (fr->line > 0)
        fprintf(f, ", \"line\": %u", fr->line);
    else
        fputs(", \"line\": null", f);
    fprintf(f, ", \"inlined\": %s}", fr->inlined ? "true" : "false");
}

static void json_group(FILE *f, const struct leak_group *g, const struct suppressions *s)
{
    const struct raw_leak *l = g->raw;
    fprintf(f, "{\"kind\": \"%s\", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"label\": ",
            hk_leak_kind_name(l->kind), l->blocks, l->bytes);
    json_string(f, l->label);
    fprintf(f, ", \"thread\": %" PRIu64 ", \"first_block\": \"0x%" PRIx64 "\", \"suppressed\": %s", l->thread,
            l->first, g->suppressed_by >= 0 ? "true" : "false");
    if (g->suppressed_by >= 0) {
        fputs(", \"suppression\": ", f);
        json_string(f, s->items[g->suppressed_by].pattern);
    }
    fputs(",\n           \"stack\": [", f);
    for (size_t i = 0; i < g->depth; i++) {
        fputs(i ? ",\n                     " : "", f);
        json_frame(f, &g->frames[i]);
    }
    fputs("]}", f);
}

static void json_check(FILE *f, const struct leak_check *c, const struct suppressions *s)
{
    const struct raw_report *r = c->raw;
    fprintf(f, "{\"check\": %lu, \"reason\": ", r->check);
    json_string(f, r->reason);
    fprintf(f, ", \"complete\": %s, \"threads_stopped\": %" PRIu64 ", \"threads_not_stopped\": %" PRIu64,
            r->complete ? "true" : "false", r->stopped, r->not_stopped);
    if (r->error != NULL) {
        fputs(", \"error\": ", f);
        json_string(f, r->error);
    }
    fputs(",\n       \"leaks\": [", f);
    for (size_t i = 0; i < c->group_count; i++) {
        fputs(i ? ",\n          " : "\n          ", f);
        json_group(f, &c->groups[i], s);
    }
    fputs("],\n       \"summary\": {", f);
    for (int k = 0; k < HK_LEAK_KINDS; k++)
        json_count(f, hk_leak_kind_name((hk_leak_kind_t)k), &c->counts[k], false);
    json_count(f, HK_LEAK_SUPPRESSED_NAME, &c->suppressed, true);
    fputs("},\n       \"suppressions_used\": [", f);
    bool first = true;
    for (size_t i = 0; s != NULL && i < s->count; i++) {
        const struct leak_count *used = &c->per_suppression[i];
        if (used->blocks == 0 && used->bytes == 0)
            continue;
        fputs(first ? "" : ", ", f);
        first = false;
        fputs("{\"pattern\": ", f);
        json_string(f, s->items[i].pattern);
        fputs(", \"file\": ", f);
        json_string(f, s->items[i].file);
        fprintf(f, ", \"line\": %u, \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64 "}", s->items[i].line, used->blocks,
                used->bytes);
    }
    fputs("]}", f);
}

bool leak_json_write(FILE *f, const struct leak_set *set)
{
    fputs("{\"processes\": [", f);
    for (size_t i = 0; i < set->process_count; i++) {
        const struct leak_process *p = &set->processes[i];
        fprintf(f, "%s\n  {\"pid\": %ld, \"ppid\": ", i ? "," : "", p->pid);
        if (p->ppid >= 0)
            fprintf(f, "%ld", p->ppid);
        else
            fputs("null", f);
        fputs(", \"exe\": ", f);
        json_string(f, p->exe);
        fprintf(f, ", \"main\": %s, \"status\": ", p->is_main ? "true" : "false");
        json_string(f, p->status);
        fputs(", \"note\": ", f);
        json_string(f, p->note);
        fputs(",\n   \"checks\": [", f);
        for (size_t j = 0; j < p->check_count; j++) {
            fputs(j ? ",\n      " : "\n      ", f);
            json_check(f, &p->checks[j], set->suppressions);
        }
        fputs("]}", f);
    }
    fputs("\n]}\n", f);
    return fflush(f) == 0 && !ferror(f);
}
