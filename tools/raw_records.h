/* raw_records.h — what the command's two readers of the library's record files share (raw leak
 * reports: leak_raw.c; heap profiles: profile_read.c): lines of TAB-separated fields, whole-field
 * numbers, and call stacks of <module index>:<hex address> frames, kept sorted by id. */
#ifndef HK_TOOLS_RAW_RECORDS_H
#define HK_TOOLS_RAW_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct raw_module {
    uint64_t bias;
    char *path;
};

struct raw_frame {
    long module;   /* index into the modules, or -1: then addr is absolute */
    uint64_t addr; /* a return address, relative to the module's load bias */
};

struct raw_stack {
    uint64_t id;
    size_t depth;
    struct raw_frame *frames; /* innermost first */
};

/* Cuts `line` at its TABs into at most `max` fields; returns how many. */
size_t record_fields(char *line, char **fields, size_t max);

/* A whole field as a number; nothing else may follow it. */
bool record_u64(const char *s, int base, uint64_t *out);
bool record_i64(const char *s, int64_t *out);
bool record_long(const char *s, long *out);

/* A stack record's fields after its type: <id> <frame>...; false if one is not a number or frame. */
bool record_stack(char **fields, size_t n, struct raw_stack *st);
void raw_stacks_sort(struct raw_stack *stacks, size_t n);
/* The stack with this id in stacks sorted by raw_stacks_sort, or NULL. */
const struct raw_stack *raw_stacks_find(const struct raw_stack *stacks, size_t n, uint64_t id);

/* Appends one zeroed element of `size` bytes to *array (count *n, capacity *cap); returns it. */
void *record_push(void *array, size_t *n, size_t *cap, size_t size);

#endif
