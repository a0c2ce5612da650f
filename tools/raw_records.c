/* raw_records.c — fields, numbers and stacks of the library's record files, for both of the
 * command's readers (raw_records.h). */
#define _GNU_SOURCE
#include "raw_records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

size_t record_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    for (char *s = line, *tab; n < max; s = tab + 1) {
        fields[n++] = s;
        if ((tab = strchr(s, '\t')) == NULL)
            break;
        *tab = '\0';
    }
    return n;
}

bool record_u64(const char *s, int base, uint64_t *out)
{
    /* strtoull would take a sign or leading blanks; a field the library wrote has neither. */
    if (s[0] == '\0' || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

bool record_i64(const char *s, int64_t *out)
{
    bool neg = s[0] == '-';
    uint64_t v;
    if (!record_u64(s + neg, 10, &v) || v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

bool record_long(const char *s, long *out)
{
    int64_t v;
    if (!record_i64(s, &v))
        return false;
    *out = (long)v;
    return true;
}

/* "<module index>:<hex address>", the index -1 for an address outside every module. */
static bool record_frame(char *s, struct raw_frame *f)
{
    char *colon = strchr(s, ':');
    if (colon == NULL)
        return false;
    *colon = '\0';
    bool ok = record_long(s, &f->module) && f->module >= -1 && record_u64(colon + 1, 16, &f->addr);
    *colon = ':';
    return ok;
}

bool record_stack(char **fields, size_t n, struct raw_stack *st)
{
    *st = (struct raw_stack){ 0 };
    if (n < 1 || !record_u64(fields[0], 10, &st->id))
        return false;
    st->depth = n - 1;
    st->frames = xrealloc(NULL, (st->depth ? st->depth : 1) * sizeof *st->frames);
    for (size_t i = 0; i < st->depth; i++)
        if (!record_frame(fields[1 + i], &st->frames[i])) {
            free(st->frames);
            *st = (struct raw_stack){ 0 };
            return false;
        }
    return true;
}

static int stack_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct raw_stack *)a)->id, y = ((const struct raw_stack *)b)->id;
    return (x > y) - (x < y);
}

void raw_stacks_sort(struct raw_stack *stacks, size_t n)
{
    if (n > 1)
        qsort(stacks, n, sizeof *stacks, stack_cmp);
}

const struct raw_stack *raw_stacks_find(const struct raw_stack *stacks, size_t n, uint64_t id)
{
    struct raw_stack key = { .id = id };
    if (n == 0)
        return NULL;
    return bsearch(&key, stacks, n, sizeof *stacks, stack_cmp);
}

void *record_push(void *array, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *(void **)array = xrealloc(*(void **)array, *cap * size);
    }
    char *e = (char *)*(void **)array + (*n)++ * size;
    memset(e, 0, size);
    return e;
}
