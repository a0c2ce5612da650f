/* leak_raw.c — reads one raw leak report (docs/leak-report-format.md): TAB-separated records,
 * one per line, ending with `end`. Strict about the records it knows, so a damaged file is
 * named as such, but records it does not know and fields past the known ones are skipped, so
 * the library can add to the format without breaking an older command. */
#define _GNU_SOURCE
#include "leak_raw.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

#define RAW_FIELDS_MAX 80 /* a stack record: its id and up to 64 frames, with room to spare */

static void set_error(struct raw_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct raw_report *r, const char *fmt, ...)
{
    if (r->error != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&r->error, fmt, ap) < 0)
        r->error = NULL;
    va_end(ap);
}

struct parser {
    struct raw_report *r;
    size_t module_cap, stack_cap, leak_cap;
    /* The header records: a report without all of them says nothing usable about any check. */
    bool magic, pid, check, threads;
};

/* One record, already split into fields. Returns NULL, or what is wrong with it. */
static const char *parse_record(struct parser *p, char **f, size_t n)
{
    struct raw_report *r = p->r;
    const char *type = f[0];
    if (strcmp(type, "pid") == 0) {
        if (n < 3 || !record_long(f[1], &r->pid) || !record_long(f[2], &r->ppid))
            return "a pid record wants: pid <pid> <parent pid>";
        p->pid = true;
    } else if (strcmp(type, "exe") == 0) {
        if (n < 2)
            return "an exe record wants a path";
        free(r->exe);
        r->exe = xstrdup(f[1]);
    } else if (strcmp(type, "check") == 0) {
        uint64_t check;
        if (n < 3 || !record_u64(f[1], 10, &check))
            return "a check record wants: check <number> <reason>";
        r->check = (unsigned long)check;
        p->check = true;
        free(r->reason);
        r->reason = xstrdup(f[2]);
    } else if (strcmp(type, "threads") == 0) {
        if (n < 3 || !record_u64(f[1], 10, &r->stopped) || !record_u64(f[2], 10, &r->not_stopped))
            return "a threads record wants: threads <stopped> <not stopped>";
        p->threads = true;
    } else if (strcmp(type, "module") == 0) {
        uint64_t index;
        struct raw_module m;
        if (n < 4 || !record_u64(f[1], 10, &index) || index > 65535 || !record_u64(f[2], 16, &m.bias))
            return "a module record wants: module <index> <hex bias> <path>";
        while (r->module_count <= index)
            record_push(&r->modules, &r->module_count, &p->module_cap, sizeof *r->modules);
        free(r->modules[index].path);
        m.path = xstrdup(f[3]);
        r->modules[index] = m;
    } else if (strcmp(type, "stack") == 0) {
        struct raw_stack s;
        if (!record_stack(f + 1, n - 1, &s))
            return "a stack record wants: stack <id> <module index>:<hex address>...";
        *(struct raw_stack *)record_push(&r->stacks, &r->stack_count, &p->stack_cap, sizeof s) = s;
    } else if (strcmp(type, "leak") == 0) {
        struct raw_leak l;
        int kind = n >= 8 ? hk_leak_kind_of(f[1]) : -1;
        if (kind < 0 || !record_u64(f[2], 10, &l.stack) || !record_u64(f[3], 10, &l.blocks) ||
            !record_u64(f[4], 10, &l.bytes) || !record_u64(f[6], 10, &l.thread) || !record_u64(f[7], 16, &l.first))
            return "a leak record wants: leak <kind> <stack> <blocks> <bytes> <label> <thread> <hex address>";
        l.kind = (hk_leak_kind_t)kind;
        l.label = strcmp(f[5], "-") == 0 ? NULL : xstrdup(f[5]);
        *(struct raw_leak *)record_push(&r->leaks, &r->leak_count, &p->leak_cap, sizeof l) = l;
    } else if (strcmp(type, "summary") == 0) {
        int kind = n >= 4 ? hk_leak_kind_of(f[1]) : -1;
        struct leak_count c;
        if (kind < 0 || !record_u64(f[2], 10, &c.blocks) || !record_u64(f[3], 10, &c.bytes))
            return "a summary record wants: summary <kind> <blocks> <bytes>";
        r->summary[kind] = c;
        r->has_summary[kind] = true;
    } else if (strcmp(type, "end") == 0) {
        r->complete = true;
    }
    /* Any other record is from a newer library: skipped. */
    return NULL;
}

void raw_report_read(struct raw_report *r, const char *path, long pid, unsigned long check)
{
    *r = (struct raw_report){ .path = xstrdup(path), .pid = pid, .ppid = -1, .check = check };
    struct parser p = { .r = r };
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        set_error(r, "cannot read it: %s", strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    while (!r->complete && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len == 0 || line[len - 1] != '\n')
            break; /* the last line, cut in the middle: the file is incomplete, not malformed */
        line[len - 1] = '\0';
        char *fields[RAW_FIELDS_MAX];
        size_t n = record_fields(line, fields, RAW_FIELDS_MAX);
        if (lineno == 1) {
            if (strcmp(fields[0], "heapkit-leaks") != 0) {
                set_error(r, "not a heapkit raw leak report (no heapkit-leaks header)");
                break;
            }
            if (n < 2 || strcmp(fields[1], "1") != 0) {
                set_error(r, "format version %s; this heapkit reads version 1", n < 2 ? "missing" : fields[1]);
                break;
            }
            p.magic = true;
            continue;
        }
        const char *why = parse_record(&p, fields, n);
        if (why != NULL) {
            set_error(r, "line %lu: %s", lineno, why);
            break;
        }
    }
    if (ferror(in))
        set_error(r, "read error: %s", strerror(errno));
    if (lineno == 0 && !ferror(in))
        set_error(r, "the file is empty");
    else if (!p.magic || !p.pid || !p.check || !p.threads)
        set_error(r, "the file ends inside its header (heapkit-leaks, pid, exe, check and threads records)");
    free(line);
    fclose(in);
    raw_stacks_sort(r->stacks, r->stack_count);
}

void raw_report_clear(struct raw_report *r)
{
    for (size_t i = 0; i < r->module_count; i++)
        free(r->modules[i].path);
    for (size_t i = 0; i < r->stack_count; i++)
        free(r->stacks[i].frames);
    for (size_t i = 0; i < r->leak_count; i++)
        free(r->leaks[i].label);
    free(r->modules);
    free(r->stacks);
    free(r->leaks);
    free(r->path);
    free(r->exe);
    free(r->reason);
    free(r->error);
    *r = (struct raw_report){ 0 };
}

const struct raw_stack *raw_report_stack(const struct raw_report *r, uint64_t id)
{
    return raw_stacks_find(r->stacks, r->stack_count, id);
}

bool raw_report_name(const char *name, long *pid, unsigned long *check)
{
    if (strncmp(name, "leaks.", 6) != 0)
        return false;
    const char *s = name + 6;
    const char *dot1 = strchr(s, '.');
    if (dot1 == NULL)
        return false;
    const char *dot2 = strchr(dot1 + 1, '.');
    if (dot2 == NULL || strcmp(dot2, ".raw") != 0)
        return false;
    char num[32];
    uint64_t p, c;
    size_t n1 = (size_t)(dot1 - s), n2 = (size_t)(dot2 - dot1 - 1);
    if (n1 == 0 || n1 >= sizeof num || n2 == 0 || n2 >= sizeof num)
        return false;
    memcpy(num, s, n1);
    num[n1] = '\0';
    if (!record_u64(num, 10, &p) || p == 0 || p > (uint64_t)1 << 31)
        return false;
    memcpy(num, dot1 + 1, n2);
    num[n2] = '\0';
    if (!record_u64(num, 10, &c))
        return false;
    *pid = (long)p;
    *check = (unsigned long)c;
    return true;
}
