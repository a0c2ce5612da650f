/* leak_report.c — turns a leak scan into a report: blocks grouped by kind, allocation stack and
 * label, largest first. With HEAPKIT_LEAK_DIR set (the `heapkit` command sets it) the report is
 * the raw format of docs/leak-report-format.md, which the command symbolizes offline; else a
 * plain report goes to stderr, with the names dladdr finds. Nothing here calls malloc: scratch
 * memory comes from one metadata mapping that each check starts afresh. */
#define _GNU_SOURCE
#include "leak.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

/* Address space for one check's scratch (pages are touched as used): /proc/self/maps (up to 64
 * MiB), the module table and the group tables of a check with millions of lost blocks fit. Under
 * a tight ulimit -v it gets less (hk_meta_map_most), at least enough for a small program's check. */
#define HK_SCRATCH_BYTES ((size_t)1 << 30)
#define HK_SCRATCH_BYTES_LEAST ((size_t)8 << 20)
/* The group table's first size in slots (it doubles as needed), and its load: at most one group
 * per HK_GROUP_LOAD slots, so linear probing stays short. */
#define HK_GROUPS_FIRST 1024
#define HK_GROUP_LOAD 2
/* Check numbers tried past those an exec'd image of this pid left, before giving up. */
#define HK_REPORT_NAME_TRIES 10000

static struct {
    uint8_t *base;
    size_t cap; /* bytes reserved at base */
    size_t used;      /* bytes handed out since the last reset: above them the mapping reads zeros */
    size_t group_cap; /* slots in the open-addressing table result->groups */
} hk_scratch;

bool hk_leak_scratch_reserve(void) {
    if (hk_scratch.base == NULL)
        hk_scratch.base = hk_meta_map_most(HK_SCRATCH_BYTES, HK_SCRATCH_BYTES_LEAST, &hk_scratch.cap);
    return hk_scratch.base != NULL;
}

void *hk_leak_scratch(size_t size) {
    if (size == 0) {
        /* What a check was handed goes back to the kernel, zero pages again: clearing it at the
         * next check instead wrote every page of it, mostly never touched (the 1 MiB for
         * /proc/self/maps of which a small program fills a few KiB, the module table): a program
         * checking twice grew by 1.1 MiB at its second check. */
        size_t whole = hk_scratch.used & ~(hk_os_page_size() - 1);
        if (whole > 0) hk_os_hollow(hk_scratch.base, whole);
        if (hk_scratch.used > whole) memset(hk_scratch.base + whole, 0, hk_scratch.used - whole);
        hk_scratch.used = 0;
        hk_scratch.group_cap = 0;
        return NULL;
    }
    if (!hk_leak_scratch_reserve()) return NULL;
    size = hk_align_up(size, HK_BLOCK_ALIGN); /* as aligned as malloc's blocks */
    if (size > hk_scratch.cap - hk_scratch.used) return NULL;
    size_t at = hk_scratch.used;
    hk_scratch.used += size;
    /* Within a check the scratch only grows, so what it hands out was never handed out since the
     * last reset, which gave it back as zero pages: nothing to clear, no page faulted for nothing. */
    return hk_scratch.base + at;
}

/* ------------------------------------------------------------------ groups */

/* (kind, stack, label) hashed: the stack id spread by a multiply, kind and label xor-ed into bits
 * the others leave alone, the high bits folded down. */
static size_t hk_group_slot(size_t cap, hk_leak_kind_t kind, uint32_t stack, uint16_t label) {
    uint64_t h = ((uint64_t)stack * HK_GOLDEN_RATIO_64) ^ ((uint64_t)kind << 40) ^ ((uint64_t)label << 20);
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static hk_leak_group_t *hk_group_find(hk_leak_group_t *table, size_t cap, hk_leak_kind_t kind, uint32_t stack,
                                      uint16_t label) {
    for (size_t i = hk_group_slot(cap, kind, stack, label);; i = (i + 1) & (cap - 1)) {
        hk_leak_group_t *g = &table[i];
        if (!g->used || (g->kind == kind && g->stack == stack && g->label == label)) return g;
    }
}

/* Move the table to one twice the size (the old one stays in scratch). */
static bool hk_groups_grow(hk_leak_result_t *r) {
    size_t cap = hk_scratch.group_cap ? hk_scratch.group_cap * 2 : HK_GROUPS_FIRST;
    hk_leak_group_t *table = hk_leak_scratch(cap * sizeof *table);
    if (table == NULL) return false;
    for (size_t i = 0; i < hk_scratch.group_cap; i++) {
        const hk_leak_group_t *g = &r->groups[i];
        if (g->used) *hk_group_find(table, cap, (hk_leak_kind_t)g->kind, g->stack, g->label) = *g;
    }
    r->groups = table;
    hk_scratch.group_cap = cap;
    return true;
}

/* The summary's count of a kind (the public hk_leak_summary_t names one member per kind). */
static hk_leak_count_t *hk_summary_count(hk_leak_summary_t *s, hk_leak_kind_t kind) {
    switch (kind) {
    case HK_LEAK_DEFINITE:
        return &s->definite;
    case HK_LEAK_INDIRECT:
        return &s->indirect;
    case HK_LEAK_POSSIBLE:
        return &s->possible;
    default:
        return &s->reachable;
    }
}

void hk_leak_group_add(hk_leak_result_t *r, hk_leak_kind_t kind, const hk_track_rec_t *rec, uintptr_t user,
                       size_t size) {
    hk_leak_count_t *c = hk_summary_count(&r->summary, kind);
    c->blocks++;
    c->bytes += size;
    if (r->group_count * HK_GROUP_LOAD >= hk_scratch.group_cap && !hk_groups_grow(r)) return;
    hk_leak_group_t *g = hk_group_find(r->groups, hk_scratch.group_cap, kind, rec->stack, rec->label);
    if (!g->used) {
        *g = (hk_leak_group_t){.stack = rec->stack, .thread = rec->thread, .label = rec->label,
                               .kind = (uint8_t)kind, .used = 1, .first = user};
        r->group_count++;
    }
    g->blocks++;
    g->bytes += size;
}

/* Pack the used slots to the front, then sort them by bytes, largest first (a shell sort:
 * qsort may allocate). */
void hk_leak_groups_sort(hk_leak_result_t *r) {
    hk_leak_group_t *g = r->groups;
    size_t n = 0;
    for (size_t i = 0; i < hk_scratch.group_cap; i++)
        if (g[i].used) g[n++] = g[i];
    r->group_count = n;
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            hk_leak_group_t x = g[i];
            size_t j = i;
            for (; j >= gap && (g[j - gap].bytes < x.bytes || (g[j - gap].bytes == x.bytes && g[j - gap].kind > x.kind));
                 j -= gap)
                g[j] = g[j - gap];
            g[j] = x;
        }
}

/* ------------------------------------------------------------------ output */

/* The report goes out through one buffer, written to its file whenever the next line would not
 * fit: 16 KiB, a few hundred lines a write. Static: too much for some threads' stacks, and checks
 * are serialised. */
#define HK_REPORT_BUFFER_BYTES 16384

static struct {
    int fd;
    hk_buf_t buf;
    char text[HK_REPORT_BUFFER_BYTES];
} hk_report; /* zero, so in .bss: untouched (not resident) in a process that never reports */

/* Text to the report, through its buffer. */
#define hk_out(...) hk_buf_printf_to(&hk_report.buf, hk_report.fd, __VA_ARGS__)

static const hk_module_t *hk_module_of(const hk_leak_result_t *r, uintptr_t pc) {
    for (size_t i = 0; i < r->module_count; i++)
        if (pc >= r->modules[i].lo && pc < r->modules[i].hi) return &r->modules[i];
    return NULL;
}

static void hk_report_raw(hk_leak_result_t *r) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    hk_out("heapkit-leaks\t1\npid\t%d\t%d\nexe\t%s\ncheck\t%u\t%s\nthreads\t%zu\t%zu\n", (int)getpid(),
           (int)getppid(), exe, r->check, r->reason, r->stopped, r->not_stopped);
    for (size_t i = 0; i < r->module_count; i++)
        hk_out("module\t%zu\t%lx\t%s\n", i, (unsigned long)r->modules[i].bias, r->modules[i].path);
    /* Each stack once, even when several groups share it. */
    for (size_t i = 0; i < r->group_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = r->groups[j].stack == r->groups[i].stack;
        if (seen) continue;
        size_t depth;
        const uintptr_t *frames = hk_stack_get(r->groups[i].stack, &depth);
        hk_out("stack\t%u", r->groups[i].stack);
        for (size_t f = 0; f < depth; f++) {
            const hk_module_t *m = hk_module_of(r, frames[f]);
            if (m != NULL) hk_out("\t%zu:%lx", (size_t)(m - r->modules), (unsigned long)(frames[f] - m->bias));
            else hk_out("\t-1:%lx", (unsigned long)frames[f]);
        }
        hk_out("\n");
    }
    for (size_t i = 0; i < r->group_count; i++) {
        const hk_leak_group_t *g = &r->groups[i];
        const char *label = hk_track_label_name(g->label);
        hk_out("leak\t%s\t%u\t%zu\t%zu\t%s\t%u\t%lx\n", hk_leak_kind_name((hk_leak_kind_t)g->kind), g->stack,
               g->blocks, g->bytes, label ? label : "-", g->thread, (unsigned long)g->first);
    }
    for (int k = 0; k < HK_LEAK_KINDS; k++) {
        const hk_leak_count_t *c = hk_summary_count(&r->summary, (hk_leak_kind_t)k);
        hk_out("summary\t%s\t%zu\t%zu\n", hk_leak_kind_name((hk_leak_kind_t)k), c->blocks, c->bytes);
    }
    hk_out("end\n");
}

/* The standard name of the allocation call a stack's frame #0 records (its address + 1, see
 * track.c), or NULL: dladdr would give any of the aliases at that address (hk_malloc, malloc,
 * __libc_malloc), and Valgrind, like the user, says malloc. */
static const char *hk_entry_name(uintptr_t frame) {
    static const struct {
        void *fn;
        const char *name;
    } entries[] = {
        {(void *)hk_malloc, "malloc"},           {(void *)hk_calloc, "calloc"},
        {(void *)hk_realloc, "realloc"},         {(void *)hk_reallocarray, "reallocarray"},
        {(void *)hk_posix_memalign, "posix_memalign"}, {(void *)hk_aligned_alloc, "aligned_alloc"},
        {(void *)hk_memalign, "memalign"},       {(void *)hk_valloc, "valloc"},
        {(void *)hk_pvalloc, "pvalloc"},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if ((uintptr_t)entries[i].fn + 1 == frame) return entries[i].name;
    return NULL;
}

static const char *hk_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The "s" of a plural noun: "1 block", "2 blocks", "0 blocks". */
static const char *hk_plural(size_t n) { return n == 1 ? "" : "s"; }

static void hk_report_plain(hk_leak_result_t *r) {
    int pid = (int)getpid();
    hk_out("==%d== heapkit: leak check at %s (%zu thread%s stopped", pid, r->reason, r->stopped,
           hk_plural(r->stopped));
    if (r->not_stopped) hk_out(", %zu did not answer", r->not_stopped);
    hk_out(")\n");
    for (size_t i = 0; i < r->group_count; i++) {
        const hk_leak_group_t *g = &r->groups[i];
        if (g->kind == HK_LEAK_REACHABLE) continue; /* counted in the summary only */
        const char *label = hk_track_label_name(g->label);
        hk_out("==%d==\n==%d== %zu byte%s in %zu block%s %s %s", pid, pid, g->bytes, hk_plural(g->bytes), g->blocks,
               hk_plural(g->blocks), g->blocks == 1 ? "is" : "are", hk_leak_kind_words((hk_leak_kind_t)g->kind));
        if (label) hk_out(" in '%s'", label);
        hk_out(", allocated by thread %u\n", g->thread);
        size_t depth;
        const uintptr_t *frames = hk_stack_get(g->stack, &depth);
        for (size_t f = 0; f < depth; f++) {
            Dl_info info;
            const hk_module_t *m = hk_module_of(r, frames[f]);
            const char *module = m ? hk_basename(m->path) : "?";
            const char *entry = f == 0 ? hk_entry_name(frames[f]) : NULL;
            if (entry != NULL)
                hk_out("==%d==    #%zu %s (%s)\n", pid, f, entry, module);
            else if (dladdr((void *)frames[f], &info) != 0 && info.dli_sname != NULL)
                hk_out("==%d==    #%zu %s+0x%lx (%s)\n", pid, f, info.dli_sname,
                       (unsigned long)(frames[f] - (uintptr_t)info.dli_saddr), module);
            else
                hk_out("==%d==    #%zu 0x%lx (%s+0x%lx)\n", pid, f, (unsigned long)frames[f], module,
                       (unsigned long)(m ? frames[f] - m->bias : frames[f]));
        }
    }
    hk_out("==%d==\n==%d== LEAK SUMMARY:\n", pid, pid);
    for (int k = 0; k < HK_LEAK_KINDS; k++) {
        const hk_leak_count_t *c = hk_summary_count(&r->summary, (hk_leak_kind_t)k);
        hk_out("==%d==    %s: %zu byte%s in %zu block%s\n", pid, hk_leak_kind_words((hk_leak_kind_t)k), c->bytes,
               hk_plural(c->bytes), c->blocks, hk_plural(c->blocks));
    }
    hk_out("==%d== (run under `heapkit run --leaks` for source files and lines)\n", pid);
}

void hk_leak_report(hk_leak_result_t *r) {
    hk_report.buf = (hk_buf_t){hk_report.text, sizeof hk_report.text, 0};
    const char *dir = hk_state.options.leak_dir;
    if (dir == NULL) {
        hk_report.fd = hk_report_fd(); /* stderr as it was at start: the program may have closed it */
        hk_report_plain(r);
        hk_buf_flush(&hk_report.buf, hk_report.fd);
        return;
    }
    /* A file of this pid may already be there from the image that exec'd us (same pid, its own
     * check numbers): take the next free number rather than overwrite it. */
    char path[PATH_MAX];
    for (unsigned tries = 0;; tries++, r->check++) {
        hk_buf_t b = {path, sizeof path, 0};
        hk_buf_printf(&b, "%s/leaks.%d.%u.raw", dir, (int)getpid(), r->check);
        if (b.len >= sizeof path) {
            hk_message("leak report not written: HEAPKIT_LEAK_DIR is too long");
            return;
        }
        hk_report.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (hk_report.fd >= 0 || errno != EEXIST || tries == HK_REPORT_NAME_TRIES) break;
    }
    if (hk_report.fd < 0) {
        hk_message("cannot write the leak report to %s: %m", path);
        return;
    }
    hk_report_raw(r);
    hk_buf_flush(&hk_report.buf, hk_report.fd);
    close(hk_report.fd);
}
