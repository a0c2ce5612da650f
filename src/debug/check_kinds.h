/* check_kinds.h — the kinds of heap error that heap checking reports (HEAPKIT_CHECK,
 * HEAPKIT_SAMPLE_GUARD), their order and their names in raw reports: one list for the library
 * (src/debug/check*.c) and the `heapkit` command (tools/check_report.c), which includes it. */
#ifndef HK_CHECK_KINDS_H
#define HK_CHECK_KINDS_H

#include <stddef.h>
#include <string.h>

typedef enum {
    HK_ERR_OVERFLOW_WRITE,  /* bytes after the block were written (a canary, or a guard page) */
    HK_ERR_OVERFLOW_READ,   /* bytes after the block were read (guard page) */
    HK_ERR_UNDERFLOW_WRITE, /* bytes before the block (its header or canary, a left guard page) */
    HK_ERR_UNDERFLOW_READ,
    HK_ERR_FREED_WRITE,     /* a freed block was written: its pattern changed, or a fault */
    HK_ERR_FREED_READ,      /* a freed block was read (guard pages) */
    HK_ERR_DOUBLE_FREE,     /* the block is already free (in quarantine) */
    HK_ERR_INVALID_FREE,    /* not a block's start: interior, stack, global, not heapkit's */
    HK_ERR_REALLOC_FREED,   /* realloc of a block already freed */
    HK_ERR_WRONG_SIZE,      /* free_sized or free_aligned_sized given another size than asked for */
    HK_ERR_STACK_OVERFLOW,  /* a fault in a thread's stack guard */
    HK_ERR_MISMATCHED_FREE, /* freed by another family than allocated it (new[] by delete, new by free...) */
    HK_ERR_KINDS
} hk_err_kind_t;

static const char *const hk_err_kind_names[HK_ERR_KINDS] = {
    "heap-overflow-write", "heap-overflow-read", "heap-underflow-write", "heap-underflow-read",
    "use-after-free-write", "use-after-free-read", "double-free", "invalid-free",
    "realloc-of-freed", "wrong-size-free", "stack-overflow", "mismatched-free",
};

/* The families of allocation and free calls, as a mismatched-free report names them: the call
 * that allocated the block (its family's first call: the aligned and nothrow forms, calloc,
 * realloc, memalign... are counted in it) and, by the same index, the one that must free it. */
static const char *const hk_family_alloc_names[] = {"malloc", "operator new", "operator new[]"};
static const char *const hk_family_free_names[] = {"free", "operator delete", "operator delete[]"};

static inline const char *hk_err_kind_name(int kind) {
    return kind >= 0 && kind < HK_ERR_KINDS ? hk_err_kind_names[kind] : "unknown";
}

/* The kind with this name, or -1. */
static inline int hk_err_kind_of(const char *name) {
    for (int k = 0; k < HK_ERR_KINDS; k++)
        if (strcmp(hk_err_kind_names[k], name) == 0) return k;
    return -1;
}

/* The kinds where the block is already freed, so a report says "freed" of it. */
static inline int hk_err_kind_freed(int kind) {
    return kind == HK_ERR_FREED_WRITE || kind == HK_ERR_FREED_READ || kind == HK_ERR_DOUBLE_FREE ||
           kind == HK_ERR_REALLOC_FREED;
}

#endif
