/* leak.h — what the leak scan (leak.c) hands to the report writer (leak_report.c). */
#ifndef HK_LEAK_H
#define HK_LEAK_H

#include "leak_kinds.h"
#include "track.h"

/* Scan colours in hk_track_rec_t.mark, as Valgrind's memcheck names the outcomes. */
enum {
    HK_MARK_UNREACHED = 0,
    HK_MARK_POSSIBLE = 1,  /* reached from a root, but through a pointer into a block's middle */
    HK_MARK_REACHABLE = 2, /* reached from a root through block-start pointers only */
    HK_MARK_INDIRECT = 3,  /* reached only from lost blocks */
    HK_MARK_DEFINITE = 4,  /* no pointer found to it, save from blocks it reaches itself */
    /* Under leak tracking alone (leak_free.c), set for this check only after the marks are cleared:
     * a free block whose record is stale (the scan neither marks nor reports it), and a block this
     * check cannot tell live or free (scanned for what it reaches; never reported). */
    HK_MARK_FREE = 5,
    HK_MARK_DOUBTFUL = 6,
};

/* A loaded ELF object, for turning return addresses into module-relative ones. */
typedef struct hk_module_s {
    uintptr_t lo, hi; /* the span of its loaded segments */
    uintptr_t bias;   /* load bias: runtime address = bias + ELF virtual address */
    const char *path;
} hk_module_t;

/* Blocks of one kind from one stack (and label). */
typedef struct hk_leak_group_s {
    uint32_t stack;
    uint32_t thread;
    uint16_t label;
    uint8_t kind; /* hk_leak_kind_t */
    uint8_t used;
    uintptr_t first;
    size_t blocks, bytes;
} hk_leak_group_t;

typedef struct hk_leak_result_s {
    const char *reason; /* "exit", "call" or "signal" */
    unsigned check;     /* counts the checks of this process from 1 */
    size_t stopped, not_stopped;
    hk_module_t *modules;
    size_t module_count;
    hk_leak_group_t *groups; /* largest bytes first */
    size_t group_count;
    hk_leak_summary_t summary;
} hk_leak_result_t;

/* module_history.c: every named object loaded while stacks were recorded, unloaded ones too */
/* before a stack is walked and stored: look for new objects; returns the loader's loads + unloads
 * (0: it does not count them, or the history could not be kept) */
hk_internal unsigned long long hk_module_history_note(void);
hk_internal const hk_module_t *hk_module_history(size_t *count);
struct dl_phdr_info;
hk_internal void hk_module_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi);

/* leak_free.c: under leak tracking alone (hk_state.frees_plain), with the other threads stopped,
 * the segments lock held and the marks just cleared: the blocks on the allocator's free lists get
 * HK_MARK_FREE, those on no list of a page whose lists do not add up HK_MARK_DOUBTFUL. Returns how
 * many pages did not add up (a thread stopped halfway through changing them). */
hk_internal size_t hk_leak_colour_free(void);

/* leak_report.c */
hk_internal void hk_leak_group_add(hk_leak_result_t *r, hk_leak_kind_t kind, const hk_track_rec_t *rec,
                                   uintptr_t user, size_t size);
hk_internal void hk_leak_groups_sort(hk_leak_result_t *r);
hk_internal void hk_leak_report(hk_leak_result_t *r); /* may renumber r->check (exec'd images) */
hk_internal void *hk_leak_scratch(size_t size); /* memory for this check, zeroed; 0: give it all back */
/* Reserves the scratch's address space now (false if it cannot be had): at start, so that a
 * program that uses all the address space a ulimit -v leaves does not leave none for its check. */
hk_internal bool hk_leak_scratch_reserve(void);

#endif
