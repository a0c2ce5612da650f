/* suppress.h — leak suppressions for the `heapkit` command: a file of `leak:PATTERN` lines, each
 * PATTERN a glob (fnmatch) tried against every frame's function, source file and module. A leak
 * group is suppressed by the first suppression that matches any of its frames. */
#ifndef HK_TOOLS_SUPPRESS_H
#define HK_TOOLS_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

struct suppression {
    char *pattern;
    char *file; /* where it was read, for the "suppressions used" list */
    unsigned line;
};

struct suppressions {
    struct suppression *items;
    size_t count;
};

/* Adds the suppressions of the file at `path`. On a malformed line or a file that cannot be
 * read, returns false with *error set to a malloc'd message naming file:line. */
bool suppressions_load(struct suppressions *s, const char *path, char **error);

/* Index of the first suppression whose pattern matches one of strings[0..n-1] (NULLs skipped),
 * or -1. */
long suppressions_match(const struct suppressions *s, const char *const *strings, size_t n);

void suppressions_free(struct suppressions *s);

#endif
