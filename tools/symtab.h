/* symtab.h — a module's symbol table read once and sorted by address, for the symbolizer:
 * libdwfl's dwfl_module_addrinfo searches every symbol on each call (and reads each through
 * section lookups), which made symbolizing a report with libc's 10,000 symbols cost more than
 * the program; this answers the same question by binary search, with libdwfl's own choice. */
#ifndef HK_TOOLS_SYMTAB_H
#define HK_TOOLS_SYMTAB_H

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>

struct symtab_entry {
    GElf_Addr value; /* the symbol's address in the module (as dwfl_module_getsym_info gives it) */
    GElf_Xword size;
    const char *name; /* points into libelf's data */
    int index;        /* in dwfl's symbol numbering: the order libdwfl searches in */
    unsigned char info, other;
    GElf_Section shndx; /* st_shndx */
};

/* libdwfl's answer for an address no sized symbol holds, which depends only on the symbols that
 * start at or below it and on the section it is in: one per gap between two symbols' starts. */
struct symtab_gap {
    bool known;
    size_t section;   /* the section the answer is for (index + 1, 0 = none) */
    const char *name; /* NULL: no symbol */
    GElf_Sym sym;
    GElf_Addr value; /* the symbol's address: offset = addr - value */
};

struct symtab {
    struct symtab_entry *entries; /* sorted by value, then index */
    size_t count;
    struct symtab_gap *gaps; /* count + 1, by the first entry above the address; made on first use */
    GElf_Shdr *sections;     /* the module's section headers, in file order (as libdwfl looks) */
    size_t section_count;
    GElf_Xword max_size; /* the largest st_size: how far back a symbol can start and still hold an address */
    int first_global;
};

/* Whether the ELF file has a section of that name. */
bool elf_has_section(Elf *elf, const char *wanted);

/* Reads the module's symbols (libdwfl's numbering, the same it searches). */
void symtab_load(struct symtab *t, Dwfl_Module *mod);
void symtab_free(struct symtab *t);

/* What dwfl_module_addrinfo(mod, addr, ...) answers: the symbol's name (NULL when none), its
 * offset to addr and the symbol itself. */
const char *symtab_addrinfo(struct symtab *t, Dwfl_Module *mod, GElf_Addr addr, GElf_Off *offset,
                            GElf_Sym *sym);

/* The symbols whose address is `start`, in dwfl's order: *first is the first of them, and
 * the count is returned (0 when none). */
size_t symtab_at(const struct symtab *t, GElf_Addr start, const struct symtab_entry **first);

#endif
