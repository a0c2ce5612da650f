/* leak_raw.h — the raw leak report (docs/leak-report-format.md) as the `heapkit` command reads
 * it: one struct per file leaks.<pid>.<check>.raw, exactly what the library wrote, unsymbolized.
 * leak_raw.c parses it; leak_report.c symbolizes, suppresses and prints it. */
#ifndef HK_TOOLS_LEAK_RAW_H
#define HK_TOOLS_LEAK_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leak_kinds.h" /* the kinds and their names, shared with the library (src/debug) */
#include "raw_records.h"

struct raw_leak {
    hk_leak_kind_t kind;
    uint64_t stack; /* id of a raw_stack */
    uint64_t blocks, bytes;
    char *label; /* NULL for "-" */
    uint64_t thread;
    uint64_t first; /* address of the first block */
};

struct leak_count {
    uint64_t blocks, bytes;
};

struct raw_report {
    char *path;     /* the file it came from */
    long pid, ppid; /* pid from the file name until the pid record is read */
    unsigned long check;
    char *exe;
    char *reason; /* exit | call | signal | anything newer */
    uint64_t stopped, not_stopped;
    struct raw_module *modules;
    size_t module_count;
    struct raw_stack *stacks;
    size_t stack_count;
    struct raw_leak *leaks;
    size_t leak_count;
    struct leak_count summary[HK_LEAK_KINDS];
    bool has_summary[HK_LEAK_KINDS];
    bool complete; /* the `end` record was read */
    char *error;   /* why the file could not be read to its end; NULL if it could */
};

/* Reads the raw report at `path` into *r; pid and check come from the file name until the file
 * says otherwise. Never fails: what went wrong is in r->error, and what was read before it is kept. */
void raw_report_read(struct raw_report *r, const char *path, long pid, unsigned long check);
/* Frees what raw_report_read allocated in *r (not r itself). */
void raw_report_clear(struct raw_report *r);

/* The stack with this id, or NULL. */
const struct raw_stack *raw_report_stack(const struct raw_report *r, uint64_t id);

/* Parses "leaks.<pid>.<check>.raw"; false for any other name. */
bool raw_report_name(const char *name, long *pid, unsigned long *check);

#endif
