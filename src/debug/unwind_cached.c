/* unwind_cached.c — the stack-cache misses' walker (see unwind_cached.h): libgcc's unwinder pays,
 * for every frame of every walk, a search for the frame's FDE and a run of its CIE and FDE programs
 * (about 2,000 instructions a frame, 40,000 a python3 stack). The rule those produce for a code
 * address never changes while the object holding it stays loaded, and on x86-64 it almost always
 * has one shape: the CFA is rsp or rbp plus a constant, the return address sits just below the
 * CFA, and rbp is either untouched or saved at a constant offset from the CFA. This walker works
 * that rule out once per return address, with libgcc's own FDE search (_Unwind_Find_FDE) and its
 * reading of the CFI program, and keeps it in a per-thread table; a walk then costs a look-up and
 * two loads a frame. Anything else (a signal frame, expressions, the CFA in another register, code
 * outside every loaded object such as JIT code) is not modelled: the caller walks with libgcc.
 * The rules are dropped whenever the loader has loaded or unloaded an object since they were
 * worked out, so code mapped where other code was is never walked with a stale rule. */
#define _GNU_SOURCE
#include "unwind_cached.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 35)
#define HK_UNWIND_CACHED_SUPPORTED 1 /* _dl_find_object: is a code address in a loaded object */
#endif
#endif

enum {
    HK_UNWIND_RULE_EMPTY = 0,
    HK_UNWIND_RULE_STEP = 1,  /* the caller's frame is found with the rule */
    HK_UNWIND_RULE_END = 2,   /* the rule of an outermost frame (its return address undefined: _start, clone) */
    HK_UNWIND_RULE_CANNOT = 3 /* not modelled: walk with libgcc */
};

#ifdef HK_UNWIND_CACHED_SUPPORTED

/* x86-64 DWARF register numbers, and the return-address column. */
#define HK_DW_RBP 6
#define HK_DW_RSP 7
#define HK_DW_RA 16
/* Nested DW_CFA_remember_state a rule may use; compilers emit one or two. */
#define HK_CFI_STATES 8

/* How a register is recovered, as far as this walker follows it: the CFA, rbp and the return address. */
enum { HK_REG_SAME, HK_REG_OFFSET, HK_REG_UNDEFINED, HK_REG_OTHER };

typedef struct {
    uint64_t cfa_reg;
    int64_t cfa_offset;
    bool cfa_expression;
    int bp_how, ra_how;
    int64_t bp_offset, ra_offset;
} hk_cfi_row_t;

typedef struct {
    const uint8_t *p, *end;
    bool bad;
} hk_cfi_reader_t;

static uint8_t hk_cfi_u8(hk_cfi_reader_t *r) {
    if (r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

static uint64_t hk_cfi_uleb(hk_cfi_reader_t *r) {
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = hk_cfi_u8(r);
        if (r->bad || shift > 63) {
            r->bad = true;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
}

static int64_t hk_cfi_sleb(hk_cfi_reader_t *r) {
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = hk_cfi_u8(r);
        if (r->bad || shift > 63) {
            r->bad = true;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static uint64_t hk_cfi_fixed(hk_cfi_reader_t *r, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)hk_cfi_u8(r) << (8 * i);
    return v;
}

/* The size of a pointer in encoding `enc` as libgcc's size_of_encoded_value counts it (0: omitted;
 * SIZE_MAX: a variable-length or unknown one, not modelled). */
static size_t hk_cfi_encoded_size(uint8_t enc) {
    if (enc == 0xff) return 0; /* DW_EH_PE_omit */
    switch (enc & 0x07) {
    case 0x00: return sizeof(void *); /* absptr */
    case 0x02: return 2;
    case 0x03: return 4;
    case 0x04: return 8;
    default: return SIZE_MAX;
    }
}

/* The row's rule for register `reg` becomes "saved at CFA + offset" (or another rule). */
static void hk_cfi_set(hk_cfi_row_t *row, uint64_t reg, int how, int64_t offset) {
    if (reg == HK_DW_RBP) {
        row->bp_how = how;
        row->bp_offset = offset;
    } else if (reg == HK_DW_RA) {
        row->ra_how = how;
        row->ra_offset = offset;
    }
}

/* Run a CFI program as libgcc's execute_cfa_program does: while the location is below `limit`.
 * `initial` is the CIE's row, for DW_CFA_restore (NULL while running the CIE's own program).
 * Returns false on an instruction this walker does not model. */
static bool hk_cfi_run(hk_cfi_reader_t *r, uintptr_t *loc, uintptr_t limit, hk_cfi_row_t *row,
                       const hk_cfi_row_t *initial, uint64_t code_align, int64_t data_align) {
    hk_cfi_row_t saved[HK_CFI_STATES];
    size_t depth = 0;
    while (r->p < r->end && *loc < limit && !r->bad) {
        uint8_t op = hk_cfi_u8(r), low = op & 0x3f;
        uint64_t reg;
        switch (op & 0xc0) {
        case 0x40: /* DW_CFA_advance_loc */
            *loc += low * code_align;
            continue;
        case 0x80: /* DW_CFA_offset */
            hk_cfi_set(row, low, HK_REG_OFFSET, (int64_t)hk_cfi_uleb(r) * data_align);
            continue;
        case 0xc0: /* DW_CFA_restore */
            if (initial == NULL) return false;
            if (low == HK_DW_RBP) hk_cfi_set(row, low, initial->bp_how, initial->bp_offset);
            if (low == HK_DW_RA) hk_cfi_set(row, low, initial->ra_how, initial->ra_offset);
            continue;
        default: break;
        }
        switch (op) {
        case 0x00: break;                                     /* DW_CFA_nop */
        case 0x02: *loc += hk_cfi_fixed(r, 1) * code_align; break; /* DW_CFA_advance_loc1 */
        case 0x03: *loc += hk_cfi_fixed(r, 2) * code_align; break; /* DW_CFA_advance_loc2 */
        case 0x04: *loc += hk_cfi_fixed(r, 4) * code_align; break; /* DW_CFA_advance_loc4 */
        case 0x05: /* DW_CFA_offset_extended */
            reg = hk_cfi_uleb(r);
            hk_cfi_set(row, reg, HK_REG_OFFSET, (int64_t)hk_cfi_uleb(r) * data_align);
            break;
        case 0x06: /* DW_CFA_restore_extended */
            reg = hk_cfi_uleb(r);
            if (initial == NULL) return false;
            if (reg == HK_DW_RBP) hk_cfi_set(row, reg, initial->bp_how, initial->bp_offset);
            if (reg == HK_DW_RA) hk_cfi_set(row, reg, initial->ra_how, initial->ra_offset);
            break;
        case 0x07: /* DW_CFA_undefined: for rbp libgcc keeps the callee's value, as for same_value */
            reg = hk_cfi_uleb(r);
            hk_cfi_set(row, reg, reg == HK_DW_RA ? HK_REG_UNDEFINED : HK_REG_SAME, 0);
            break;
        case 0x08: /* DW_CFA_same_value */
            reg = hk_cfi_uleb(r);
            hk_cfi_set(row, reg, reg == HK_DW_RA ? HK_REG_OTHER : HK_REG_SAME, 0);
            break;
        case 0x09: /* DW_CFA_register */
            reg = hk_cfi_uleb(r);
            (void)hk_cfi_uleb(r);
            hk_cfi_set(row, reg, HK_REG_OTHER, 0);
            break;
        case 0x0a: /* DW_CFA_remember_state: the whole row, the CFA rule included */
            if (depth == HK_CFI_STATES) return false;
            saved[depth++] = *row;
            break;
        case 0x0b: /* DW_CFA_restore_state */
            if (depth == 0) return false;
            *row = saved[--depth];
            break;
        case 0x0c: /* DW_CFA_def_cfa */
            row->cfa_reg = hk_cfi_uleb(r);
            row->cfa_offset = (int64_t)hk_cfi_uleb(r);
            row->cfa_expression = false;
            break;
        case 0x0d: /* DW_CFA_def_cfa_register */
            row->cfa_reg = hk_cfi_uleb(r);
            row->cfa_expression = false;
            break;
        case 0x0e: /* DW_CFA_def_cfa_offset */
            row->cfa_offset = (int64_t)hk_cfi_uleb(r);
            break;
        case 0x0f: /* DW_CFA_def_cfa_expression */
            row->cfa_expression = true;
            r->p += hk_cfi_uleb(r);
            break;
        case 0x10: /* DW_CFA_expression */
        case 0x16: /* DW_CFA_val_expression */
            reg = hk_cfi_uleb(r);
            r->p += hk_cfi_uleb(r);
            hk_cfi_set(row, reg, HK_REG_OTHER, 0);
            break;
        case 0x11: /* DW_CFA_offset_extended_sf */
            reg = hk_cfi_uleb(r);
            hk_cfi_set(row, reg, HK_REG_OFFSET, hk_cfi_sleb(r) * data_align);
            break;
        case 0x12: /* DW_CFA_def_cfa_sf */
            row->cfa_reg = hk_cfi_uleb(r);
            row->cfa_offset = hk_cfi_sleb(r) * data_align;
            row->cfa_expression = false;
            break;
        case 0x13: /* DW_CFA_def_cfa_offset_sf */
            row->cfa_offset = hk_cfi_sleb(r) * data_align;
            break;
        case 0x14: /* DW_CFA_val_offset */
            reg = hk_cfi_uleb(r);
            (void)hk_cfi_uleb(r);
            hk_cfi_set(row, reg, HK_REG_OTHER, 0);
            break;
        case 0x15: /* DW_CFA_val_offset_sf */
            reg = hk_cfi_uleb(r);
            (void)hk_cfi_sleb(r);
            hk_cfi_set(row, reg, HK_REG_OTHER, 0);
            break;
        case 0x2e: /* DW_CFA_GNU_args_size: for landing pads only */
            (void)hk_cfi_uleb(r);
            break;
        case 0x2f: /* DW_CFA_GNU_negative_offset_extended */
            reg = hk_cfi_uleb(r);
            hk_cfi_set(row, reg, HK_REG_OFFSET, -(int64_t)hk_cfi_uleb(r) * data_align);
            break;
        default: return false; /* DW_CFA_set_loc, vendor extensions */
        }
    }
    return !r->bad && r->p <= r->end;
}

static uint32_t hk_cfi_u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Work out the rule for the frame whose return address is `pc` (the code address looked up is
 * pc - 1, the call instruction, as libgcc looks it up for a frame that is no signal frame). */
static void hk_unwind_rule_work_out(uintptr_t pc, hk_unwind_rule_t *rule) {
    *rule = (hk_unwind_rule_t){.pc = pc, .kind = HK_UNWIND_RULE_CANNOT};
    struct dl_find_object found;
    if (_dl_find_object((void *)(pc - 1), &found) != 0) return; /* JIT code, or no code at all */
    struct hk_dwarf_eh_bases bases;
    const uint8_t *fde = _Unwind_Find_FDE((void *)(pc - 1), &bases);
    if (fde == NULL) return;
    uint32_t fde_length = hk_cfi_u32_at(fde);
    if (fde_length == 0 || fde_length == UINT32_MAX) return;
    const uint8_t *cie = fde + 4 - hk_cfi_u32_at(fde + 4);
    uint32_t cie_length = hk_cfi_u32_at(cie);
    if (cie_length == 0 || cie_length == UINT32_MAX) return;
    hk_cfi_reader_t r = {.p = cie + 8, .end = cie + 4 + cie_length};
    uint8_t version = hk_cfi_u8(&r);
    if (version != 1 && version != 3) return;
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    if (aug_len == (size_t)(r.end - r.p)) return;
    r.p += aug_len + 1;
    uint64_t code_align = hk_cfi_uleb(&r);
    int64_t data_align = hk_cfi_sleb(&r);
    uint64_t ra_column = version == 1 ? hk_cfi_u8(&r) : hk_cfi_uleb(&r);
    if (ra_column != HK_DW_RA || r.bad) return;
    uint8_t fde_encoding = 0; /* DW_EH_PE_absptr */
    bool has_z = aug[0] == 'z';
    if (has_z) {
        uint64_t length = hk_cfi_uleb(&r);
        const uint8_t *data = r.p;
        for (const char *a = aug + 1; *a != '\0'; a++) {
            if (*a == 'R') fde_encoding = hk_cfi_u8(&r);
            else if (*a == 'L') (void)hk_cfi_u8(&r);
            else if (*a == 'P') {
                size_t n = hk_cfi_encoded_size(hk_cfi_u8(&r));
                if (n == SIZE_MAX) return;
                r.p += n;
            } else return; /* 'S' (a signal frame) and anything unknown */
        }
        r.p = data + length;
    } else if (aug[0] != '\0') {
        return;
    }
    if (r.bad || r.p > r.end) return;
    /* the CIE's program, then the FDE's, from the function's start up to the call */
    hk_cfi_row_t row = {.bp_how = HK_REG_SAME, .ra_how = HK_REG_SAME};
    uintptr_t loc = (uintptr_t)bases.func;
    if (!hk_cfi_run(&r, &loc, pc, &row, NULL, code_align, data_align)) return;
    hk_cfi_row_t initial = row;
    size_t pointer = hk_cfi_encoded_size(fde_encoding);
    if (pointer == SIZE_MAX) return;
    r = (hk_cfi_reader_t){.p = fde + 8 + 2 * pointer, .end = fde + 4 + fde_length};
    if (has_z) {
        uint64_t length = hk_cfi_uleb(&r);
        r.p += length;
    }
    if (r.bad || r.p > r.end || !hk_cfi_run(&r, &loc, pc, &row, &initial, code_align, data_align)) return;
    if (row.cfa_expression || (row.cfa_reg != HK_DW_RSP && row.cfa_reg != HK_DW_RBP)) return;
    if (row.ra_how != HK_REG_UNDEFINED && (row.ra_how != HK_REG_OFFSET || row.ra_offset != -(int64_t)sizeof(uintptr_t)))
        return;
    if (row.cfa_offset < INT32_MIN || row.cfa_offset > INT32_MAX) return;
    if (row.bp_how == HK_REG_OFFSET) {
        if (row.bp_offset == 0 || row.bp_offset < INT16_MIN || row.bp_offset > INT16_MAX) return;
        rule->bp_offset = (int16_t)row.bp_offset;
    } else if (row.bp_how != HK_REG_SAME) {
        return;
    }
    rule->cfa_offset = (int32_t)row.cfa_offset;
    rule->cfa_on_bp = row.cfa_reg == HK_DW_RBP;
    rule->kind = row.ra_how == HK_REG_UNDEFINED ? HK_UNWIND_RULE_END : HK_UNWIND_RULE_STEP;
}

static const hk_unwind_rule_t *hk_unwind_rule(hk_unwind_cache_t *cache, uintptr_t pc) {
    hk_unwind_rule_t *rule = &cache->rules[(pc * HK_GOLDEN_RATIO_64) >> (64 - HK_UNWIND_RULES_SHIFT)];
    if (rule->pc != pc) hk_unwind_rule_work_out(pc, rule);
    return rule;
}

/* Drop every rule: the table's whole pages go back to the kernel (zero pages again, touched again
 * only as rules are worked out), its ragged ends are cleared. A memset would make all 32 pages of
 * every thread's table resident after each dlopen or dlclose (python importing its modules). The
 * table lives in hk_meta_map's private anonymous memory, which reads as zeros once given back. */
static void hk_unwind_rules_clear(hk_unwind_cache_t *cache) {
    size_t ps = hk_os_page_size();
    uintptr_t lo = (uintptr_t)cache->rules, hi = lo + sizeof cache->rules;
    uintptr_t whole_lo = hk_align_up(lo, ps), whole_hi = hi & ~(uintptr_t)(ps - 1);
    memset((void *)lo, 0, whole_lo - lo);
    memset((void *)whole_hi, 0, hi - whole_hi);
    if (whole_hi > whole_lo) hk_os_hollow((void *)whole_lo, whole_hi - whole_lo);
}

/* Reads the stack it walks, saved slots of other functions' frames included. */
__attribute__((noinline, no_sanitize("address", "thread", "undefined"))) bool
hk_unwind_cached(hk_unwind_cache_t *cache, unsigned long long generation, hk_unwind_frame_fn fn, void *arg) {
    uintptr_t pc, sp, bp;
    /* This function's own registers at the label: rbp first, in case the compiler gave an output
     * the register rbp (it may, without a frame pointer). The rule of the code at the label is
     * the one in force throughout the statement. */
    __asm__ volatile("mov %%rbp, %2\n\tmov %%rsp, %1\n\tlea 0f(%%rip), %0\n0:" : "=r"(pc), "=r"(sp), "=r"(bp));
    if (generation == 0) return false; /* a loader that does not count: the rules could go stale */
    if (generation != cache->generation) {
        /* a fresh table (generation 0) is fresh zero pages: clearing it would touch all of them
         * in every new thread (a thread that lives for a few allocations pays for it) */
        if (cache->generation != 0) hk_unwind_rules_clear(cache);
        cache->generation = generation;
    }
    /* The label is no return address: its rule is asked for as if one followed it. */
    const hk_unwind_rule_t *rule = hk_unwind_rule(cache, pc + 1);
    for (bool first = true;; first = false) {
        if (!first) {
            if (pc == 0) { /* what some outermost frames leave: the walk ends, the frame told */
                fn(pc, sp, arg);
                return true;
            }
            rule = hk_unwind_rule(cache, pc);
        }
        if (rule->kind != HK_UNWIND_RULE_STEP && rule->kind != HK_UNWIND_RULE_END) return false;
        if (!first && !fn(pc, sp, arg)) return true;
        uintptr_t cfa = (rule->cfa_on_bp ? bp : sp) + (uintptr_t)(intptr_t)rule->cfa_offset;
        if (rule->bp_offset != 0) bp = *(const uintptr_t *)(cfa + (uintptr_t)(intptr_t)rule->bp_offset);
        /* The outermost frame's return address is undefined: libgcc then tells one frame more, at
         * address 0 with this frame's CFA, and stops. */
        pc = rule->kind == HK_UNWIND_RULE_END ? 0 : *(const uintptr_t *)(cfa - sizeof(uintptr_t));
        sp = cfa;
    }
}

#else /* not x86-64 with glibc 2.35 or later: every walk is libgcc's */

bool hk_unwind_cached(hk_unwind_cache_t *cache, unsigned long long generation, hk_unwind_frame_fn fn, void *arg) {
    (void)cache;
    (void)generation;
    (void)fn;
    (void)arg;
    return false;
}

#endif
