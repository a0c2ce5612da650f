/* check_report.c — reads the raw heap-error reports the library wrote (one file per error,
 * check.<pid>.<n>.raw: docs/check-report-format.md), symbolizes their stacks offline as the leak
 * report does (symbolize_stack in leak_report.c), and prints each as Valgrind's memcheck would:
 * the kind and access, where the address lies relative to the block, and the stacks of the access
 * (or the call that found the damage), of the allocation and of the free. */
#define _GNU_SOURCE
#include "check_report.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_kinds.h" /* the kinds and their names, shared with the library (src/debug) */
#include "leak_report.h"
#include "raw_records.h"
#include "symbolize.h"
#include "xalloc.h"

struct check_error {
    char *path;
    long pid;
    unsigned long n;
    char *exe;
    struct raw_module *modules;
    size_t module_count;
    struct raw_stack *stacks;
    size_t stack_count;
    bool complete, has_error;
    int kind;
    char *call, *where, *module, *label; /* NULL for "-" */
    char *alloc_call; /* mismatched-free: the family that allocated the block; NULL for "-" or absent */
    uint64_t addr, access_size, block, block_size;
    uint64_t stack[3];  /* access, allocation, free */
    uint64_t thread[3];
};

static char *field_text(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : xstrdup(s);
}

/* Reads one file; false (with a message) if it is not a heap-error report of version 1. */
static bool read_error(struct check_error *e, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "heapkit: cannot read %s: %s\n", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lineno = 0, module_cap = 0, stack_cap = 0;
    bool ok = true;
    while (ok && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char *fld[80]; /* a stack record: its id and up to 64 frames, with room */
        size_t n = record_fields(line, fld, 80);
        if (lineno == 1) {
            ok = n >= 2 && strcmp(fld[0], "heapkit-check") == 0 && strcmp(fld[1], "1") == 0;
        } else if (strcmp(fld[0], "pid") == 0 && n >= 2) {
            e->pid = strtol(fld[1], NULL, 10);
        } else if (strcmp(fld[0], "exe") == 0 && n >= 2) {
            e->exe = xstrdup(fld[1]);
        } else if (strcmp(fld[0], "module") == 0 && n >= 4) {
            size_t i = strtoul(fld[1], NULL, 10);
            if (i > 1u << 20) {
                ok = false;
                break;
            }
            while (e->module_count <= i)
                record_push(&e->modules, &e->module_count, &module_cap, sizeof *e->modules);
            free(e->modules[i].path);
            e->modules[i].bias = strtoull(fld[2], NULL, 16);
            e->modules[i].path = xstrdup(fld[3]);
        } else if (strcmp(fld[0], "stack") == 0 && n >= 2) {
            struct raw_stack st;
            if (record_stack(fld + 1, n - 1, &st))
                *(struct raw_stack *)record_push(&e->stacks, &e->stack_count, &stack_cap, sizeof st) = st;
        } else if (strcmp(fld[0], "error") == 0 && n >= 16) {
            e->has_error = true;
            e->kind = hk_err_kind_of(fld[1]);
            e->call = field_text(fld[2]);
            e->addr = strtoull(fld[3], NULL, 16);
            e->access_size = strtoull(fld[4], NULL, 10);
            e->block = strtoull(fld[5], NULL, 16);
            e->block_size = strtoull(fld[6], NULL, 10);
            e->where = field_text(fld[7]);
            e->module = field_text(fld[8]);
            for (int i = 0; i < 3; i++) {
                e->stack[i] = strtoull(fld[9 + i], NULL, 10);
                e->thread[i] = strtoull(fld[12 + i], NULL, 10);
            }
            e->label = field_text(fld[15]);
            if (n >= 17) /* written since mismatched-free was a kind */
                e->alloc_call = field_text(fld[16]);
        } else if (strcmp(fld[0], "end") == 0) {
            e->complete = true;
        }
    }
    free(line);
    fclose(f);
    raw_stacks_sort(e->stacks, e->stack_count);
    if (!ok || !e->has_error)
        fprintf(stderr, "heapkit: %s is not a readable heap-error report%s\n", path,
                ok ? " (cut short before its error line)" : "");
    return ok && e->has_error;
}

static void clear_error(struct check_error *e)
{
    for (size_t i = 0; i < e->module_count; i++)
        free(e->modules[i].path);
    for (size_t i = 0; i < e->stack_count; i++)
        free(e->stacks[i].frames);
    free(e->modules);
    free(e->stacks);
    free(e->exe);
    free(e->call);
    free(e->where);
    free(e->module);
    free(e->label);
    free(e->alloc_call);
    free(e->path);
}

static const struct raw_stack *find_stack(const struct check_error *e, uint64_t id)
{
    return raw_stacks_find(e->stacks, e->stack_count, id);
}

/* "check.<pid>.<n>.raw" */
static bool check_name(const char *name, long *pid, unsigned long *n)
{
    if (strncmp(name, "check.", 6) != 0)
        return false;
    char *end;
    errno = 0;
    *pid = strtol(name + 6, &end, 10);
    if (end == name + 6 || *end != '.' || errno != 0)
        return false;
    const char *num = end + 1;
    *n = strtoul(num, &end, 10);
    return end != num && errno == 0 && strcmp(end, ".raw") == 0;
}

static int error_cmp(const void *a, const void *b)
{
    const struct check_error *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* The allocation call named by a stack's frame #0 (malloc, calloc...), or NULL. */
static const char *entry_call(const struct leak_frame *frames, size_t depth)
{
    static const char *const names[] = { "malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
                                         "aligned_alloc", "memalign", "valloc", "pvalloc", "free",
                                         "free_sized", "free_aligned_sized" };
    if (depth == 0 || frames[0].function == NULL)
        return NULL;
    const char *fn = frames[0].function;
    if (strncmp(fn, "hk_pool_", 8) == 0 || strncmp(fn, "hk_arena_", 9) == 0)
        return fn; /* a pool's or an arena's call, by its own name */
    if (strncmp(fn, "__libc_", 7) == 0)
        fn += 7;
    else if (strncmp(fn, "hk_", 3) == 0)
        fn += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(fn, names[i]) == 0)
            return names[i];
    return NULL;
}

/* Where the address lies, in words: "0 bytes after a block of 32 bytes". */
static void relation(const struct check_error *e, char *out, size_t cap)
{
    const char *freed = hk_err_kind_freed(e->kind) ? " freed" : "";
    if (e->block == 0) {
        const char *w = e->where == NULL ? "" : e->where;
        if (strcmp(w, "stack") == 0)
            snprintf(out, cap, "on a thread's stack");
        else if (strcmp(w, "global") == 0)
            snprintf(out, cap, "a global of %s", e->module ? e->module : "the program");
        else if (strcmp(w, "header") == 0)
            snprintf(out, cap, "a block whose header before it was overwritten (an underflow)");
        else if (strcmp(w, "heap") == 0)
            snprintf(out, cap, "inside heapkit's heap, but no block starts there");
        else
            snprintf(out, cap, "not in memory heapkit handed out");
        return;
    }
    if (e->addr >= e->block + e->block_size)
        snprintf(out, cap, "%" PRIu64 " bytes after a block of %" PRIu64 " bytes%s", e->addr - e->block - e->block_size,
                 e->block_size, freed);
    else if (e->addr < e->block)
        snprintf(out, cap, "%" PRIu64 " bytes before a block of %" PRIu64 " bytes%s", e->block - e->addr,
                 e->block_size, freed);
    else
        snprintf(out, cap, "%" PRIu64 " bytes inside a block of %" PRIu64 " bytes%s", e->addr - e->block,
                 e->block_size, freed);
}

struct sym_stacks {
    struct leak_frame *frames[3];
    size_t depth[3];
};

static void print_stack(long pid, const struct leak_frame *frames, size_t depth, const char *cwd)
{
    if (depth == 0)
        fprintf(stderr, "==%ld==    (no stack recorded)\n", pid);
    for (size_t i = 0; i < depth; i++)
        print_frame(pid, i, &frames[i], cwd);
}

static void print_error(const struct check_error *e, const struct sym_stacks *s, const char *cwd)
{
    long pid = e->pid;
    char rel[256];
    relation(e, rel, sizeof rel);
    const char *kind = hk_err_kind_name(e->kind);
    bool is_access = e->call == NULL && e->where != NULL &&
                     (strcmp(e->where, "guard") == 0 || strcmp(e->where, "sampled") == 0 || strcmp(e->where, "stack") == 0);
    fprintf(stderr, "==%ld== %s", pid, kind);
    if (e->access_size != 0 && e->kind == HK_ERR_WRONG_SIZE)
        fprintf(stderr, ": %" PRIu64 " bytes given for a block of %" PRIu64 " bytes", e->access_size, e->block_size);
    else if (e->access_size != 0)
        fprintf(stderr, " of %" PRIu64 " byte%s", e->access_size, e->access_size == 1 ? "" : "s");
    fprintf(stderr, " at 0x%" PRIx64, e->addr);
    if (e->call != NULL)
        fprintf(stderr, ", found by %s", e->call);
    else if (!is_access)
        fprintf(stderr, ", found at exit");
    if (e->thread[0] != 0)
        fprintf(stderr, " in thread %" PRIu64, e->thread[0]);
    fputc('\n', stderr);
    if (e->kind == HK_ERR_MISMATCHED_FREE)
        fprintf(stderr, "==%ld==  mismatched free: a block allocated by %s freed by %s\n", pid,
                e->alloc_call ? e->alloc_call : "?", e->call ? e->call : "?");
    if (e->stack[0] > 1)
        print_stack(pid, s->frames[0], s->depth[0], cwd);
    if (e->kind == HK_ERR_STACK_OVERFLOW) {
        fprintf(stderr, "==%ld==  Address 0x%" PRIx64 " is in the guard page below thread %" PRIu64 "'s stack\n",
                pid, e->addr, e->thread[0]);
        return;
    }
    fprintf(stderr, "==%ld==  Address 0x%" PRIx64 " is %s", pid, e->addr, rel);
    if (e->label != NULL)
        fprintf(stderr, " of '%s'", e->label);
    if (e->block != 0) {
        const char *call = e->alloc_call ? e->alloc_call : entry_call(s->frames[1], s->depth[1]);
        fprintf(stderr, ", allocated%s%s", call ? " by " : "", call ? call : "");
        if (e->thread[1] != 0)
            fprintf(stderr, " in thread %" PRIu64, e->thread[1]);
        fputs(":\n", stderr);
        print_stack(pid, s->frames[1], s->depth[1], cwd);
        if (e->stack[2] > 1) {
            const char *fcall = entry_call(s->frames[2], s->depth[2]);
            fprintf(stderr, "==%ld==  Block freed%s%s", pid, fcall ? " by " : "", fcall ? fcall : "");
            if (e->thread[2] != 0)
                fprintf(stderr, " in thread %" PRIu64, e->thread[2]);
            fputs(":\n", stderr);
            print_stack(pid, s->frames[2], s->depth[2], cwd);
        }
    } else {
        fputc('\n', stderr);
    }
}

static void json_stack(FILE *f, const char *name, const struct leak_frame *frames, size_t depth, uint64_t thread,
                       bool present)
{
    fprintf(f, ", \"%s\": ", name);
    if (!present) {
        fputs("null", f);
        return;
    }
    fputs("{\"call\": ", f);
    json_string(f, entry_call(frames, depth));
    fprintf(f, ", \"thread\": %" PRIu64 ", \"frames\": [", thread);
    for (size_t i = 0; i < depth; i++) {
        if (i > 0)
            fputs(", ", f);
        json_frame(f, &frames[i]);
    }
    fputs("]}", f);
}

static void json_error(FILE *f, const struct check_error *e, const struct sym_stacks *s, bool first)
{
    char rel[256];
    relation(e, rel, sizeof rel);
    fprintf(f, "%s\n  {\"pid\": %ld, \"exe\": ", first ? "" : ",", e->pid);
    json_string(f, e->exe);
    fprintf(f, ", \"kind\": \"%s\", \"call\": ", hk_err_kind_name(e->kind));
    json_string(f, e->call);
    fprintf(f, ", \"address\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"block\": ", e->addr, e->access_size);
    if (e->block != 0)
        fprintf(f, "{\"address\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"offset\": %" PRId64 ", \"freed\": %s}",
                e->block, e->block_size, (int64_t)(e->addr - e->block), hk_err_kind_freed(e->kind) ? "true" : "false");
    else
        fputs("null", f);
    fputs(", \"relation\": ", f);
    json_string(f, rel);
    fputs(", \"where\": ", f);
    json_string(f, e->where);
    fputs(", \"label\": ", f);
    json_string(f, e->label);
    fputs(", \"allocated_by\": ", f); /* mismatched-free: the family that allocated the block */
    json_string(f, e->alloc_call);
    json_stack(f, "access", s->frames[0], s->depth[0], e->thread[0], e->stack[0] > 1);
    json_stack(f, "allocated", s->frames[1], s->depth[1], e->thread[1], e->stack[1] > 1);
    json_stack(f, "freed", s->frames[2], s->depth[2], e->thread[2], e->stack[2] > 1);
    fputs("}", f);
}

long check_report_dir(const char *dir, FILE *json, long main_pid)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "heapkit: cannot read %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct check_error *errors = NULL;
    size_t count = 0;
    bool unreadable = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long pid;
        unsigned long n;
        if (!check_name(de->d_name, &pid, &n))
            continue;
        errors = xrealloc(errors, (count + 1) * sizeof *errors);
        struct check_error *e = &errors[count];
        memset(e, 0, sizeof *e);
        e->pid = pid;
        e->n = n;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        e->path = xcalloc(1, len);
        snprintf(e->path, len, "%s/%s", dir, de->d_name);
        if (read_error(e, e->path))
            count++;
        else {
            clear_error(e);
            unreadable = true;
        }
    }
    closedir(d);
    if (count > 1)
        qsort(errors, count, sizeof *errors, error_cmp);
    struct symbolizer *sym = count > 0 ? symbolizer_new() : NULL;
    char *cwd = getcwd(NULL, 0);
    if (json != NULL)
        fputs("\"heap_errors\": [", json);
    for (size_t i = 0; i < count; i++) {
        struct check_error *e = &errors[i];
        struct sym_stacks s;
        memset(&s, 0, sizeof s);
        for (int k = 0; k < 3; k++)
            if (e->stack[k] > 1)
                s.depth[k] = symbolize_stack(sym, e->modules, e->module_count, find_stack(e, e->stack[k]), &s.frames[k]);
        for (int k = 0; k < 3; k++) { /* #0 is the call the program made: named as it wrote it */
            const char *call = s.frames[k] != NULL ? entry_call(s.frames[k], s.depth[k]) : NULL;
            if (call != NULL) {
                s.frames[k][0].function = call;
                s.frames[k][0].file = NULL;
                s.frames[k][0].line = 0;
                s.frames[k][0].offset = 0;
            }
        }
        fprintf(stderr, "==%ld==\n", e->pid);
        print_error(e, &s, cwd);
        if (json != NULL)
            json_error(json, e, &s, i == 0);
        for (int k = 0; k < 3; k++)
            free(s.frames[k]);
    }
    if (json != NULL)
        fputs(count > 0 ? "\n]" : "]", json);
    if (count > 0) {
        long last = -1;
        for (size_t i = 0; i < count; i++) {
            if (errors[i].pid == last)
                continue;
            last = errors[i].pid;
            size_t n = 0;
            for (size_t j = i; j < count && errors[j].pid == last; j++)
                n++;
            fprintf(stderr, "==%ld==\n==%ld== HEAP ERROR SUMMARY: %zu error%s (heapkit run --check)\n", last, last, n,
                    n == 1 ? "" : "s");
        }
    } else if (!unreadable) { /* said, as Valgrind does: a quiet run could be one that was not checked */
        fprintf(stderr, "==%ld== HEAP ERROR SUMMARY: 0 errors (heapkit run --check)\n", main_pid);
    }
    free(cwd);
    for (size_t i = 0; i < count; i++)
        clear_error(&errors[i]);
    free(errors);
    if (sym != NULL)
        symbolizer_free(sym);
    return unreadable && count == 0 ? -1 : (long)count;
}
