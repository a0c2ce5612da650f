/* profile_report.h — `heapkit report`: a heap profile symbolized (profile_model.c) and shown as a
 * terminal summary and a diff (profile_text.c), folded stacks and a pprof profile
 * (profile_export.c), and one self-contained HTML page (profile_html.c). */
#ifndef HK_TOOLS_PROFILE_REPORT_H
#define HK_TOOLS_PROFILE_REPORT_H

#include <stdio.h>

#include "leak_report.h" /* leak_frame: stacks are symbolized as the leak report's */
#include "profile_read.h"

/* A site with its stack symbolized. */
struct prof_entry {
    const struct prof_site *site;
    struct leak_frame *frames; /* innermost first, heapkit's frames above the allocation call dropped */
    size_t depth;
    char **names;  /* frames[i]'s name: function, else module+offset, else the address */
    char **places; /* "file:line", "module" or "" */
    char *key;     /* the names joined, outermost first: the same site in two profiles */
};

struct prof_model {
    struct profile profile;
    struct prof_entry *entries;
    size_t entry_count;
    struct symbolizer *sym; /* owns the frames' strings */
};

/* What a flame graph or folded stack weighs a site by. */
enum prof_metric { PROF_PEAK, PROF_CALLS, PROF_BYTES, PROF_TEMP, PROF_LEAKED, PROF_METRICS };
extern const char *const prof_metric_names[PROF_METRICS];
int64_t prof_metric_value(const struct prof_site *s, enum prof_metric m);

/* profile_model.c: reads and symbolizes; false with a message on stderr if it cannot. */
bool prof_model_load(struct prof_model *m, const char *path);
void prof_model_free(struct prof_model *m);
char *prof_bytes(int64_t v, char buf[32]); /* "12.5 MiB" */

/* profile_text.c */
void prof_text_report(FILE *out, const struct prof_model *m, size_t top);
void prof_text_diff(FILE *out, const struct prof_model *a, const struct prof_model *b, size_t top);
/* profile_export.c */
bool prof_write_collapsed(FILE *out, const struct prof_model *m, enum prof_metric metric);
bool prof_write_pprof(FILE *out, const struct prof_model *m);
/* profile_html.c */
bool prof_write_html(FILE *out, const struct prof_model *m);

#endif
