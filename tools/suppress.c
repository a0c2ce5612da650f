/* suppress.c — reads and matches leak suppression files (`leak:PATTERN` lines, `#` comments).
 * Patterns are fnmatch globs over whole strings, so `leak:make_node` names exactly one function
 * and `leak:*third_party*` whole trees of sources; the caller decides which strings a frame offers. */
#define _GNU_SOURCE
#include "suppress.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool fail(char **error, const char *fmt, const char *path, unsigned line, const char *what)
{
    if (asprintf(error, fmt, path, line, what) < 0)
        *error = NULL;
    return false;
}

bool suppressions_load(struct suppressions *s, const char *path, char **error)
{
    *error = NULL;
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        if (asprintf(error, "cannot read the suppressions file %s: %s", path, strerror(errno)) < 0)
            *error = NULL;
        return false;
    }
    char *buf = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    bool ok = true;
    while (getline(&buf, &cap, in) >= 0) {
        lineno++;
        char *line = trim(buf);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            ok = fail(error, "%s:%u: not a suppression: '%s' (want leak:PATTERN)", path, lineno, line);
            break;
        }
        *colon = '\0';
        const char *type = trim(line);
        char *pattern = trim(colon + 1);
        if (strcmp(type, "leak") != 0) {
            ok = fail(error, "%s:%u: unknown suppression type '%s' (heapkit knows leak:PATTERN)", path, lineno,
                      type);
            break;
        }
        if (pattern[0] == '\0') {
            ok = fail(error, "%s:%u: %s", path, lineno, "empty pattern after 'leak:'");
            break;
        }
        struct suppression *grown = realloc(s->items, (s->count + 1) * sizeof *grown);
        if (grown != NULL)
            s->items = grown;
        /* Each keeps its file's name, for the "suppressions used" list. */
        struct suppression item = { .pattern = strdup(pattern), .file = strdup(path), .line = lineno };
        if (grown == NULL || item.pattern == NULL || item.file == NULL) {
            free(item.pattern);
            free(item.file);
            ok = false;
            break;
        }
        s->items[s->count++] = item;
    }
    if (ok && ferror(in))
        ok = fail(error, "%s:%u: read error: %s", path, lineno, strerror(errno));
    else if (!ok && *error == NULL)
        ok = fail(error, "%s:%u: %s", path, lineno, "out of memory");
    free(buf);
    fclose(in);
    return ok;
}

long suppressions_match(const struct suppressions *s, const char *const *strings, size_t n)
{
    for (size_t i = 0; i < s->count; i++)
        for (size_t j = 0; j < n; j++)
            if (strings[j] != NULL && fnmatch(s->items[i].pattern, strings[j], 0) == 0)
                return (long)i;
    return -1;
}

void suppressions_free(struct suppressions *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].pattern);
        free(s->items[i].file);
    }
    free(s->items);
    *s = (struct suppressions){ 0 };
}
