/* dwarf_partial.h — the DWARF of a file whose debug sections are compressed (as distributions ship
 * separate debug files: libc6-dbg's libc is 4 MB of zlib streams, 10 MB inflated), read only as
 * only where the compile units asked for are: libdw inflates every debug section when it opens a
 * file, which cost a leak report naming two libc frames 200 M instructions and 20 MB, and a prefix
 * of the sections up to the units asked for still cost 8 MB for a unit near the end of libc's. */
#ifndef HK_TOOLS_DWARF_PARTIAL_H
#define HK_TOOLS_DWARF_PARTIAL_H

#include <elfutils/libdw.h>
#include <stdbool.h>

struct dwarf_partial;

/* NULL when `path` has no zlib-compressed .debug_info with a .debug_aranges to find compile units
 * by: such a file is read by libdw whole, as before. */
struct dwarf_partial *dwarf_partial_open(const char *path);
void dwarf_partial_close(struct dwarf_partial *p);

/* The compile unit holding the DWARF address `pc` and the Dwarf it is read from, with that unit,
 * its abbreviations and its line table inflated. Returns false when no unit holds `pc`. The Dwarf
 * and what it hands out (names, files) stay valid only until the next call: a unit not asked for
 * before reopens the image. */
bool dwarf_partial_cu(struct dwarf_partial *p, Dwarf_Addr pc, Dwarf_Die *cu, Dwarf **dw);

/* Bytes of .debug_info inflated and kept so far (the units asked for, and the pieces read to find
 * them): what the report's memory grows by, whatever their offsets in the file. */
size_t dwarf_partial_info_held(const struct dwarf_partial *p);

#endif
