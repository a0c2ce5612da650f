/* check.h — heap checking (HEAPKIT_CHECK, HEAPKIT_SAMPLE_GUARD), shared by its files: check.c
 * (canaries and quarantine, and the front that takes the allocation API over), check_guard.c
 * (guard pages, sampled slots, the fault handler) and check_report.c (an error, written raw for
 * the `heapkit` command or plain to stderr). The core reaches it only through hk_hooks_t.front
 * and the sampling hooks (base.h). */
#ifndef HK_CHECK_H
#define HK_CHECK_H

#include "check_kinds.h"
#include "hooks.h"
#include "track.h"

/* An error as found: the raw facts; the command words and symbolizes them. */
typedef struct hk_check_error_s {
    hk_err_kind_t kind;
    const char *call;      /* the call that found it (free, realloc, free_sized...); NULL: an access */
    uintptr_t addr;        /* the address accessed, freed or damaged first */
    size_t access_size;    /* bytes of the access or of the damage; 0 = unknown */
    uintptr_t block;       /* the block's start as handed out; 0 = no block (where says) */
    size_t block_size;     /* bytes asked for */
    const char *where;     /* with no block: stack, global, foreign; or how it was found */
    const char *module;    /* global: the object holding addr, else NULL */
    uint32_t access_stack; /* the access, or the call that found it */
    uint32_t alloc_stack, free_stack; /* HK_STACK_NONE: none */
    uint32_t access_thread, alloc_thread, free_thread;
    const char *label; /* the block's pool or arena, or NULL */
    const char *alloc_call; /* mismatched free: the family that allocated the block (hk_family_alloc_names) */
} hk_check_error_t;

/* The family (hooks.h) of a call that frees, by its name as reports give it. */
static inline uint8_t hk_check_call_family(const char *call) {
    if (strcmp(call, hk_family_free_names[HK_FAMILY_NEW_ARRAY]) == 0) return HK_FAMILY_NEW_ARRAY;
    if (strcmp(call, hk_family_free_names[HK_FAMILY_NEW]) == 0) return HK_FAMILY_NEW;
    return HK_FAMILY_MALLOC;
}

/* check_report.c: write the error (raw into HEAPKIT_CHECK_DIR, else plain on stderr), count it,
 * then abort if HEAPKIT_ON_ERROR=abort. Safe in a signal handler that interrupted the program's
 * code (no malloc, one lock that only reports take). */
hk_internal void hk_check_report(const hk_check_error_t *e);
/* Errors reported so far in this process (hk_stats_t.heap_errors). */
hk_internal size_t hk_check_error_count(void);

/* Heap checking is on (HEAPKIT_CHECK): pools make each object a block of its own to be checked. */
static inline bool hk_checking(void) { return hk_state.options.check != HK_CHECK_OFF; }
/* check.c: name the live checked block at p by a pool's or arena's label (track.c's labels). */
hk_internal void hk_check_set_label(const void *p, uint16_t label);
/* What heap checking knows of the block at p, as track.h's hk_track_block_state (pools ask). */
hk_internal hk_block_state_t hk_check_block_state(const void *p);

/* The calling thread's serial (heapkit's thread number, 1 = the first thread to allocate). */
static inline uint32_t hk_check_thread(void) {
    hk_heap_t *heap = hk_heap_tls;
    return heap == &hk_heap_empty ? 0 : heap->serial;
}

/* Where a pointer that is no block's lies, for an invalid free: "stack", "global" (then *module
 * is the object's path) or "foreign". */
hk_internal const char *hk_check_where(uintptr_t p, const char **module);

/* check_guard.c: guard-page blocks (HEAPKIT_CHECK=guard) and sampled slots. */
hk_internal void *hk_guard_alloc(size_t size, size_t align, bool zero, bool sampled);
hk_internal bool hk_guard_free(void *p, size_t size, bool sized, const char *call); /* false: not a guard block */
hk_internal size_t hk_guard_size(const void *p); /* bytes asked for; 0: not a live guard block */
hk_internal bool hk_guard_owns(const void *p);  /* p points into a live guard block */
hk_internal hk_block_state_t hk_guard_state(const void *p);
hk_internal void hk_guard_set_label(const void *p, uint16_t label);
hk_internal void hk_guard_set_family(const void *p, uint8_t family); /* a C++ operator's block */
/* A block of family `alloc` freed by `call` of another family: reported (the block is freed as usual). */
hk_internal void hk_check_report_mismatch(const hk_check_error_t *block_facts, uint8_t alloc, const char *call);
hk_internal void hk_guard_init(void); /* the fault handler; guard pages' and sampling's table */
/* This thread's alternate stack for the fault handler, made by its first checked or sampled
 * allocation: the test inline (every checked allocation makes it), the making out of line. */
extern hk_internal __thread void *hk_guard_alt_stack __attribute__((tls_model("initial-exec")));
hk_internal void hk_guard_thread_ready_slow(void);
static inline void hk_guard_thread_ready(void) {
    if (hk_unlikely(hk_guard_alt_stack == NULL)) hk_guard_thread_ready_slow();
}
hk_internal void hk_guard_thread_done(void);
hk_internal bool hk_guard_handling_faults(void); /* the fault handler is installed */
hk_internal void hk_guard_check_all(void); /* exit: the quarantine's blocks unmapped */
hk_internal size_t hk_guard_sampled(void);   /* allocations sampled guard slots served */
/* For the leak check (leak.c): guard blocks, full and sampled, are heap blocks like the others
 * (their mappings are not roots). hk_guard_leak_lock/unlock bracket the check's stopped world (no
 * thread may be stopped holding the guard table); hk_guard_leak_blocks copies the live ones, sorted
 * by address, with a tracker-shaped record each (stack, thread, label, the earlier checks' mark);
 * hk_guard_leak_done keeps what the check noted (reported) for the next one. */
typedef struct hk_guard_block_s {
    uintptr_t user;
    size_t size;
    uintptr_t data_lo, data_hi; /* its readable pages */
    hk_track_rec_t rec;
} hk_guard_block_t;
hk_internal void hk_guard_leak_lock(void);
hk_internal void hk_guard_leak_unlock(void);
hk_internal size_t hk_guard_leak_count(void);
hk_internal size_t hk_guard_leak_blocks(hk_guard_block_t *out, size_t cap);
hk_internal void hk_guard_leak_done(const hk_guard_block_t *blocks, size_t count);

#endif
