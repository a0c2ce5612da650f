/* partial_held.c — the compressed debug info of a file (libc's separate debug file, where libc6-dbg
 * is installed) is kept only where the units asked for are (tools/dwarf_partial.c): for addresses
 * spread over the file's code, asked for from its end back to its start, each answered, the bytes
 * of .debug_info kept stay under half of the furthest unit's offset, which is what reading the
 * section as a prefix up to that unit would keep. (That the answers are the ones libdwfl gives is
 * partial_vs_whole's test.) Usage: partial_held FILE (77: no such debug file). */
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "dwarf_partial.h"

/* The file's separate debug file by build-id, as symbolize.c looks for it. */
static bool debug_file_of(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY);
    Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    bool found = false;
    for (Elf_Scn *scn = NULL; elf != NULL && !found && (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr sh;
        Elf_Data *data = gelf_getshdr(scn, &sh) != NULL && sh.sh_type == SHT_NOTE ? elf_getdata(scn, NULL) : NULL;
        GElf_Nhdr note;
        size_t name_at, desc_at;
        for (size_t at = 0; data != NULL && !found && (at = gelf_getnote(data, at, &note, &name_at, &desc_at)) > 0;) {
            if (note.n_type != NT_GNU_BUILD_ID || note.n_descsz < 2)
                continue;
            const unsigned char *id = (const unsigned char *)data->d_buf + desc_at;
            int n = snprintf(out, size, "/usr/lib/debug/.build-id/%02x/", id[0]);
            for (size_t i = 1; i < note.n_descsz && n > 0 && (size_t)n < size; i++)
                n += snprintf(out + n, size - (size_t)n, "%02x", id[i]);
            found = n > 0 && (size_t)n + sizeof ".debug" <= size;
            if (found)
                memcpy(out + n, ".debug", sizeof ".debug");
        }
    }
    if (elf != NULL)
        elf_end(elf);
    if (fd >= 0)
        close(fd);
    return found;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: partial_held FILE\n");
        return 2;
    }
    elf_version(EV_CURRENT);
    char debug[512];
    struct dwarf_partial *p = debug_file_of(argv[1], debug, sizeof debug) ? dwarf_partial_open(debug) : NULL;
    if (p == NULL) {
        printf("partial_held: no compressed separate debug info for %s: skipped\n", argv[1]);
        return 77;
    }
    /* the code's span, from the file itself */
    int fd = open(argv[1], O_RDONLY);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    GElf_Addr lo = 0, hi = 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) != NULL && (sh.sh_flags & SHF_EXECINSTR) && sh.sh_size > hi - lo) {
            lo = sh.sh_addr;
            hi = sh.sh_addr + sh.sh_size;
        }
    }
    elf_end(elf);
    close(fd);
    size_t asked = 0, answered = 0;
    Dwarf_Off furthest = 0;
    for (int k = 7; k >= 0; k--) {
        Dwarf_Die cu;
        Dwarf *dw;
        /* the first address from here on that a unit holds */
        for (GElf_Addr a = lo + (hi - lo) / 8 * (GElf_Addr)k, end = a + (hi - lo) / 8; a < end; a += 64) {
            if (!dwarf_partial_cu(p, a, &cu, &dw))
                continue;
            answered++;
            if (dwarf_dieoffset(&cu) > furthest)
                furthest = dwarf_dieoffset(&cu);
            break;
        }
        asked++;
    }
    size_t held = dwarf_partial_info_held(p);
    dwarf_partial_close(p);
    printf("partial_held: %zu of %zu spans answered, furthest unit at %llu, %zu bytes of .debug_info held\n",
           answered, asked, (unsigned long long)furthest, held);
    return answered == asked && furthest > 0 && held < furthest / 2 ? 0 : 1;
}
