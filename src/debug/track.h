/* track.h — the debug layer's view of every block: the tracker's records (track.c), the stack
 * depot that stores allocation stacks once (stack_depot.c), and the labels that name a block's
 * pool or arena. The core reaches the tracker only through the hooks it installs (core/hooks.h). */
#ifndef HK_TRACK_H
#define HK_TRACK_H

#include "core.h"

/* Labels (a pool's or an arena's name) are cut to this many bytes, their NUL included: the 47 the
 * API promises a name, in a label table of 48 KiB (track.c). */
#define HK_LABEL_LEN 48

/* Stack ids of the depot that are no stack: 0 in a record means its block is not live; 1 is the
 * stack of a live block whose stack was not kept (the library's own allocations, a full depot). */
#define HK_STACK_NONE 0
#define HK_STACK_UNKNOWN 1

/* What the tracker knows of a live block; one per block, in a table beside its segment (a huge
 * segment keeps its one record in the room its header has for it). All zero while the block is free,
 * but under leak tracking alone (hk_state.frees_plain), where a freed block keeps its last record
 * until its next malloc writes it over (leak_free.c tells it free). */
typedef struct hk_track_rec_s {
    uint32_t stack;      /* allocation stack in the depot; HK_STACK_NONE = the block is not live */
    uint32_t size;       /* bytes asked for (huge blocks: see hk_segment_s.huge_size) */
    uint32_t thread;     /* serial number of the allocating thread's heap */
    uint16_t label;      /* pool or arena name, 0 = none */
    uint16_t offset : 12; /* the pointer handed out minus the block start, in HK_BLOCK_ALIGN units */
    uint16_t mark : 3;   /* leak scan colour */
    uint16_t reported : 1; /* listed as a leak by an earlier check */
} hk_track_rec_t;

_Static_assert(sizeof(hk_track_rec_t) <= sizeof(((hk_segment_t *)0)->huge_track), "a huge segment holds one record");

/* Leak tracking is on (HEAPKIT_LEAKS=1): the hooks are installed. */
static inline bool hk_tracking(void) { return hk_state.options.leaks; }

/* The record of block `index` of a page (each page owns a record per HK_BLOCK_ALIGN bytes, enough
 * for its smallest blocks, in a row; a huge segment has its one record in its header). Inline:
 * every tracked malloc and free asks for one. */
static inline hk_track_rec_t *hk_track_record(hk_segment_t *seg, hk_page_t *page, uint64_t index) {
    if (seg->kind == HK_SEGMENT_HUGE) return seg->track;
    size_t page_index = (size_t)(page - seg->pages);
    return seg->track + (page_index << (seg->page_shift - HK_BLOCK_ALIGN_SHIFT)) + index;
}

/* What the tracker knows of the block at p: not a block it tracks, free, live with p pointing
 * into its middle, or live with p the pointer that was handed out. */
typedef enum { HK_BLOCK_FOREIGN, HK_BLOCK_FREE, HK_BLOCK_INTERIOR, HK_BLOCK_LIVE } hk_block_state_t;

/* A feature that watches every tracked block besides the leak checker (the exact profiler,
 * profile.c): told after a block's record is filled and before it is cleared. A record filled
 * again while live (realloc in place, an aligned block inside one just handed out) is first told
 * as freed. `size` is the size asked for, huge blocks' included. */
typedef struct hk_track_observer_s {
    void (*alloc)(const hk_track_rec_t *rec, size_t size);
    void (*free)(const hk_track_rec_t *rec, size_t size);
} hk_track_observer_t;

/* track.c */
hk_internal void hk_track_install(void); /* the hooks, if HEAPKIT_LEAKS=1: in process init */
/* The hooks, whatever HEAPKIT_LEAKS says, with an observer of every block (or NULL): in process init. */
hk_internal void hk_track_enable(const hk_track_observer_t *observer);
/* The depot id of the calling program's stack, the library's frames left out, walked without the
 * per-thread cache (for a sampled allocation, rare enough not to need one). */
hk_internal uint32_t hk_track_stack_here(void);
hk_internal hk_block_state_t hk_track_block_state(const void *p);
hk_internal uint16_t hk_track_label_intern(const char *name); /* a label id for a pool/arena name */
hk_internal void hk_track_set_label(const void *p, uint16_t label); /* tag the live block at p */
hk_internal const char *hk_track_label_name(uint16_t label);
hk_internal uint32_t hk_track_capture(void); /* the current stack's depot id (heap checking) */
hk_internal void hk_track_heap_done(hk_heap_t *heap); /* a heap goes: its stack cache too */
/* heap checking's quarantine: a freed block held back is no leak, then is freed for good */
hk_internal void hk_track_quarantined(void *block);
hk_internal void hk_track_released(void *block);

/* stack_walk_gate.c — a stack walk (the unwinders, dl_iterate_phdr) happens between enter and
 * leave, so fork never copies the process with one under way; enter false: a fork is under way,
 * walk nothing (the stack is not kept) and do not call leave */
hk_internal bool hk_stack_walk_enter(void);
hk_internal void hk_stack_walk_leave(void);

/* stack_depot.c — every distinct allocation stack stored once, found again by hash */
hk_internal uint32_t hk_stack_depot_put(const uintptr_t *frames, size_t depth);
hk_internal const uintptr_t *hk_stack_get(uint32_t id, size_t *depth);
/* A stack in the depot: an id is the entry's offset from hk_stack_depot_base in HK_DEPOT_ID_UNIT
 * units, so the entry of an id is found without a search. Here, not in stack_depot.c, so that the
 * tag below is read inline: the exact profiler reads it on every tracked malloc and free. */
typedef struct hk_stack_entry_s {
    _Atomic uint32_t next; /* next entry in the bucket, 0 = end */
    uint32_t hash;
    uint32_t depth;
    _Atomic uint32_t tag; /* a feature's own word (the profiler's site number); 0 until set */
    uintptr_t frames[];
} hk_stack_entry_t;
/* Entries are 8-byte aligned (they hold addresses), so an id counts 8-byte units. */
#define HK_DEPOT_ID_UNIT 8
/* Where the entries start: set once, before the first id other than HK_STACK_UNKNOWN is handed
 * out, so a thread that holds such an id sees it set. */
extern hk_internal uint8_t *hk_stack_depot_base;

/* A word kept with each stack for a feature's own use (the profiler's site number), found without
 * a search; NULL for the unknown stack. */
static inline _Atomic uint32_t *hk_stack_depot_tag(uint32_t id) {
    if (id <= HK_STACK_UNKNOWN) return NULL;
    return &((hk_stack_entry_t *)(void *)(hk_stack_depot_base + (size_t)id * HK_DEPOT_ID_UNIT))->tag;
}

#endif /* HK_TRACK_H */
