/* symbolize.h — offline symbolization for the `heapkit` command: an address inside an ELF file
 * (a module path and an address relative to its load bias) becomes function, source file and line,
 * with inlined calls as frames of their own. Built on elfutils' libdwfl; results are cached. */
#ifndef HK_TOOLS_SYMBOLIZE_H
#define HK_TOOLS_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One source-level frame. Strings live as long as the symbolizer. */
struct sym_frame {
    const char *function; /* NULL when unknown */
    const char *file;     /* source file as the debug info names it; NULL when unknown */
    unsigned line;        /* 0 when unknown */
    uint64_t offset;      /* address - start of the function's symbol (outermost frame only) */
    bool inlined;         /* inlined into the next frame: same machine address */
    bool exported;        /* the symbol is global or weak: a public entry point of its module */
};

struct symbolizer;

struct symbolizer *symbolizer_new(void);
/* The same, reading compressed debug info whole through libdwfl as it was read before prefixes:
 * the reference the tests compare the prefix reader (dwarf_partial.c) with. */
struct symbolizer *symbolizer_new_whole(void);
void symbolizer_free(struct symbolizer *s);

/* The frames of the code at `addr` in the ELF file `module` (an ELF virtual address: what the
 * raw leak report stores, an address relative to the module's load bias), innermost inlined
 * call first. Returns how many (0 when the file or its symbols cannot be read); *frames stays
 * valid as long as the symbolizer. For a return address pass the address of the call, addr - 1. */
size_t symbolize(struct symbolizer *s, const char *module, uint64_t addr, const struct sym_frame **frames);

/* Why `module` could not be read, or NULL if it could (or was never asked for). */
const char *symbolizer_module_error(struct symbolizer *s, const char *module);

#endif
