/* leak_report.h — the leak report of the `heapkit` command: every raw report of a directory,
 * grouped by process, symbolized, with suppressions applied; printed for people on stderr
 * (leak_report.c) and written as JSON (leak_json.c). */
#ifndef HK_TOOLS_LEAK_REPORT_H
#define HK_TOOLS_LEAK_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "leak_raw.h"
#include "suppress.h"

struct leak_options {
    const struct suppressions *suppressions; /* may be NULL */
    bool show_reachable;                     /* list still-reachable groups on the terminal */
    FILE *json;                              /* write the JSON report here too, if not NULL */
};

/* A process of the run whose end `heapkit run` saw (it reaped it): how it ended. */
struct leak_reaped {
    long pid;
    int status; /* from waitpid */
};

/* What `heapkit run` knows about the program it ran; pid 0 when there is none (leak-report). */
struct leak_main {
    long pid;
    int status;            /* from waitpid */
    const char *name;      /* the program, as given on the command line */
    const char *no_preload; /* why heapkit could not be loaded into it, or NULL */
    const struct leak_reaped *reaped; /* other processes of the run it reaped (orphans), or NULL */
    size_t reaped_count;
};

/* --- the model, shared by the terminal and JSON writers ---------------------------------- */

struct leak_frame {
    uint64_t address;     /* as captured (absolute; a return address) */
    const char *module;   /* path, or NULL for an address outside every module */
    uint64_t rel;         /* address - the module's load bias */
    const char *function; /* NULL when unknown */
    const char *file;
    unsigned line;
    uint64_t offset; /* of the address from the function's start */
    bool inlined;    /* inlined into the next frame, at the same address */
    bool exported;   /* a global symbol of its module: an entry point */
};

struct leak_group {
    const struct raw_leak *raw;
    struct leak_frame *frames;
    size_t depth;
    long suppressed_by; /* index of the suppression, or -1 */
};

struct leak_check {
    struct raw_report *raw;
    struct leak_group *groups;
    size_t group_count;
    struct leak_count counts[HK_LEAK_KINDS]; /* unsuppressed */
    struct leak_count suppressed;
    struct leak_count *per_suppression; /* what each suppression took, in file order */
};

struct leak_process {
    long pid, ppid;
    const char *exe;
    bool is_main;
    bool announced; /* it left a marker: it loaded heapkit in a `heapkit run` */
    char *status; /* "exited 0", "killed by signal 11" or "unknown" */
    char *note;   /* why there is no complete report at exit, or NULL */
    struct leak_check *checks;
    size_t check_count;
};

struct leak_set {
    struct leak_process *processes;
    size_t process_count;
    const struct suppressions *suppressions;
};

/* What leak_report_dir found, as bits. */
enum { LEAK_REPORT_FOUND = 1, LEAK_REPORT_JSON_FAILED = 2 };

/* Reports the raw reports in `dir` (files leaks.<pid>.<n>.raw) on stderr, and as JSON if asked.
 * Returns LEAK_REPORT_FOUND if an unsuppressed definite or indirect leak was found, with
 * LEAK_REPORT_JSON_FAILED if the JSON could not be written, or -1 if there was nothing to report
 * (a message says why). */
int leak_report_dir(const char *dir, const struct leak_options *o, const struct leak_main *m);

/* The frames of a raw stack, symbolized, heapkit's own frames dropped from the top (the
 * allocation call itself kept as #0); *out is malloc'ed. Also used by the heap-error report. */
struct symbolizer;
size_t symbolize_stack(struct symbolizer *sym, const struct raw_module *modules, size_t module_count,
                       const struct raw_stack *st, struct leak_frame **out);
/* One frame as the reports print it: "==PID==    #i function (file:line)  [module]". */
void print_frame(long pid, size_t i, const struct leak_frame *f, const char *cwd);
/* leak_json.c: a JSON string (escaped; null for NULL) and a frame object. */
void json_string(FILE *f, const char *str);
void json_frame(FILE *f, const struct leak_frame *fr);
/* The same into g->frames (g->depth of them), as the leak report shows stacks; the profile
 * report's sites use it. */
void leak_symbolize_stack(struct symbolizer *sym, const struct raw_module *modules, size_t module_count,
                          const struct raw_stack *st, struct leak_group *g);

/* The JSON report; false if it could not be written (errno says why). */
bool leak_json_write(FILE *out, const struct leak_set *set);

#endif
