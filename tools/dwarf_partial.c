/* dwarf_partial.c — compressed DWARF read only where needed. The compile unit of an address comes
 * from .debug_aranges (small, inflated whole); each compressed section is one zlib stream, inflated
 * as far as the bytes asked for reach, but kept only where asked for (.debug_info the units asked
 * for, .debug_abbrev their tables, .debug_line their line tables): what lies before them is
 * inflated into a small scratch buffer and dropped, and a range behind the stream's position is
 * had again by inflating the stream from its start. The small sections a unit may point anywhere
 * into (strings, ranges, addresses) are inflated whole. Each section is kept in its slot of an
 * uncompressed ELF image in memory, an anonymous mapping as large as the whole file inflated, of
 * which only the pages written become resident; libdw opens the image (elf_memory) and reads DWARF
 * as usual. libdw finds a unit by walking the unit headers of .debug_info from its start, so each
 * gap between the units kept holds one made-up empty unit (a header whose length spans the gap),
 * and the walk steps over the gap in one header read. So a report that names a few functions of a
 * big library holds those units only, wherever they are in the file (libc's separate debug file:
 * 6 MB of .debug_info, 8 MB of the three sections). A unit kept anew reopens the image, so what
 * libdw made before is gone (the symbolizer copies the names it keeps). Little-endian ELF64 only;
 * anything else returns NULL at open and is read whole by libdw. */
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
/* Sections from SEC_ARANGES on are inflated whole; the first three where asked for. */
#define SEC_FIRST_WHOLE SEC_ARANGES

static const char *const section_names[SEC_COUNT] = {
    ".debug_info", ".debug_abbrev", ".debug_line", ".debug_aranges", ".debug_str",
    ".debug_line_str", ".debug_str_offsets", ".debug_addr", ".debug_rnglists", ".debug_ranges",
};

/* A byte read at a time (abbreviation tables) is fetched with the rest of its piece of this size,
 * so that a table costs a fetch or two, not one per byte. */
#define FETCH_PIECE ((size_t)4096)
/* Every this many bytes of a stream's output its state is copied (the 32 KiB window and a few
 * KiB), so that bytes behind the stream's position are had again by inflating from the copy
 * before them, not from the section's start: a report names its frames in no order, and going
 * back to the start each time cost a libc-heavy report three times the time of inflating it once. */
#define CHECKPOINT_EVERY ((size_t)256 * 1024)
/* Inflated bytes before the range asked for go through a scratch buffer of this size. */
#define SCRATCH_BYTES ((size_t)64 * 1024)
/* The made-up unit of a gap: a 32-bit DWARF 5 header (length, version, unit type, address size,
 * abbreviation offset) and no DIE. */
#define GAP_HEADER 12

/* A byte range [lo, hi) of a section. */
struct span {
    size_t lo, hi;
};

/* Sorted, disjoint, not touching: the bytes of a section held in its slot. */
struct spans {
    struct span *at;
    size_t count, cap;
};

struct psection {
    bool present;
    const unsigned char *plain; /* an uncompressed section's bytes, in libelf's mapping */
    size_t size;                /* the section's whole (inflated) size */
    size_t slot;                /* where it is in the image */
    unsigned char *out;         /* its slot: the inflated (or copied) bytes where held */
    struct spans held;          /* which bytes of the slot hold the section's */
    unsigned changes;           /* counts fetches that wrote the slot: the image is stale */
    const unsigned char *z_in;  /* the compressed stream, to start again from */
    size_t z_in_len;
    size_t z_pos; /* bytes of the stream inflated so far */
    z_stream z;
    z_stream **checkpoint; /* [k]: the stream at (k + 1) * CHECKPOINT_EVERY bytes (each allocated
                            * apart: zlib's state points back at its z_stream, which must not move) */
    size_t checkpoints;
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
    unsigned imaged[SEC_COUNT]; /* each section's changes when the image was opened */
    struct spans units;         /* the units of .debug_info kept whole, the gaps made-up units */
    unsigned char *scratch;     /* SCRATCH_BYTES: where inflated bytes not kept go */
    unsigned char *image;       /* an anonymous mapping of image_size bytes */
    size_t image_size, shdrs_at;
    Elf *image_elf;
    Dwarf *dw;
};

/* The first span of `set` that ends at or after `at`. */
static size_t spans_from(const struct spans *set, size_t at)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->at[mid].hi < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool spans_cover(const struct spans *set, size_t lo, size_t hi)
{
    size_t i = spans_from(set, lo);
    return lo >= hi || (i < set->count && set->at[i].lo <= lo && set->at[i].hi >= hi);
}

/* Adds [lo, hi), merged with the spans it overlaps or touches. */
static void spans_add(struct spans *set, size_t lo, size_t hi)
{
    size_t i = spans_from(set, lo), j = i;
    while (j < set->count && set->at[j].lo <= hi) {
        if (set->at[j].lo < lo)
            lo = set->at[j].lo;
        if (set->at[j].hi > hi)
            hi = set->at[j].hi;
        j++;
    }
    if (i == j) { /* nothing merged: room for one more */
        if (set->count == set->cap) {
            set->cap = set->cap ? set->cap * 2 : 16;
            set->at = xrealloc(set->at, set->cap * sizeof *set->at);
        }
        memmove(set->at + i + 1, set->at + i, (set->count - i) * sizeof *set->at);
        set->count++;
    } else if (j > i + 1) {
        memmove(set->at + i + 1, set->at + j, (set->count - j) * sizeof *set->at);
        set->count -= j - i - 1;
    }
    set->at[i] = (struct span){ lo, hi };
}

/* Takes [lo, hi) out (a made-up header written over bytes that were held). */
static void spans_remove(struct spans *set, size_t lo, size_t hi)
{
    for (size_t i = spans_from(set, lo + 1); i < set->count && set->at[i].lo < hi;) {
        struct span x = set->at[i];
        if (x.lo < lo && x.hi > hi) { /* split in two */
            set->at[i].hi = lo;
            spans_add(set, hi, x.hi);
            return;
        }
        if (x.lo < lo) {
            set->at[i++].hi = lo;
        } else if (x.hi > hi) {
            set->at[i].lo = hi;
            return;
        } else {
            memmove(set->at + i, set->at + i + 1, (set->count - i - 1) * sizeof *set->at);
            set->count--;
        }
    }
}

/* The end of the last byte held, or 0. */
static size_t spans_end(const struct spans *set)
{
    return set->count > 0 ? set->at[set->count - 1].hi : 0;
}

/* Bytes [lo, hi) of the section in its slot, inflated if they are not there yet (from the stream's
 * start again if it has gone past them); false if the section is shorter or its stream is
 * damaged. Bytes before lo that the stream must go through are dropped. */
static bool fetch(struct dwarf_partial *p, struct psection *s, size_t lo, size_t hi)
{
    if (hi > s->size || lo > hi || s->failed)
        return false;
    if (spans_cover(&s->held, lo, hi))
        return true;
    /* what is held already up to where the stream stands needs no going back (a unit's header
     * read, then the unit) */
    if (lo < s->z_pos && s->z_pos < hi && spans_cover(&s->held, lo, s->z_pos))
        lo = s->z_pos;
    /* the last copy of the stream at or before lo (0: its start), when the stream is past lo or
     * behind that copy */
    size_t k = lo / CHECKPOINT_EVERY < s->checkpoints ? lo / CHECKPOINT_EVERY : s->checkpoints;
    if (lo < s->z_pos || k * CHECKPOINT_EVERY > s->z_pos) {
        inflateEnd(&s->z);
        s->z_open = false;
        if (k > 0 ? inflateCopy(&s->z, s->checkpoint[k - 1]) != Z_OK : inflateInit(&s->z) != Z_OK) {
            s->failed = true;
            return false;
        }
        s->z_open = true;
        if (k == 0) {
            s->z.next_in = (unsigned char *)s->z_in;
            s->z.avail_in = (uInt)s->z_in_len;
        }
        s->z_pos = k * CHECKPOINT_EVERY;
    }
    if (p->scratch == NULL)
        p->scratch = xcalloc(1, SCRATCH_BYTES);
    while (s->z_pos < hi) {
        if (s->z_pos == (s->checkpoints + 1) * CHECKPOINT_EVERY) {
            s->checkpoint = xrealloc(s->checkpoint, (s->checkpoints + 1) * sizeof(z_stream *));
            z_stream *copy = xcalloc(1, sizeof *copy);
            if (inflateCopy(copy, &s->z) == Z_OK)
                s->checkpoint[s->checkpoints++] = copy;
            else
                free(copy);
        }
        bool kept = s->z_pos >= lo;
        size_t room = kept ? hi - s->z_pos : lo - s->z_pos;
        if (!kept && room > SCRATCH_BYTES)
            room = SCRATCH_BYTES;
        size_t to_checkpoint = (s->checkpoints + 1) * CHECKPOINT_EVERY - s->z_pos; /* stop there */
        if (to_checkpoint > 0 && room > to_checkpoint)
            room = to_checkpoint;
        s->z.next_out = kept ? s->out + s->z_pos : p->scratch;
        s->z.avail_out = (uInt)room;
        int rc = inflate(&s->z, Z_SYNC_FLUSH);
        s->z_pos += room - s->z.avail_out;
        if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR) || (rc == Z_BUF_ERROR && s->z.avail_out == room))
            break;
    }
    if (s->z_pos < hi) {
        s->failed = true;
        return false;
    }
    spans_add(&s->held, lo, hi);
    s->changes++;
    return true;
}

/* fetch of one piece around `at` (for readers that go a byte at a time). */
static bool fetch_piece(struct dwarf_partial *p, struct psection *s, size_t at)
{
    if (at >= s->size)
        return false;
    if (spans_cover(&s->held, at, at + 1))
        return true;
    size_t lo = at & ~(FETCH_PIECE - 1), hi = lo + FETCH_PIECE;
    return fetch(p, s, lo, hi < s->size ? hi : s->size);
}

static const unsigned char *bytes(const struct psection *s)
{
    return s->out;
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
static size_t unit_end(struct dwarf_partial *p, struct psection *s, size_t off, size_t *header)
{
    if (!fetch(p, s, off, off + 12 <= s->size ? off + 12 : off + 4))
        return 0;
    uint64_t len = rd32(bytes(s) + off);
    *header = 4;
    if (len == 0xffffffffu) {
        if (off + 12 > s->size)
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
    if (!fetch(p, s, 0, s->size))
        return;
    size_t cap = 0;
    for (size_t pos = 0, header, end; pos < s->size && (end = unit_end(p, s, pos, &header)) != 0; pos = end) {
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
        for (size_t k = 0; k < p->sec[i].checkpoints; k++) {
            inflateEnd(p->sec[i].checkpoint[k]);
            free(p->sec[i].checkpoint[k]);
        }
        free(p->sec[i].checkpoint);
    }
    free(p->aranges);
    for (int i = 0; i < SEC_COUNT; i++)
        free(p->sec[i].held.at);
    free(p->units.at);
    free(p->scratch);
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
            spans_add(&s->held, 0, s->size);
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
    s->z_in = (const unsigned char *)raw->d_buf + sizeof chdr;
    s->z_in_len = raw->d_size - sizeof chdr;
    s->z.next_in = (unsigned char *)s->z_in;
    s->z.avail_in = (uInt)s->z_in_len;
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
        usable = !p->sec[i].present || fetch(p, &p->sec[i], 0, p->sec[i].size);
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
static bool leb128(struct dwarf_partial *p, struct psection *s, size_t *pos, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (!fetch_piece(p, s, *pos))
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
static size_t abbrev_table_end(struct dwarf_partial *p, struct psection *s, size_t off)
{
    size_t pos = off;
    for (;;) {
        uint64_t code, tag, name, form, implicit;
        if (!leb128(p, s, &pos, &code))
            return 0;
        if (code == 0)
            return pos;
        if (!leb128(p, s, &pos, &tag))
            return 0;
        pos++; /* children */
        do {
            if (!leb128(p, s, &pos, &name) || !leb128(p, s, &pos, &form))
                return 0;
            if (form == DW_FORM_implicit_const && !leb128(p, s, &pos, &implicit))
                return 0;
        } while (name != 0 || form != 0);
    }
}

/* The gaps between the units of .debug_info kept, each stepped over by a made-up empty unit, so
 * that libdw's walk of the unit headers from the section's start reaches every unit kept. */
static void fill_gaps(struct dwarf_partial *p)
{
    struct psection *info = &p->sec[SEC_INFO];
    for (size_t i = 0, pos = 0; i < p->units.count; pos = p->units.at[i++].hi) {
        size_t next = p->units.at[i].lo;
        if (next - pos < GAP_HEADER) /* none (or no room for a header: not between whole units) */
            continue;
        unsigned char header[GAP_HEADER] = { 0 };
        uint32_t length = (uint32_t)(next - pos - 4);
        memcpy(header, &length, sizeof length);
        header[4] = 5;             /* version */
        header[6] = DW_UT_compile; /* unit type */
        header[7] = 8;             /* address size; abbreviations at 0: no DIE of it is read */
        spans_remove(&info->held, pos, pos + GAP_HEADER);
        memcpy(info->out + pos, header, sizeof header);
    }
}

/* The end of what the image shows of a section: all of it when it is held whole, else up to the
 * last byte held (.debug_info: the last unit kept), so libdw refuses offsets past that. */
static size_t image_length(const struct dwarf_partial *p, int i)
{
    const struct psection *s = &p->sec[i];
    if (spans_cover(&s->held, 0, s->size))
        return s->size;
    return i == SEC_INFO ? spans_end(&p->units) : spans_end(&s->held);
}

/* Opens the image with each section as far as it is held. */
static bool open_image(struct dwarf_partial *p)
{
    close_image(p);
    fill_gaps(p);
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(p->image + p->shdrs_at);
    for (int i = 0, n = 1; i < SEC_COUNT; i++)
        if (p->sec[i].present) {
            p->imaged[i] = p->sec[i].changes;
            sh[n++].sh_size = image_length(p, i);
        }
    p->image_elf = elf_memory((char *)p->image, p->image_size);
    p->dw = p->image_elf != NULL ? dwarf_begin_elf(p->image_elf, DWARF_C_READ, NULL) : NULL;
    return p->dw != NULL;
}

static bool grew(const struct dwarf_partial *p)
{
    for (int i = 0; i < SEC_COUNT; i++)
        if (p->sec[i].present && p->sec[i].changes != p->imaged[i])
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
    size_t end = unit_end(p, info, off, &header);
    if (end == 0 || !fetch(p, info, off, end))
        return false;
    /* the unit's abbreviations: after the version (and, from DWARF 5, the unit type and address size) */
    const unsigned char *u = bytes(info) + off + header;
    size_t offset_size = header == 12 ? 8 : 4, at = end - off - header >= 2 && rd16(u) >= 5 ? 4 : 2;
    if (end - off - header < at + offset_size)
        return false; /* too short to hold its header */
    uint64_t abbrev = offset_size == 8 ? rd64(u + at) : rd32(u + at);
    if (abbrev >= p->sec[SEC_ABBREV].size || abbrev_table_end(p, &p->sec[SEC_ABBREV], (size_t)abbrev) == 0)
        return false;
    if (!spans_cover(&p->units, off, end)) {
        spans_add(&p->units, off, end);
        info->changes++; /* a new unit: the image's gaps change */
    }
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
        struct psection *line = &p->sec[SEC_LINE];
        size_t line_header, line_end = unit_end(p, line, (size_t)stmt, &line_header);
        if (line_end == 0 || !fetch(p, line, (size_t)stmt, line_end) || line->changes == p->imaged[SEC_LINE])
            break; /* none, or already in the image */
    }
    *dw = p->dw;
    return true;
}

size_t dwarf_partial_info_held(const struct dwarf_partial *p)
{
    size_t held = 0;
    for (size_t i = 0; i < p->sec[SEC_INFO].held.count; i++)
        held += p->sec[SEC_INFO].held.at[i].hi - p->sec[SEC_INFO].held.at[i].lo;
    return held;
}
