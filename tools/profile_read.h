/* profile_read.h — a heap profile file (profile.PID.N.hkp, docs/profile-format.md) as the
 * `heapkit` command reads it: exactly what the library wrote, unsymbolized (profile_read.c), and
 * the same with every site's stack symbolized (profile_model.c), which the reports use. */
#ifndef HK_TOOLS_PROFILE_READ_H
#define HK_TOOLS_PROFILE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raw_records.h" /* raw_module, raw_stack: the same records as the raw leak report's */

struct prof_site {
    uint64_t stack;
    uint64_t calls, bytes, temp_calls, temp_bytes;
    int64_t live, live_blocks, peak;
    uint64_t peak_ms;
    int64_t at_peak, blocks_at_peak;
};

struct prof_tick {
    uint64_t ms;
    int64_t live;
    uint64_t committed, resident, calls, bytes;
};

struct prof_hist {
    unsigned k; /* sizes in [2^(k-1), 2^k); 0: the size 0 */
    uint64_t calls, bytes;
};

struct prof_map_page {
    bool in_use;
    unsigned bin;
    uint64_t used, reserved;
};

struct prof_map_segment {
    uint64_t address;
    unsigned kind; /* 0 small, 1 medium, 2 huge */
    uint64_t page_bytes, huge_bytes;
    struct prof_map_page *pages;
    size_t page_count;
};

struct profile {
    char *path;
    long pid, ppid;
    char *exe;
    char *mode; /* "exact" or "sampled" */
    uint64_t rate;
    unsigned long dump;
    char *reason; /* exit | signal | call */
    uint64_t ms;  /* when it was written, since profiling started */
    uint64_t calls, bytes;
    int64_t live, live_blocks, peak;
    uint64_t peak_ms;
    int64_t snap_live;
    uint64_t snap_ms, dropped, width_ms;
    struct raw_module *modules;
    size_t module_count;
    struct raw_stack *stacks;
    size_t stack_count;
    struct prof_site *sites;
    size_t site_count;
    struct prof_tick *ticks;
    size_t tick_count;
    struct prof_hist *hist;
    size_t hist_count;
    uint64_t *class_size; /* block size of each size class */
    size_t class_count;
    bool has_map;
    uint64_t map_ms;
    int64_t map_live;
    struct prof_map_segment *segments;
    size_t segment_count;
    bool complete; /* the `end` record was read */
};

/* Reads `path`. Returns false with *error (malloc'ed, one line naming file:line) if it cannot. */
bool profile_read(struct profile *p, const char *path, char **error);
void profile_clear(struct profile *p);
const struct raw_stack *profile_stack(const struct profile *p, uint64_t id);

#endif
