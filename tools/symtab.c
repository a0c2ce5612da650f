/* symtab.c — a module's symbols read once through libdwfl, sorted by address, searched by
 * binary search with the choice libdwfl's own search makes (dwfl_module_addrinfo): among the
 * sized symbols that hold the address, the global ones first and the local ones only if no global
 * one does; in dwfl's order, a symbol replaces the one chosen so far if it starts closer to the
 * address or binds more strongly (global > weak > local), or starts at the same place, is smaller
 * and binds no less strongly. Where no sized symbol holds the address, a
 * sizeless one (an assembly label) can only be chosen if it starts after every other symbol below
 * the address has ended, so none is when the last symbol below it has a size; the other cases that
 * depend on sizeless symbols, and modules with a minidebuginfo table, are left to libdwfl itself
 * (once per gap between symbols), so the answer is always the one dwfl_module_addrinfo gives. */
#include "symtab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

/* Candidates held at once; more (nested symbols over one address) is left to libdwfl. */
#define SYMTAB_CANDIDATES_MAX 32

/* Sorts by value, equal values in the order they came (dwfl's): a stable radix sort, a byte at a
 * time from the lowest, skipping bytes all values share (qsort's merge sort of 48-byte entries
 * cost more than reading them: 35 M instructions for a report's 41,000 symbols). */
static void sort_by_value(struct symtab_entry *e, size_t n)
{
    struct symtab_entry *tmp = xcalloc(n ? n : 1, sizeof *tmp), *from = e, *to = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[((from[i].value >> shift) & 0xff) + 1]++;
        bool one_bucket = false;
        for (int b = 1; b <= 256 && !one_bucket; b++)
            one_bucket = count[b] == n;
        if (one_bucket)
            continue;
        for (int b = 1; b <= 256; b++)
            count[b] += count[b - 1];
        for (size_t i = 0; i < n; i++)
            to[count[(from[i].value >> shift) & 0xff]++] = from[i];
        struct symtab_entry *t = from;
        from = to;
        to = t;
    }
    if (from != e)
        memcpy(e, from, n * sizeof *e);
    free(tmp);
}

/* Symbols libdwfl's address search looks at (named, defined, not a section, file or TLS symbol). */
static bool searched(const GElf_Sym *sym, const char *name)
{
    int type = GELF_ST_TYPE(sym->st_info);
    return name != NULL && name[0] != '\0' && sym->st_shndx != SHN_UNDEF && type != STT_SECTION &&
           type != STT_FILE && type != STT_TLS;
}

bool elf_has_section(Elf *elf, const char *wanted)
{
    size_t shstrndx;
    if (elf == NULL || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return false;
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr shdr;
        const char *name = gelf_getshdr(scn, &shdr) != NULL ? elf_strptr(elf, shstrndx, shdr.sh_name) : NULL;
        if (name != NULL && strcmp(name, wanted) == 0)
            return true;
    }
    return false;
}

void symtab_load(struct symtab *t, Dwfl_Module *mod)
{
    *t = (struct symtab){ .first_global = -1 };
    int n = dwfl_module_getsymtab(mod);
    GElf_Addr bias;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    /* A minidebuginfo table (.gnu_debugdata) is a second symbol table libdwfl searches in an order
     * of its own; such modules are left to it. */
    if (n <= 1 || elf_has_section(elf, ".gnu_debugdata"))
        return;
    t->first_global = dwfl_module_getsymtab_first_global(mod);
    t->entries = xcalloc((size_t)n, sizeof *t->entries);
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, NULL, NULL, NULL);
        if (!searched(&sym, name))
            continue;
        t->entries[t->count++] = (struct symtab_entry){ .value = value, .size = sym.st_size, .name = name,
                                                        .index = i, .info = sym.st_info, .other = sym.st_other,
                                                        .shndx = sym.st_shndx };
        if (sym.st_size > t->max_size)
            t->max_size = sym.st_size;
    }
    sort_by_value(t->entries, t->count);
    size_t shnum = 0;
    if (elf != NULL && elf_getshdrnum(elf, &shnum) == 0 && shnum > 0) {
        t->sections = xcalloc(shnum, sizeof *t->sections);
        for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn))
            if (gelf_getshdr(scn, &t->sections[t->section_count]) != NULL)
                t->section_count++;
    }
}

/* The first section (in file order) whose addresses hold addr, index + 1; 0 when none. */
static size_t section_of(const struct symtab *t, GElf_Addr addr)
{
    for (size_t i = 0; i < t->section_count; i++)
        if (addr >= t->sections[i].sh_addr && addr - t->sections[i].sh_addr < t->sections[i].sh_size)
            return i + 1;
    return 0;
}

void symtab_free(struct symtab *t)
{
    free(t->entries);
    free(t->gaps);
    free(t->sections);
    *t = (struct symtab){ 0 };
}

/* The first entry whose value is above `addr`. */
static size_t upper_bound(const struct symtab *t, GElf_Addr addr)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->entries[mid].value <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int binding_rank(unsigned char info)
{
    switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
        return 3;
    case STB_WEAK:
        return 2;
    case STB_LOCAL:
        return 1;
    default:
        return 0;
    }
}

/* libdwfl's choice among the candidates (all sized, all holding the address) whose index is in
 * [from, to), taken in index order. */
static const struct symtab_entry *choose(const struct symtab_entry *const *cand, size_t n, int from, int to)
{
    const struct symtab_entry *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct symtab_entry *c = cand[i];
        if (c->index < from || c->index >= to)
            continue;
        bool closer = best == NULL || best->value < c->value || binding_rank(best->info) < binding_rank(c->info);
        bool smaller = best != NULL && best->value == c->value && best->size > c->size &&
                       binding_rank(best->info) <= binding_rank(c->info);
        if (closer || smaller)
            best = c;
    }
    return best;
}

const char *symtab_addrinfo(struct symtab *t, Dwfl_Module *mod, GElf_Addr addr, GElf_Off *offset,
                            GElf_Sym *sym)
{
    const struct symtab_entry *cand[SYMTAB_CANDIDATES_MAX];
    size_t n = 0, bound = upper_bound(t, addr);
    bool exact = t->count > 0;
    for (size_t j = bound; exact && j-- > 0;) {
        const struct symtab_entry *e = &t->entries[j];
        if (addr - e->value > t->max_size)
            break; /* no symbol starting this far back is big enough to hold addr */
        if (e->size == 0) {
            exact = e->value != addr; /* a label at the address itself: libdwfl's sizeless rules */
            continue;
        }
        if (addr - e->value >= e->size)
            continue;
        if (n == SYMTAB_CANDIDATES_MAX)
            exact = false;
        else
            cand[n++] = e;
    }
    const struct symtab_entry *best = NULL;
    if (exact && n > 0) {
        for (size_t i = 1; i < n; i++) /* a few candidates: into dwfl's (index) order */
            for (size_t j = i; j > 0 && cand[j - 1]->index > cand[j]->index; j--) {
                const struct symtab_entry *swap = cand[j];
                cand[j] = cand[j - 1];
                cand[j - 1] = swap;
            }
        int globals = t->first_global > 0 ? t->first_global : 0;
        best = choose(cand, n, globals, (int)((unsigned)-1 >> 1));
        if (best == NULL && t->first_global > 1)
            best = choose(cand, n, 0, t->first_global);
    }
    if (best == NULL && exact && (bound == 0 || t->entries[bound - 1].size != 0)) {
        /* No sized symbol holds it, and none but sized ones start between the last sized one and
         * it: libdwfl takes a sizeless symbol (a label) only if it starts at or after the end of
         * every symbol that starts before the address, so it finds none either. */
        return NULL;
    }
    if (best == NULL && exact) {
        /* no sized symbol holds it: only sizeless ones might, as libdwfl decides, and it decides
         * alike for every such address of one gap and section (a stripped program's are many) */
        if (t->gaps == NULL)
            t->gaps = xcalloc(t->count + 1, sizeof *t->gaps);
        struct symtab_gap *g = &t->gaps[bound];
        size_t section = section_of(t, addr);
        if (!g->known || g->section != section) {
            GElf_Off off = 0;
            *g = (struct symtab_gap){ .known = true, .section = section };
            g->name = dwfl_module_addrinfo(mod, addr, &off, &g->sym, NULL, NULL, NULL);
            g->value = addr - off;
        }
        *offset = addr - g->value;
        *sym = g->sym;
        return g->name;
    }
    if (best == NULL)
        return dwfl_module_addrinfo(mod, addr, offset, sym, NULL, NULL, NULL);
    *offset = addr - best->value;
    *sym = (GElf_Sym){ .st_value = best->value, .st_size = best->size, .st_info = best->info,
                       .st_other = best->other, .st_shndx = best->shndx };
    return best->name;
}

size_t symtab_at(const struct symtab *t, GElf_Addr start, const struct symtab_entry **first)
{
    size_t end = upper_bound(t, start), begin = end;
    while (begin > 0 && t->entries[begin - 1].value == start)
        begin--;
    *first = begin < end ? &t->entries[begin] : NULL;
    return end - begin;
}
