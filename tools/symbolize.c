/* symbolize.c — the `heapkit` command's symbolizer: libdwfl over each ELF file, offline.
 * Every module gets a Dwfl session of its own with the file placed at its ELF virtual addresses
 * (bias 0), so the addresses of the raw report, already relative to the load bias, are looked up
 * as they are, whatever the process's ASLR layout was. Separate debug info is found the standard
 * way (build-id under /usr/lib/debug, .gnu_debuglink). Inlined calls become frames of their own,
 * from the DWARF scope chain (as eu-addr2line -i does). Modules and addresses are cached; the
 * strings handed out point into libdw's data, which lives until symbolizer_free.
 * libdwfl finds an address's compile unit through .debug_aranges, which clang does not emit by
 * default; for such files a table of every CU's address ranges is built once and searched.
 * C++ names are demangled (libstdc++'s __cxa_demangle, the ABI's own demangler, linked into the
 * command only): a function's linkage name from the debug info (namespace, class, parameters:
 * `ns::Cache::put(int)`, as Valgrind and gdb print them), else its symbol. */
#define _GNU_SOURCE
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dwarf_partial.h"
#include "symtab.h"
#include "xalloc.h"

/* Inline nesting deeper than this is cut (the outer frames are kept by the caller's stack). */
#define SYM_INLINE_MAX 32

struct cu_range { /* [lo, hi) of one compile unit, in DWARF addresses */
    Dwarf_Addr lo, hi;
    Dwarf_Die cu;
};

struct sym_module {
    char *path;
    Dwfl *dwfl; /* NULL when the file could not be read */
    Dwfl_Module *mod;
    char *error;
    bool ranges_built;
    struct cu_range *ranges; /* sorted by lo; built on the first address aranges miss */
    size_t range_count;
    Dwarf_Addr ranges_bias;
    struct symtab symtab; /* read on the first address */
    bool symtab_loaded;
    bool dwarf_chosen;
    struct dwarf_partial *partial; /* compressed debug info, read by prefix; NULL: libdwfl reads it */
};

struct sym_entry { /* one cached address; module == 0 marks a free slot */
    size_t module;  /* index + 1 */
    uint64_t addr;
    size_t count;
    struct sym_frame *frames;
};

struct symbolizer {
    char **demangled; /* names made or copied here (the rest point into libelf's and libdw's data) */
    size_t demangled_count, demangled_cap;
    struct sym_module *modules;
    size_t module_count, module_cap;
    size_t last_module; /* index + 1 of the module asked for last: stacks repeat modules */
    struct sym_entry *table;
    size_t table_cap, table_used;
    bool whole; /* never read debug info by prefix */
};

struct symbolizer *symbolizer_new(void)
{
    return xcalloc(1, sizeof(struct symbolizer));
}

struct symbolizer *symbolizer_new_whole(void)
{
    struct symbolizer *s = symbolizer_new();
    s->whole = true;
    return s;
}

void symbolizer_free(struct symbolizer *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->table_cap; i++)
        free(s->table[i].frames);
    free(s->table);
    for (size_t i = 0; i < s->module_count; i++) {
        if (s->modules[i].dwfl != NULL)
            dwfl_end(s->modules[i].dwfl);
        free(s->modules[i].path);
        free(s->modules[i].error);
        free(s->modules[i].ranges);
        symtab_free(&s->modules[i].symtab);
        dwarf_partial_close(s->modules[i].partial);
    }
    free(s->modules);
    for (size_t i = 0; i < s->demangled_count; i++)
        free(s->demangled[i]);
    free(s->demangled);
    free(s);
}

/* The C++ ABI's demangler (libstdc++; declared here: the command is C). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

static const char *keep(struct symbolizer *s, char *owned)
{
    if (s->demangled_count == s->demangled_cap) {
        s->demangled_cap = s->demangled_cap ? 2 * s->demangled_cap : 64;
        s->demangled = xrealloc(s->demangled, s->demangled_cap * sizeof *s->demangled);
    }
    s->demangled[s->demangled_count++] = owned;
    return owned;
}

/* `name` demangled when it is a mangled C++ name, else `name` itself. */
static const char *demangle(struct symbolizer *s, const char *name)
{
    if (name == NULL || strncmp(name, "_Z", 2) != 0)
        return name;
    int status = 0;
    char *plain = __cxa_demangle(name, NULL, NULL, &status);
    if (plain == NULL || status != 0) {
        free(plain);
        return name;
    }
    return keep(s, plain);
}

/* --- modules ---------------------------------------------------------------------------- */

static bool file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

/* Where the build-id says the module's separate debug file is (caller frees), or NULL. */
static char *build_id_debug_path(Dwfl_Module *mod)
{
    const unsigned char *bits;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(mod, &bits, &vaddr);
    if (len < 2)
        return NULL;
    char hex[2 * 64 + 1];
    if ((size_t)len > sizeof hex / 2)
        return NULL;
    for (int i = 0; i < len; i++)
        snprintf(hex + (ptrdiff_t)2 * i, 3, "%02x", bits[i]);
    return xasprintf("/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
}

/* libdwfl's standard search for separate debug info (build-id, then .gnu_debuglink in the file's
 * directory, its .debug/ and /usr/lib/debug), asked only when one of its places holds a file: when
 * it finds nothing it asks debuginfod, and libdwfl loads libdebuginfod (with libcurl and 30 more
 * libraries, 8 MB) for that even when no server is configured; a report never goes to the network. */
static int find_local_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                                const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                                char **debuginfo_file_name)
{
    char *by_id = build_id_debug_path(mod);
    bool local = by_id != NULL && file_exists(by_id);
    free(by_id);
    if (!local && debuglink_file != NULL) {
        if (debuglink_file[0] == '/') {
            local = file_exists(debuglink_file);
        } else {
            const char *slash = file_name != NULL ? strrchr(file_name, '/') : NULL;
            int dir_len = slash != NULL ? (int)(slash - file_name) : 0;
            const char *dir = slash != NULL ? file_name : "";
            char *places[3] = { xasprintf("%.*s/%s", dir_len, dir, debuglink_file),
                                xasprintf("%.*s/.debug/%s", dir_len, dir, debuglink_file),
                                xasprintf("/usr/lib/debug%.*s/%s", dir_len, dir, debuglink_file) };
            for (int i = 0; i < 3; i++) {
                /* the file itself is not its own debug file */
                local = local || (file_exists(places[i]) && (file_name == NULL || strcmp(places[i], file_name) != 0));
                free(places[i]);
            }
        }
    }
    if (!local)
        return -1;
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                        debuginfo_file_name);
}

/* Opens `path` in a session of its own. debuginfo_path NULL means the default search path
 * (":.debug:/usr/lib/debug"). */
static void module_open(struct sym_module *m)
{
    static const Dwfl_Callbacks callbacks = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = find_local_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = NULL,
    };
    if (m->path[0] != '/') {
        /* The kernel's vDSO ("linux-vdso.so.1") and the like: no file to read. */
        m->error = strdup("not a file");
        return;
    }
    /* Symbolizing must not reach the network: libdw would ask debuginfod servers for missing
     * debug info when DEBUGINFOD_URLS is set, stalling the report on each module. */
    unsetenv("DEBUGINFOD_URLS");
    m->dwfl = dwfl_begin(&callbacks);
    if (m->dwfl != NULL) {
        dwfl_report_begin(m->dwfl);
        /* ET_DYN: base 0 with add_p_vaddr places the file at its own p_vaddr; ET_EXEC is
         * always at its link addresses. Either way module addresses are ELF addresses. */
        m->mod = dwfl_report_elf(m->dwfl, m->path, m->path, -1, 0, true);
        dwfl_report_end(m->dwfl, NULL, NULL);
    }
    if (m->mod == NULL) {
        m->error = strdup(dwfl_errmsg(-1));
        if (m->dwfl != NULL)
            dwfl_end(m->dwfl);
        m->dwfl = NULL;
    }
}

static size_t module_index(struct symbolizer *s, const char *path)
{
    if (s->last_module != 0 && strcmp(s->modules[s->last_module - 1].path, path) == 0)
        return s->last_module - 1;
    for (size_t i = 0; i < s->module_count; i++)
        if (strcmp(s->modules[i].path, path) == 0) {
            s->last_module = i + 1;
            return i;
        }
    if (s->module_count == s->module_cap) {
        size_t cap = s->module_cap ? s->module_cap * 2 : 16;
        struct sym_module *grown = realloc(s->modules, cap * sizeof *grown);
        if (grown == NULL) {
            fputs("heapkit: out of memory\n", stderr);
            exit(1);
        }
        s->modules = grown;
        s->module_cap = cap;
    }
    struct sym_module *m = &s->modules[s->module_count];
    *m = (struct sym_module){ .path = strdup(path) };
    if (m->path == NULL) {
        fputs("heapkit: out of memory\n", stderr);
        exit(1);
    }
    module_open(m);
    s->last_module = ++s->module_count;
    return s->module_count - 1;
}

const char *symbolizer_module_error(struct symbolizer *s, const char *module)
{
    for (size_t i = 0; i < s->module_count; i++)
        if (strcmp(s->modules[i].path, module) == 0)
            return s->modules[i].error;
    return NULL;
}

/* --- one address ------------------------------------------------------------------------ */

static bool is_function_scope(Dwarf_Die *die)
{
    int tag = dwarf_tag(die);
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

static int range_cmp(const void *a, const void *b)
{
    Dwarf_Addr x = ((const struct cu_range *)a)->lo, y = ((const struct cu_range *)b)->lo;
    return (x > y) - (x < y);
}

/* Every CU's address ranges, from the CUs themselves (DW_AT_low_pc/high_pc or DW_AT_ranges). */
static void build_ranges(struct sym_module *m)
{
    size_t cap = 0;
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias = 0;
    m->ranges_built = true;
    while ((cu = dwfl_module_nextcu(m->mod, cu, &bias)) != NULL) {
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(cu, off, &base, &lo, &hi)) > 0) {
            if (m->range_count == cap) {
                cap = cap ? cap * 2 : 64;
                struct cu_range *grown = realloc(m->ranges, cap * sizeof *grown);
                if (grown == NULL) {
                    fputs("heapkit: out of memory\n", stderr);
                    exit(1);
                }
                m->ranges = grown;
            }
            m->ranges[m->range_count++] = (struct cu_range){ .lo = lo, .hi = hi, .cu = *cu };
        }
        m->ranges_bias = bias;
    }
    if (m->range_count > 1)
        qsort(m->ranges, m->range_count, sizeof *m->ranges, range_cmp);
}

/* Where the module's DWARF is read from, decided on its first address: compressed sections (the
 * file's own, else the separate debug file its build-id names, as libdwfl looks in that order)
 * by prefix, everything else by libdwfl. */
static void choose_dwarf(struct sym_module *m)
{
    m->dwarf_chosen = true;
    GElf_Addr bias;
    if (elf_has_section(dwfl_module_getelf(m->mod, &bias), ".debug_info")) {
        m->partial = dwarf_partial_open(m->path);
        return;
    }
    char *by_id = build_id_debug_path(m->mod);
    if (by_id != NULL && file_exists(by_id))
        m->partial = dwarf_partial_open(by_id);
    free(by_id);
}

/* The compile unit holding `addr`, the Dwarf it is in, and the bias from module to DWARF
 * addresses; *partial says whether it came from the prefix (else from libdwfl, which reads the
 * whole file: what an address outside .debug_aranges needs). */
static bool find_cu(struct sym_module *m, uint64_t addr, Dwarf_Die *cu, Dwarf_Addr *bias, Dwarf **dw, bool *partial)
{
    if (!m->dwarf_chosen)
        choose_dwarf(m);
    /* a separate debug file found by build-id has the module's own addresses */
    *bias = 0;
    *partial = m->partial != NULL && dwarf_partial_cu(m->partial, addr, cu, dw);
    if (*partial)
        return true;
    *dw = dwfl_module_getdwarf(m->mod, bias);
    Dwarf_Die *found = dwfl_module_addrdie(m->mod, addr, bias);
    if (found != NULL) {
        *cu = *found;
        return true;
    }
    if (!m->ranges_built)
        build_ranges(m);
    /* The last range starting at or below addr - bias; CUs do not overlap. */
    Dwarf_Addr pc = addr - m->ranges_bias;
    size_t lo = 0, hi = m->range_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->ranges[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || pc >= m->ranges[lo - 1].hi)
        return false;
    *cu = m->ranges[lo - 1].cu;
    *bias = m->ranges_bias;
    return true;
}

/* The chain of DIEs that contain `pc` (a DWARF address) in `cu`, innermost first, following the
 * DIE tree outwards (so an inlined call leads to the function it was inlined into, not to where
 * it was defined). Returns the count and a malloc'd array, or 0. */
static int scope_chain(Dwarf *dw, Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **chain)
{
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, pc, &scopes);
    if (n <= 0) {
        free(scopes);
        return 0;
    }
    /* dwarf_getscopes continues from an inlined instance into its abstract definition's scopes
     * (what variable lookup wants); the DIE tree of the innermost scope gives the call chain. */
    Dwarf_Die innermost;
    bool found = dw != NULL && dwarf_offdie(dw, dwarf_dieoffset(&scopes[0]), &innermost) != NULL;
    free(scopes);
    if (!found)
        return 0;
    n = dwarf_getscopes_die(&innermost, chain);
    if (n <= 0) {
        free(*chain);
        *chain = NULL;
        return 0;
    }
    return n;
}

/* The name of the function scope at or outside chain[from]; NULL if there is none. */
static const char *scope_function_name(Dwarf_Die *chain, int n, int from, int *at)
{
    for (int j = from; j < n; j++)
        if (is_function_scope(&chain[j])) {
            *at = j;
            /* a C++ function's linkage name (on its declaration or abstract origin), demangled later */
            Dwarf_Attribute attr;
            const char *linkage = dwarf_formstring(dwarf_attr_integrate(&chain[j], DW_AT_linkage_name, &attr));
            if (linkage == NULL)
                linkage = dwarf_formstring(dwarf_attr_integrate(&chain[j], DW_AT_MIPS_linkage_name, &attr));
            /* only a mangled one: C code's linkage names are internal aliases (glibc's __GI___strdup) */
            return linkage != NULL && strncmp(linkage, "_Z", 2) == 0 ? linkage : dwarf_diename(&chain[j]);
        }
    *at = n;
    return NULL;
}

static size_t leading_underscores(const char *name)
{
    return strspn(name, "_");
}

/* The name programs call a function by, where the debug info gives another: glibc's functions
 * are defined as __strdup, __getdelim or ___asprintf and exported under those and under the name
 * programs call (strdup, getdelim, asprintf), which is what people and Valgrind say; heapkit's
 * malloc is defined as hk_malloc and exported as malloc too. Among the exported functions at the
 * function's start `start`: for a name with leading underscores, the one with the fewest that is
 * the same name without them; for an hk_ name, the standard name it stands for. */
static const char *public_alias(const struct sym_module *m, const char *name, GElf_Addr start)
{
    bool underscored = name != NULL && name[0] == '_';
    bool heapkit = name != NULL && strncmp(name, "hk_", 3) == 0;
    if (!underscored && !heapkit)
        return name;
    const char *bare = heapkit ? name + 3 : name + leading_underscores(name);
    const struct symtab_entry *at;
    size_t n = symtab_at(&m->symtab, start, &at);
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *alias = at[i].name;
        int type = GELF_ST_TYPE(at[i].info), bind = GELF_ST_BIND(at[i].info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || (bind != STB_GLOBAL && bind != STB_WEAK) ||
            GELF_ST_VISIBILITY(at[i].other) != STV_DEFAULT)
            continue;
        if (heapkit ? strcmp(alias, bare) != 0 : strcmp(alias + leading_underscores(alias), bare) != 0)
            continue;
        if (best == NULL || leading_underscores(alias) < leading_underscores(best))
            best = alias;
    }
    return best != NULL ? best : name;
}

static size_t resolve(struct sym_module *m, uint64_t addr, struct sym_frame *out)
{
    GElf_Off offset = 0;
    GElf_Sym sym;
    if (!m->symtab_loaded) {
        symtab_load(&m->symtab, m->mod);
        m->symtab_loaded = true;
    }
    const char *symname = symtab_addrinfo(&m->symtab, m->mod, addr, &offset, &sym);
    bool exported = symname != NULL && GELF_ST_VISIBILITY(sym.st_other) == STV_DEFAULT &&
                    (GELF_ST_BIND(sym.st_info) == STB_GLOBAL || GELF_ST_BIND(sym.st_info) == STB_WEAK);

    /* The innermost frame's place is the line table's; each inlined call adds the frame it was
     * inlined into, placed at the call's DW_AT_call_file:DW_AT_call_line. */
    struct sym_frame first = { .function = NULL };
    int line = 0;
    Dwarf_Die cu;
    Dwarf_Addr bias = 0;
    Dwarf *dw = NULL;
    bool partial;
    bool have_cu = find_cu(m, addr, &cu, &bias, &dw, &partial);
    Dwfl_Line *l = partial ? NULL : dwfl_module_getsrc(m->mod, addr);
    if (l != NULL) {
        first.file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    } else if (have_cu) {
        Dwarf_Line *dl = dwarf_getsrc_die(&cu, addr - bias);
        if (dl != NULL && dwarf_lineno(dl, &line) == 0)
            first.file = dwarf_linesrc(dl, NULL, NULL);
    }
    first.line = first.file != NULL && line > 0 ? (unsigned)line : 0;
    size_t count = 0;
    Dwarf_Die *chain = NULL;
    int n = have_cu && dw != NULL ? scope_chain(dw, &cu, addr - bias, &chain) : 0;
    int at;
    first.function = scope_function_name(chain, n, 0, &at);
    out[count++] = first;
    Dwarf_Files *files = NULL;
    if (n > 0 && dwarf_getsrcfiles(&cu, &files, NULL) != 0)
        files = NULL;
    while (chain != NULL && at < n && dwarf_tag(&chain[at]) == DW_TAG_inlined_subroutine && count < SYM_INLINE_MAX) {
        Dwarf_Die *call = &chain[at];
        struct sym_frame caller = { .function = scope_function_name(chain, n, at + 1, &at) };
        Dwarf_Attribute attr;
        Dwarf_Word value;
        if (files != NULL && dwarf_formudata(dwarf_attr(call, DW_AT_call_file, &attr), &value) == 0)
            caller.file = dwarf_filesrc(files, value, NULL, NULL);
        if (dwarf_formudata(dwarf_attr(call, DW_AT_call_line, &attr), &value) == 0)
            caller.line = (unsigned)value;
        out[count - 1].inlined = true;
        out[count++] = caller;
    }
    free(chain);

    /* The outermost frame is the real, out-of-line function: the symbol table knows it even
     * without debug info, and its binding says whether it is a public entry point. */
    struct sym_frame *outer = &out[count - 1];
    if (symname != NULL) {
        if (outer->function == NULL)
            outer->function = symname;
        outer->function = public_alias(m, outer->function, addr - offset);
        outer->offset = offset;
        outer->exported = exported;
    }
    if (count == 1 && out[0].function == NULL && out[0].file == NULL)
        return 0;
    return count;
}

/* --- the address cache ------------------------------------------------------------------ */

static size_t slot_of(const struct symbolizer *s, size_t module, uint64_t addr)
{
    uint64_t h = (addr ^ ((uint64_t)module << 47)) * 0x9e3779b97f4a7c15ull;
    size_t mask = s->table_cap - 1;
    for (size_t i = (size_t)(h >> 20) & mask;; i = (i + 1) & mask) {
        const struct sym_entry *e = &s->table[i];
        if (e->module == 0 || (e->module == module && e->addr == addr))
            return i;
    }
}

static void table_grow(struct symbolizer *s)
{
    struct sym_entry *old = s->table;
    size_t old_cap = s->table_cap;
    s->table_cap = old_cap ? old_cap * 2 : 1024;
    s->table = xcalloc(s->table_cap, sizeof *s->table);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].module != 0)
            s->table[slot_of(s, old[i].module, old[i].addr)] = old[i];
    free(old);
}

size_t symbolize(struct symbolizer *s, const char *module, uint64_t addr, const struct sym_frame **frames)
{
    size_t index = module_index(s, module);
    if ((s->table_used + 1) * 2 > s->table_cap)
        table_grow(s);
    struct sym_entry *e = &s->table[slot_of(s, index + 1, addr)];
    if (e->module == 0) {
        struct sym_frame found[SYM_INLINE_MAX];
        struct sym_module *m = &s->modules[index];
        m->dwarf_chosen = m->dwarf_chosen || s->whole;
        size_t count = m->mod != NULL ? resolve(m, addr, found) : 0;
        for (size_t i = 0; i < count; i++) {
            /* names read from a partial image go with it when a later unit opens a longer one */
            if (m->partial != NULL && found[i].function != NULL)
                found[i].function = keep(s, xstrdup(found[i].function));
            if (m->partial != NULL && found[i].file != NULL)
                found[i].file = keep(s, xstrdup(found[i].file));
            found[i].function = demangle(s, found[i].function);
        }
        *e = (struct sym_entry){ .module = index + 1, .addr = addr, .count = count };
        if (count > 0) {
            e->frames = xcalloc(count, sizeof *e->frames);
            memcpy(e->frames, found, count * sizeof *found);
        }
        s->table_used++;
    }
    *frames = e->frames;
    return e->count;
}
