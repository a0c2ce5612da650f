/* symtab_vs_dwfl.c — the symbolizer's sorted symbol table (tools/symtab.c) against libdwfl's own
 * search, dwfl_module_addrinfo, on real ELF files: every symbol's first and last byte and the byte
 * before it, and addresses stepped through every executable section, must get the same symbol
 * (name, binding, visibility) and offset. Usage: symtab_vs_dwfl FILE... (missing files skipped). */
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symtab.h"

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static size_t checked, wrong;

static void compare(struct symtab *t, Dwfl_Module *mod, const char *path, GElf_Addr addr)
{
    GElf_Off off_a = 0, off_b = 0;
    GElf_Sym sym_a, sym_b;
    const char *a = symtab_addrinfo(t, mod, addr, &off_a, &sym_a);
    const char *b = dwfl_module_addrinfo(mod, addr, &off_b, &sym_b, NULL, NULL, NULL);
    checked++;
    bool same = (a == NULL) == (b == NULL);
    if (same && a != NULL)
        same = strcmp(a, b) == 0 && off_a == off_b && sym_a.st_info == sym_b.st_info &&
               GELF_ST_VISIBILITY(sym_a.st_other) == GELF_ST_VISIBILITY(sym_b.st_other);
    if (!same && wrong++ < 20)
        fprintf(stderr, "%s+%#llx: symtab says %s+%#llx, libdwfl %s+%#llx\n", path, (unsigned long long)addr,
                a ? a : "(none)", (unsigned long long)off_a, b ? b : "(none)", (unsigned long long)off_b);
}

int main(int argc, char **argv)
{
    unsetenv("DEBUGINFOD_URLS");
    size_t files = 0;
    for (int i = 1; i < argc; i++) {
        if (access(argv[i], R_OK) != 0)
            continue;
        Dwfl *dwfl = dwfl_begin(&callbacks);
        dwfl_report_begin(dwfl);
        Dwfl_Module *mod = dwfl_report_elf(dwfl, argv[i], argv[i], -1, 0, true);
        dwfl_report_end(dwfl, NULL, NULL);
        if (mod == NULL) {
            fprintf(stderr, "%s: %s\n", argv[i], dwfl_errmsg(-1));
            return 1;
        }
        files++;
        struct symtab t;
        symtab_load(&t, mod);
        /* every symbol of a small table, a spread of a big one's (libdwfl's search is linear) */
        size_t every = t.count / 3000 + 1;
        for (size_t k = 0; k < t.count; k += every) {
            GElf_Addr v = t.entries[k].value;
            compare(&t, mod, argv[i], v);
            if (v > 0)
                compare(&t, mod, argv[i], v - 1);
            if (t.entries[k].size > 1)
                compare(&t, mod, argv[i], v + t.entries[k].size - 1);
        }
        GElf_Addr bias;
        Elf *elf = dwfl_module_getelf(mod, &bias);
        for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn)) {
            GElf_Shdr sh;
            if (gelf_getshdr(scn, &sh) == NULL || !(sh.sh_flags & SHF_EXECINSTR) || sh.sh_size == 0)
                continue;
            GElf_Addr step = sh.sh_size / 1500 + 1;
            for (GElf_Addr a = sh.sh_addr; a < sh.sh_addr + sh.sh_size; a += step)
                compare(&t, mod, argv[i], a);
        }
        symtab_free(&t);
        dwfl_end(dwfl);
    }
    printf("symtab_vs_dwfl: %zu files, %zu addresses, %zu differ\n", files, checked, wrong);
    return files == 0 ? 77 : wrong != 0;
}
