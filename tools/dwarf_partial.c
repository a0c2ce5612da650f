/* dwarf_partial.c — compressed DWARF read as far as needed. The compile unit of an address comes
 * from .debug_aranges (small, inflated whole); each compressed section is one zlib stream, inflated
 * from its start only as far as the units asked for reach (.debug_info to the unit's end,
 * .debug_abbrev to the end of its table, .debug_line to the end of its line table), growing by
 * at least half each time so that a report opens few prefixes. The small sections a unit may point
 * anywhere into (strings, ranges, addresses) are inflated whole. Each section is inflated in place
 * into its slot of an uncompressed ELF image in memory, an anonymous mapping as large as the whole
 * file inflated, of which only the pages written become resident; libdw opens the image
 * (elf_memory) with each section as long as its prefix, and reads DWARF as usual, but only what is
 * there. A longer prefix reopens the image, so what libdw made before is gone (the symbolizer
 * copies the names it keeps). Little-endian ELF64 only; anything else returns NULL at open and is
 * read whole by libdw. */
#include "dwarf_partial.h"

#include <dwarf.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include "xalloc.h"

enum {
    SEC_INFO,
    SEC_ABBREV,
    SEC_LINE,
    SEC_ARANGES,
    SEC_STR,
    SEC_LINE_STR,
    SEC_STR_OFFSETS,
    SEC_ADDR,
    SEC_RNGLISTS,
    SEC_RANGES,
    SEC_COUNT
};
/* Sections from SEC_ARANGES on are inflated whole; the first three by prefix. */
#define SEC_FIRST_WHOLE SEC_ARANGES

static const char *const section_names[SEC_COUNT] = {
    ".debug_info", ".debug_abbrev", ".debug_line", ".debug_aranges", ".debug_str",
    ".debug_line_str", ".debug_str_offsets", ".debug_addr", ".debug_rnglists", ".debug_ranges",
};

/* The smallest step a prefix grows by: a unit is a few KB, and each step costs an image. */
#define PREFIX_STEP_MIN ((size_t)64 * 1024)

struct psection {
    bool present;
    const unsigned char *plain; /* an uncompressed section's bytes, in libelf's mapping */
    size_t size;                /* the section's whole (inflated) size */
    size_t slot;                /* where it is in the image */
    unsigned char *out;         /* its slot: the inflated (or copied) prefix */
    size_t out_len;
    z_stream z;
    bool z_open, failed;
};

struct arange {
    uint64_t lo, hi, cu; /* [lo, hi) is in the unit at .debug_info offset cu */
};

struct dwarf_partial {
    int fd;
    Elf *elf;
    unsigned char ident[EI_NIDENT];
    uint16_t type, machine;
    struct psection sec[SEC_COUNT];
    struct arange *aranges;
    size_t arange_count;
    size_t imaged[SEC_COUNT]; /* the bytes of each section in the current image */
    unsigned char *image;     /* an anonymous mapping of image_size bytes */
    size_t image_size, shdrs_at;
    Elf *image_elf;
    Dwarf *dw;
};

static size_t available(const struct psection *s)
{
    return s->out_len;
}

static const unsigned char *bytes(const struct psection *s)
{
    return s->out;
}

/* At least `want` bytes of the section available (inflating further if it is compressed);
 * false if the section is shorter or its stream is damaged. */
static bool ensure(struct psection *s, size_t want, bool whole)
{
    if (want > s->size || s->failed)
        return false;
    if (s->out_len >= want)
        return true;
    size_t target = whole ? s->size : want;
    if (!whole) {
        size_t grown = s->out_len + s->out_len / 2;
        if (grown > target)
            target = grown;
        if (target < PREFIX_STEP_MIN)
            target = PREFIX_STEP_MIN;
        if (target > s->size)
            target = s->size;
    }
    s->z.next_out = s->out + s->out_len;
    s->z.avail_out = (uInt)(target - s->out_len);
    while (s->z.avail_out > 0) {
        int rc = inflate(&s->z, Z_SYNC_FLUSH);
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK) {
            s->failed = true;
            break;
        }
    }
    s->out_len = target - s->z.avail_out;
    return s->out_len >= want;
}

static uint16_t rd16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A unit's initial length at `off`: *header is 4 or 12 bytes, the unit's end returned (0 when the
 * length cannot be read). */
static size_t unit_end(struct psection *s, size_t off, size_t *header)
{
    if (!ensure(s, off + 12 <= s->size ? off + 12 : off + 4, false))
        return 0;
    uint64_t len = rd32(bytes(s) + off);
    *header = 4;
    if (len == 0xffffffffu) {
        if (available(s) < off + 12)
            return 0;
        len = rd64(bytes(s) + off + 4);
        *header = 12;
    } else if (len >= 0xfffffff0u) {
        return 0;
    }
    if (len > s->size - off - *header)
        return 0;
    return off + *header + (size_t)len;
}

static int arange_cmp(const void *a, const void *b)
{
    const struct arange *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Every address range of .debug_aranges with the unit it is in (8-byte addresses only). */
static void read_aranges(struct dwarf_partial *p)
{
    struct psection *s = &p->sec[SEC_ARANGES];
    if (!ensure(s, s->size, true))
        return;
    size_t cap = 0;
    for (size_t pos = 0, header, end; pos < s->size && (end = unit_end(s, pos, &header)) != 0; pos = end) {
        const unsigned char *b = bytes(s);
        size_t q = pos + header + 2; /* after the version */
        size_t offset_size = header == 12 ? 8 : 4;
        if (q + offset_size + 2 > end)
            continue;
        uint64_t cu = offset_size == 8 ? rd64(b + q) : rd32(b + q);
        q += offset_size;
        unsigned address_size = b[q], segment_size = b[q + 1];
        q += 2;
        if (address_size != 8 || segment_size != 0)
            continue;
        q = pos + (q - pos + 15) / 16 * 16; /* tuples are aligned to twice the address size */
        for (; q + 16 <= end; q += 16) {
            uint64_t lo = rd64(b + q), len = rd64(b + q + 8);
            if (lo == 0 && len == 0)
                break;
            if (p->arange_count == cap) {
                cap = cap ? cap * 2 : 256;
                p->aranges = xrealloc(p->aranges, cap * sizeof *p->aranges);
            }
            p->aranges[p->arange_count++] = (struct arange){ .lo = lo, .hi = lo + len, .cu = cu };
        }
    }
    qsort(p->aranges, p->arange_count, sizeof *p->aranges, arange_cmp);
}

static void close_image(struct dwarf_partial *p)
{
    if (p->dw != NULL)
        dwarf_end(p->dw);
    if (p->image_elf != NULL)
        elf_end(p->image_elf);
    p->dw = NULL;
    p->image_elf = NULL;
}

void dwarf_partial_close(struct dwarf_partial *p)
{
    if (p == NULL)
        return;
    close_image(p);
    for (int i = 0; i < SEC_COUNT; i++) {
        if (p->sec[i].z_open)
            inflateEnd(&p->sec[i].z);
    }
    free(p->aranges);
    if (p->image != NULL)
        munmap(p->image, p->image_size);
    if (p->elf != NULL)
        elf_end(p->elf);
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

static const char shstrtab_name[] = ".shstrtab";

/* The image: the ELF header, each section's slot as large as the section inflated, the section
 * names, then the section headers, which open_image fills. Uncompressed sections are copied in. */
static bool map_image(struct dwarf_partial *p)
{
    size_t at = sizeof(Elf64_Ehdr), names = 1 + sizeof shstrtab_name, count = 2;
    for (int i = 0; i < SEC_COUNT; i++)
        if (p->sec[i].present) {
            p->sec[i].slot = at;
            at = (at + p->sec[i].size + 7) & ~(size_t)7;
            names += strlen(section_names[i]) + 1;
            count++;
        }
    size_t strtab_at = at;
    p->shdrs_at = (at + names + 7) & ~(size_t)7;
    p->image_size = p->shdrs_at + count * sizeof(Elf64_Shdr);
    void *image = mmap(NULL, p->image_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (image == MAP_FAILED)
        return false;
    p->image = image;
    Elf64_Ehdr eh = { .e_type = p->type, .e_machine = p->machine, .e_version = EV_CURRENT,
                      .e_shoff = p->shdrs_at, .e_ehsize = sizeof(Elf64_Ehdr), .e_shentsize = sizeof(Elf64_Shdr),
                      .e_shnum = (uint16_t)count, .e_shstrndx = (uint16_t)(count - 1) };
    memcpy(eh.e_ident, p->ident, EI_NIDENT);
    memcpy(p->image, &eh, sizeof eh);
    char *strtab = (char *)p->image + strtab_at;
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(p->image + p->shdrs_at);
    size_t name_at = 1, n = 1;
    for (int i = 0; i < SEC_COUNT; i++) {
        struct psection *s = &p->sec[i];
        if (!s->present)
            continue;
        s->out = p->image + s->slot;
        if (s->plain != NULL) {
            memcpy(s->out, s->plain, s->size);
            s->out_len = s->size;
        }
        memcpy(strtab + name_at, section_names[i], strlen(section_names[i]) + 1);
        sh[n++] = (Elf64_Shdr){ .sh_name = (uint32_t)name_at, .sh_type = SHT_PROGBITS, .sh_offset = s->slot,
                                .sh_addralign = 1 };
        name_at += strlen(section_names[i]) + 1;
    }
    memcpy(strtab + name_at, shstrtab_name, sizeof shstrtab_name);
    sh[n] = (Elf64_Shdr){ .sh_name = (uint32_t)name_at, .sh_type = SHT_STRTAB, .sh_offset = strtab_at,
                          .sh_size = names, .sh_addralign = 1 };
    return true;
}

/* Takes the section from `scn`: false if it is compressed other than with zlib. */
static bool take_section(struct psection *s, Elf_Scn *scn, const GElf_Shdr *shdr)
{
    s->present = true;
    if (shdr->sh_type == SHT_NOBITS)
        return false;
    if ((shdr->sh_flags & SHF_COMPRESSED) == 0) {
        Elf_Data *d = elf_getdata(scn, NULL);
        if (d == NULL || (d->d_size > 0 && d->d_buf == NULL))
            return false;
        s->plain = d->d_size > 0 ? d->d_buf : (const unsigned char *)"";
        s->size = d->d_size;
        return true;
    }
    Elf_Data *raw = elf_rawdata(scn, NULL);
    Elf64_Chdr chdr;
    if (raw == NULL || raw->d_size < sizeof chdr)
        return false;
    memcpy(&chdr, raw->d_buf, sizeof chdr);
    if (chdr.ch_type != ELFCOMPRESS_ZLIB)
        return false;
    s->size = chdr.ch_size;
    s->z.next_in = (unsigned char *)raw->d_buf + sizeof chdr;
    s->z.avail_in = (uInt)(raw->d_size - sizeof chdr);
    if (inflateInit(&s->z) != Z_OK)
        return false;
    s->z_open = true;
    return true;
}

struct dwarf_partial *dwarf_partial_open(const char *path)
{
    elf_version(EV_CURRENT);
    struct dwarf_partial *p = xcalloc(1, sizeof *p);
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    p->elf = p->fd >= 0 ? elf_begin(p->fd, ELF_C_READ_MMAP, NULL) : NULL;
    GElf_Ehdr ehdr;
    size_t shstrndx;
    bool usable = p->elf != NULL && gelf_getehdr(p->elf, &ehdr) != NULL && elf_getshdrstrndx(p->elf, &shstrndx) == 0 &&
                  ehdr.e_ident[EI_CLASS] == ELFCLASS64 && ehdr.e_ident[EI_DATA] == ELFDATA2LSB &&
                  ehdr.e_type != ET_REL;
    for (Elf_Scn *scn = NULL; usable && (scn = elf_nextscn(p->elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        const char *name = gelf_getshdr(scn, &shdr) != NULL ? elf_strptr(p->elf, shstrndx, shdr.sh_name) : NULL;
        for (int i = 0; name != NULL && i < SEC_COUNT; i++)
            if (strcmp(name, section_names[i]) == 0 && !p->sec[i].present)
                usable = take_section(&p->sec[i], scn, &shdr);
    }
    /* Worth it only where libdw would inflate .debug_info whole. */
    usable = usable && p->sec[SEC_INFO].z_open && p->sec[SEC_ABBREV].present && p->sec[SEC_ARANGES].present;
    if (usable) {
        memcpy(p->ident, ehdr.e_ident, EI_NIDENT);
        p->type = ehdr.e_type;
        p->machine = ehdr.e_machine;
        usable = map_image(p);
    }
    for (int i = SEC_FIRST_WHOLE; usable && i < SEC_COUNT; i++)
        usable = !p->sec[i].present || ensure(&p->sec[i], p->sec[i].size, true);
    if (usable)
        read_aranges(p);
    if (!usable || p->arange_count == 0) {
        dwarf_partial_close(p);
        return NULL;
    }
    return p;
}

/* A LEB128 number at *pos (inflating as far as it goes), signed or not: only its end matters
 * for a signed one. False if the section ends first. */
static bool leb128(struct psection *s, size_t *pos, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (!ensure(s, *pos + 1, false))
            return false;
        unsigned char byte = bytes(s)[(*pos)++];
        if (shift < 64)
            *value |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0)
            return true;
    }
}

/* The end of the abbreviation table at `off`, inflating as far as it goes; 0 if it is cut short.
 * Each entry: code, tag, a children byte, then (attribute, form[, implicit value]) up to (0, 0);
 * code 0 ends the table. */
static size_t abbrev_table_end(struct psection *s, size_t off)
{
    size_t pos = off;
    for (;;) {
        uint64_t code, tag, name, form, implicit;
        if (!leb128(s, &pos, &code))
            return 0;
        if (code == 0)
            return pos;
        if (!leb128(s, &pos, &tag))
            return 0;
        pos++; /* children */
        do {
            if (!leb128(s, &pos, &name) || !leb128(s, &pos, &form))
                return 0;
            if (form == DW_FORM_implicit_const && !leb128(s, &pos, &implicit))
                return 0;
        } while (name != 0 || form != 0);
    }
}

/* Opens the image with each section as long as its prefix. */
static bool open_image(struct dwarf_partial *p)
{
    close_image(p);
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(p->image + p->shdrs_at);
    for (int i = 0, n = 1; i < SEC_COUNT; i++)
        if (p->sec[i].present) {
            p->imaged[i] = available(&p->sec[i]);
            sh[n++].sh_size = p->imaged[i];
        }
    p->image_elf = elf_memory((char *)p->image, p->image_size);
    p->dw = p->image_elf != NULL ? dwarf_begin_elf(p->image_elf, DWARF_C_READ, NULL) : NULL;
    return p->dw != NULL;
}

static bool grew(const struct dwarf_partial *p)
{
    for (int i = 0; i < SEC_COUNT; i++)
        if (p->sec[i].present && available(&p->sec[i]) > p->imaged[i])
            return true;
    return p->dw == NULL;
}

bool dwarf_partial_cu(struct dwarf_partial *p, Dwarf_Addr pc, Dwarf_Die *cu, Dwarf **dw)
{
    /* the last range starting at or below pc; ranges do not overlap */
    size_t lo = 0, hi = p->arange_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->aranges[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || pc >= p->aranges[lo - 1].hi)
        return false;
    size_t off = (size_t)p->aranges[lo - 1].cu, header;
    struct psection *info = &p->sec[SEC_INFO];
    size_t end = unit_end(info, off, &header);
    if (end == 0 || !ensure(info, end, false))
        return false;
    /* the unit's abbreviations: after the version (and, from DWARF 5, the unit type and address size) */
    const unsigned char *u = bytes(info) + off + header;
    size_t offset_size = header == 12 ? 8 : 4, at = end - off - header >= 2 && rd16(u) >= 5 ? 4 : 2;
    if (end - off - header < at + offset_size)
        return false; /* too short to hold its header */
    uint64_t abbrev = offset_size == 8 ? rd64(u + at) : rd32(u + at);
    if (abbrev >= p->sec[SEC_ABBREV].size || abbrev_table_end(&p->sec[SEC_ABBREV], (size_t)abbrev) == 0)
        return false;
    for (int pass = 0; pass < 2; pass++) {
        if (grew(p) && !open_image(p))
            return false;
        Dwarf_Off next;
        size_t hsize;
        if (dwarf_next_unit(p->dw, off, &next, &hsize, NULL, NULL, NULL, NULL, NULL, NULL) != 0 ||
            dwarf_offdie(p->dw, off + hsize, cu) == NULL)
            return false;
        /* its line table, which the image may not hold yet (so the offset is read as it is:
         * libdw refuses an offset past the end of the section it has) */
        Dwarf_Attribute attr;
        uint64_t stmt;
        if (pass > 0 || !p->sec[SEC_LINE].present || dwarf_attr(cu, DW_AT_stmt_list, &attr) == NULL)
            break;
        if (attr.form == DW_FORM_data4 || (attr.form == DW_FORM_sec_offset && offset_size == 4))
            stmt = rd32(attr.valp);
        else if (attr.form == DW_FORM_data8 || attr.form == DW_FORM_sec_offset)
            stmt = rd64(attr.valp);
        else
            break;
        size_t line_header, line_end = unit_end(&p->sec[SEC_LINE], (size_t)stmt, &line_header);
        if (line_end == 0 || !ensure(&p->sec[SEC_LINE], line_end, false) || line_end <= p->imaged[SEC_LINE])
            break;
    }
    *dw = p->dw;
    return true;
}
