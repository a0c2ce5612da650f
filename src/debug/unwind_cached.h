/* unwind_cached.h — a stack walker for the tracker's stack-cache misses that remembers, per return
 * address, how to find the caller's frame (unwind_cached.c): the DWARF call-frame rule of each code
 * address is worked out once, from the same unwind tables libgcc reads, and kept in a per-thread
 * table, so walking a frame again is a table look-up and two loads instead of an FDE search and a
 * CFI program run. It reports exactly the frames libgcc's _Unwind_Backtrace reports, or says it
 * cannot (a rule it does not model: the caller then walks with libgcc). */
#ifndef HK_UNWIND_CACHED_H
#define HK_UNWIND_CACHED_H

#include "core.h"

/* Rules kept per thread, 16 bytes each: 128 KiB, touched as used. A rule pushed out is worked out
 * again for 2,000-5,000 instructions: with 1,024 rules, cc1 (gcc -O2, ~10,000 distinct return
 * addresses) worked out 16,500 rules in 17,300 walks, 59 M instructions; with 8,192, 7,400 and
 * 41 M. Short threads do not pay for the size: their first walks go to libgcc
 * (HK_UNWIND_CACHED_AFTER in track.c), and a thread that starts after one exited takes over its
 * stack cache, rules and their pages included (4,096 rules once cost bench/threads' 10,000 short
 * threads 16 page faults each, before caches were handed on). */
#define HK_UNWIND_RULES_SHIFT 13
#define HK_UNWIND_RULES ((size_t)1 << HK_UNWIND_RULES_SHIFT)

/* libgcc's FDE search (unwind-dw2-fde.h), from the private copy linked in: the FDE of the code at
 * pc, and the function's start in bases.func. */
struct hk_dwarf_eh_bases {
    void *tbase, *dbase, *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct hk_dwarf_eh_bases *bases);

/* How to get from a frame to its caller's, for one code address. */
typedef struct hk_unwind_rule_s {
    uintptr_t pc;       /* the address it was worked out for (a return address); 0 = empty slot */
    int32_t cfa_offset; /* the frame's CFA (the caller's stack pointer) is rsp or rbp + this */
    int16_t bp_offset;  /* where the caller's rbp was saved, from the CFA; 0 = rbp is not saved */
    uint8_t cfa_on_bp;  /* the CFA is rbp-based (else rsp-based) */
    uint8_t kind;       /* HK_UNWIND_RULE_* in unwind_cached.c */
} hk_unwind_rule_t;

typedef struct hk_unwind_cache_s {
    unsigned long long generation; /* the loader's loads + unloads when the rules were worked out */
    hk_unwind_rule_t rules[HK_UNWIND_RULES];
} hk_unwind_cache_t;

/* Told each frame as _Unwind_Backtrace tells it: its return address and the CFA of the frame it
 * called (the return address lies just below it). Returns false to stop the walk. */
typedef bool (*hk_unwind_frame_fn)(uintptr_t ip, uintptr_t cfa, void *arg);

/* Walk the calling thread's stack from the return address into the caller of this function, with
 * the rules in `cache`, which are dropped when `generation` (the loader's loads + unloads, from
 * hk_module_history_note; 0: unknown, walk nothing) is not theirs. Returns false, having perhaps
 * told some frames already, when a frame's rule is one this walker does not model (a signal frame,
 * a CFA computed by an expression, code no loaded object holds): walk again with _Unwind_Backtrace then. */
hk_internal bool hk_unwind_cached(hk_unwind_cache_t *cache, unsigned long long generation, hk_unwind_frame_fn fn,
                                  void *arg);

#endif /* HK_UNWIND_CACHED_H */
