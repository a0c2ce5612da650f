/* partial_vs_whole.c — the symbolizer reading compressed debug info by prefix (tools/dwarf_partial.c)
 * against the same symbolizer reading it whole through libdwfl: for addresses spread through every
 * executable section of each file (in an order that jumps back and forth, as stacks do), the same
 * frames: functions, files, lines, inlined calls. Files without compressed separate debug info
 * take the same path both ways (checked all the same). Usage: partial_vs_whole FILE... */
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symbolize.h"

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int main(int argc, char **argv)
{
    elf_version(EV_CURRENT);
    size_t files = 0, checked = 0, named = 0, wrong = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
        if (elf == NULL) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        files++;
        struct symbolizer *partial = symbolizer_new(), *whole = symbolizer_new_whole();
        for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn)) {
            GElf_Shdr sh;
            if (gelf_getshdr(scn, &sh) == NULL || !(sh.sh_flags & SHF_EXECINSTR) || sh.sh_size == 0)
                continue;
            /* 600 addresses, visited from both ends towards the middle */
            GElf_Addr step = sh.sh_size / 600 + 1, n = sh.sh_size / step;
            for (GElf_Addr k = 0; k < n; k++) {
                GElf_Addr a = sh.sh_addr + step * (k % 2 == 0 ? k / 2 : n - 1 - k / 2);
                const struct sym_frame *fp, *fw;
                size_t np = symbolize(partial, argv[i], a, &fp), nw = symbolize(whole, argv[i], a, &fw);
                checked++;
                named += nw > 0 && fw[0].file != NULL;
                bool same = np == nw;
                for (size_t f = 0; same && f < np; f++)
                    same = same_string(fp[f].function, fw[f].function) && same_string(fp[f].file, fw[f].file) &&
                           fp[f].line == fw[f].line && fp[f].inlined == fw[f].inlined && fp[f].offset == fw[f].offset;
                if (!same && wrong++ < 20)
                    fprintf(stderr, "%s+%#llx: by prefix %zu frames (%s %s:%u), whole %zu (%s %s:%u)\n", argv[i],
                            (unsigned long long)a, np, np ? fp[0].function : "-", np ? fp[0].file : "-",
                            np ? fp[0].line : 0, nw, nw ? fw[0].function : "-", nw ? fw[0].file : "-",
                            nw ? fw[0].line : 0);
            }
        }
        symbolizer_free(partial);
        symbolizer_free(whole);
        elf_end(elf);
        close(fd);
    }
    printf("partial_vs_whole: %zu files, %zu addresses (%zu with a source line), %zu differ\n", files, checked, named,
           wrong);
    return files == 0 ? 77 : wrong != 0;
}
