/* leak_report.c — the `heapkit` command's leak report: reads every raw report of a directory,
 * groups them by process and check, symbolizes the stacks, applies suppressions, says why a
 * process left no report, and prints it all for people, Valgrind-style, on stderr. Stacks are
 * trimmed of heapkit's own frames above the allocation call the program made, so #0 is malloc
 * (or hk_malloc, ...) when the library recorded it, else the program's own caller. */
#define _GNU_SOURCE
#include "leak_report.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "symbolize.h"
#include "xalloc.h"

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* --- reading the directory --------------------------------------------------------------- */

static int report_cmp(const void *a, const void *b)
{
    const struct raw_report *x = a, *y = b;
    if (x->pid != y->pid)
        return (x->pid > y->pid) - (x->pid < y->pid);
    return (x->check > y->check) - (x->check < y->check);
}

/* Every leaks.<pid>.<n>.raw in dir, sorted by pid then check; NULL with errno on failure. */
static struct raw_report *load_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    struct raw_report *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid;
        unsigned long check;
        if (!raw_report_name(e->d_name, &pid, &check))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = xrealloc(list, cap * sizeof *list);
        }
        char *path = xasprintf("%s/%s", dir, e->d_name);
        raw_report_read(&list[n++], path, pid, check);
        free(path);
    }
    closedir(d);
    if (n > 1)
        qsort(list, n, sizeof *list, report_cmp);
    *count = n;
    return list != NULL ? list : xcalloc(1, sizeof *list);
}

/* A process that loaded the library in a `heapkit run` (src/base/options.c writes
 * loaded.<pid> holding "<pid> <ppid>" into HEAPKIT_RUN_DIR, which is also the leak directory). */
struct marker {
    long pid, ppid;
};

/* Every loaded.<pid> of dir; *count 0 when there is none (as in a plain leak-report). */
static struct marker *load_markers(const char *dir, size_t *count)
{
    struct marker *list = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "loaded.", 7) != 0)
            continue;
        long pid = strtol(e->d_name + 7, &end, 10);
        if (pid <= 0 || *end != '\0')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct marker *grown = realloc(list, cap * sizeof *list);
            if (grown == NULL) {
                fputs("heapkit: out of memory\n", stderr);
                exit(1);
            }
            list = grown;
        }
        list[n] = (struct marker){ .pid = pid, .ppid = -1 };
        char *path = xasprintf("%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "re");
        char line[64];
        if (f != NULL && fgets(line, sizeof line, f) != NULL) {
            char *rest;
            long p2 = strtol(line, &rest, 10);
            char *after;
            long pp = strtol(rest, &after, 10);
            if (p2 == pid && after != rest && pp > 0)
                list[n].ppid = pp;
        }
        if (f != NULL)
            fclose(f);
        free(path);
        n++;
    }
    if (d != NULL)
        closedir(d);
    *count = n;
    return list;
}

/* --- stacks ------------------------------------------------------------------------------ */

/* The standard allocation entry points, as libheapkit.so defines them. */
static bool is_alloc_function(const char *fn)
{
    static const char *const names[] = {
        "malloc", "calloc", "realloc", "free", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
        "valloc", "pvalloc", "malloc_usable_size", "free_sized", "free_aligned_sized", "__libc_malloc",
        "__libc_calloc", "__libc_realloc", "__libc_free", "__libc_memalign", "__libc_valloc", "__libc_pvalloc",
    };
    if (fn == NULL)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(fn, names[i]) == 0)
            return true;
    return false;
}

static bool in_heapkit(const struct leak_frame *f)
{
    return (f->module != NULL && strncmp(base_name(f->module), "libheapkit.so", 13) == 0) ||
           (f->function != NULL && strncmp(f->function, "hk_", 3) == 0) || is_alloc_function(f->function);
}

/* A function the program calls to allocate: a standard name, or an exported (public) heapkit
 * function, as opposed to the hidden hk_ internals a static link leaves in the program. */
static bool is_entry_point(const struct leak_frame *f)
{
    return is_alloc_function(f->function) || (!f->inlined && f->exported && in_heapkit(f));
}

/* Drops heapkit's frames from the top: everything above the outermost entry point in the run of
 * heapkit frames that starts the stack, or that whole run if it holds no entry point. */
static void trim_own_frames(struct leak_frame *frames, size_t *depth)
{
    size_t run = 0, keep = 0;
    while (run < *depth && in_heapkit(&frames[run]))
        run++;
    keep = run;
    for (size_t i = 0; i < run; i++)
        if (is_entry_point(&frames[i]))
            keep = i;
    if (keep == 0)
        return;
    memmove(frames, frames + keep, (*depth - keep) * sizeof *frames);
    *depth -= keep;
}

static void push_frame(struct leak_frame **frames, size_t *depth, size_t *cap, struct leak_frame f)
{
    if (*depth == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        struct leak_frame *grown = realloc(*frames, *cap * sizeof *grown);
        if (grown == NULL) {
            fputs("heapkit: out of memory\n", stderr);
            exit(1);
        }
        *frames = grown;
    }
    (*frames)[(*depth)++] = f;
}

size_t symbolize_stack(struct symbolizer *sym, const struct raw_module *modules, size_t module_count,
                       const struct raw_stack *st, struct leak_frame **out)
{
    struct leak_frame *frames = NULL;
    size_t depth = 0, cap = 0;
    for (size_t i = 0; st != NULL && i < st->depth; i++) {
        const struct raw_frame *rf = &st->frames[i];
        const struct raw_module *m = NULL;
        if (rf->module >= 0 && (size_t)rf->module < module_count && modules[rf->module].path != NULL)
            m = &modules[rf->module];
        struct leak_frame f = { .address = rf->addr, .rel = rf->addr };
        if (m == NULL) {
            push_frame(&frames, &depth, &cap, f);
            continue;
        }
        f.module = m->path;
        f.address = m->bias + rf->addr;
        /* A return address is the instruction after the call; the call is what we want named. */
        const struct sym_frame *sf;
        size_t n = symbolize(sym, m->path, rf->addr > 0 ? rf->addr - 1 : 0, &sf);
        if (n == 0)
            push_frame(&frames, &depth, &cap, f);
        for (size_t j = 0; j < n; j++) {
            f.function = sf[j].function;
            f.file = sf[j].file;
            f.line = sf[j].line;
            f.offset = sf[j].inlined ? 0 : sf[j].offset + 1;
            f.inlined = sf[j].inlined;
            f.exported = sf[j].exported;
            push_frame(&frames, &depth, &cap, f);
        }
    }
    trim_own_frames(frames, &depth);
    *out = frames;
    return depth;
}

/* The same into a group's frames: the profile report's sites are groups too. */
void leak_symbolize_stack(struct symbolizer *sym, const struct raw_module *modules, size_t module_count,
                          const struct raw_stack *st, struct leak_group *g)
{
    g->depth = symbolize_stack(sym, modules, module_count, st, &g->frames);
}

static void symbolize_group(struct symbolizer *sym, const struct raw_report *r, struct leak_group *g)
{
    leak_symbolize_stack(sym, r->modules, r->module_count, raw_report_stack(r, g->raw->stack), g);
}

/* The first suppression, in file order, that matches a frame's function, source file (path or
 * name) or module (path or name). */
static long suppress_group(const struct suppressions *s, const struct leak_group *g)
{
    if (s == NULL || s->count == 0 || g->depth == 0 || g->frames == NULL)
        return -1;
    const char **strings = xcalloc(g->depth * 5, sizeof *strings);
    for (size_t i = 0; i < g->depth; i++) {
        const struct leak_frame *f = &g->frames[i];
        strings[i * 5] = f->function;
        strings[i * 5 + 1] = f->file;
        strings[i * 5 + 2] = f->file != NULL ? base_name(f->file) : NULL;
        strings[i * 5 + 3] = f->module;
        strings[i * 5 + 4] = f->module != NULL ? base_name(f->module) : NULL;
    }
    long k = suppressions_match(s, strings, g->depth * 5);
    free(strings);
    return k;
}

/* Totals saturate at 2^64-1 instead of wrapping: a crafted or damaged report must not turn a
 * huge count into a small one ("37 bytes" after a 2^64-1 record). */
static uint64_t add_saturated(uint64_t a, uint64_t b)
{
    uint64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

static void add_count(struct leak_count *c, const struct raw_leak *l)
{
    c->blocks = add_saturated(c->blocks, l->blocks);
    c->bytes = add_saturated(c->bytes, l->bytes);
}

/* name_reachable: whether still-reachable groups will be shown, written or matched against
 * suppressions; when not, they are only counted, and not symbolized (the dearest part of a
 * report with nothing lost: reading the program's debug info). */
static void build_check(struct leak_check *c, struct raw_report *r, struct symbolizer *sym,
                        const struct suppressions *s, bool name_reachable)
{
    c->raw = r;
    c->groups = xcalloc(r->leak_count, sizeof *c->groups);
    c->group_count = r->leak_count;
    c->per_suppression = xcalloc(s != NULL ? s->count : 0, sizeof *c->per_suppression);
    struct leak_count listed[HK_LEAK_KINDS] = { { 0 } };
    for (size_t i = 0; i < r->leak_count; i++) {
        struct leak_group *g = &c->groups[i];
        g->raw = &r->leaks[i];
        if (name_reachable || g->raw->kind != HK_LEAK_REACHABLE)
            symbolize_group(sym, r, g);
        g->suppressed_by = suppress_group(s, g);
        if (g->suppressed_by >= 0) {
            add_count(&c->suppressed, g->raw);
            add_count(&c->per_suppression[g->suppressed_by], g->raw);
        } else {
            add_count(&listed[g->raw->kind], g->raw);
        }
    }
    /* The summary may count more than the groups (blocks the library could not group); trust
     * it, less what was suppressed. A report cut short before it has only its groups. */
    for (int k = 0; k < HK_LEAK_KINDS; k++) {
        c->counts[k] = listed[k];
        if (!r->has_summary[k])
            continue;
        struct leak_count supp = { 0 };
        for (size_t i = 0; i < c->group_count; i++)
            if (c->groups[i].suppressed_by >= 0 && c->groups[i].raw->kind == (hk_leak_kind_t)k)
                add_count(&supp, c->groups[i].raw);
        if (r->summary[k].blocks >= supp.blocks && r->summary[k].bytes >= supp.bytes) {
            c->counts[k].blocks = r->summary[k].blocks - supp.blocks;
            c->counts[k].bytes = r->summary[k].bytes - supp.bytes;
        }
    }
}

/* --- processes --------------------------------------------------------------------------- */

static char *signal_text(int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    return abbrev != NULL ? xasprintf("signal %d (SIG%s)", sig, abbrev) : xasprintf("signal %d", sig);
}

static char *status_text(int status)
{
    if (WIFEXITED(status))
        return xasprintf("exited %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return xasprintf("killed by signal %d", WTERMSIG(status));
    return xasprintf("unknown");
}

/* Why the main program left no complete report at exit, or NULL if it did. */
static char *main_note(const struct leak_process *p, const struct leak_main *m)
{
    const struct raw_report *at_exit = NULL;
    for (size_t i = 0; i < p->check_count; i++) {
        const struct raw_report *r = p->checks[i].raw;
        if (r->reason != NULL && strcmp(r->reason, "exit") == 0)
            at_exit = r;
    }
    if (at_exit != NULL && at_exit->complete)
        return NULL;
    char *sig = WIFSIGNALED(m->status) ? signal_text(WTERMSIG(m->status)) : NULL;
    char *note;
    if (at_exit != NULL && sig != NULL)
        note = xasprintf("the leak report at exit from %ld (%s) was cut short: it was killed by %s while writing it",
                         p->pid, m->name, sig);
    else if (at_exit != NULL)
        note = xasprintf("the leak report at exit from %ld (%s) was cut short: it ended while writing it", p->pid,
                         m->name);
    else if (sig != NULL)
        note = xasprintf("no leak report at exit from %ld (%s): it was killed by %s before exit", p->pid, m->name,
                         sig);
    else if (m->no_preload != NULL && p->check_count == 0)
        note = xasprintf("no leak report at exit from %ld (%s): heapkit could not be loaded into it: %s", p->pid,
                         m->name, m->no_preload);
    else
        note = xasprintf("no leak report at exit from %ld (%s): it exited (status %d) through _exit or exec, "
                         "without running exit handlers%s",
                         p->pid, m->name, WEXITSTATUS(m->status),
                         p->check_count > 0 ? "" : ", or heapkit was not loaded into it");
    free(sig);
    return note;
}

/* Why another process of the run (one that loaded heapkit: it left a marker) has no complete
 * report at exit, or NULL if it has one. Its end is known only if this command reaped it. */
static char *other_note(const struct leak_process *p, const struct leak_main *m)
{
    for (size_t i = 0; i < p->check_count; i++) {
        const struct raw_report *r = p->checks[i].raw;
        if (r->reason != NULL && strcmp(r->reason, "exit") == 0)
            return NULL; /* complete or cut short: its check says which */
    }
    const char *from = p->ppid > 0 ? xasprintf(" (forked by %ld)", p->ppid) : xasprintf("%s", "");
    char *note = NULL;
    for (size_t i = 0; i < m->reaped_count && note == NULL; i++) {
        if (m->reaped[i].pid != p->pid)
            continue;
        int st = m->reaped[i].status;
        if (WIFSIGNALED(st)) {
            char *sig = signal_text(WTERMSIG(st));
            note = xasprintf("process %ld%s ended without a leak check: it was killed by %s", p->pid, from, sig);
            free(sig);
        } else {
            note = xasprintf("process %ld%s ended without a leak check: it exited (status %d) through _exit or "
                             "exec, without running exit handlers", p->pid, from, WEXITSTATUS(st));
        }
    }
    if (note == NULL)
        note = xasprintf("process %ld%s ended without a leak check: it was killed by a signal (SIGKILL cannot "
                         "be caught), or left through _exit, or exec'd a program heapkit could not be loaded into; "
                         "its parent, not heapkit, saw which",
                         p->pid, from);
    free((char *)from);
    return note;
}

/* Groups the sorted reports by pid, the main program first, then every other process that loaded
 * heapkit (markers); symbolizes and suppresses. */
static struct leak_set build_set(struct raw_report *reports, size_t n, const struct leak_main *m,
                                 const struct suppressions *s, struct symbolizer *sym, bool name_reachable,
                                 const struct marker *markers, size_t marker_count)
{
    struct leak_set set = { .processes = xcalloc(n + marker_count + 1, sizeof *set.processes), .suppressions = s };
    if (m->pid > 0)
        set.processes[set.process_count++] = (struct leak_process){ .pid = m->pid, .ppid = (long)getpid(),
                                                                    .is_main = true, .exe = m->name };
    for (size_t i = 0; i < n; i++) {
        struct leak_process *p = NULL;
        for (size_t j = 0; j < set.process_count && p == NULL; j++)
            if (set.processes[j].pid == reports[i].pid)
                p = &set.processes[j];
        if (p == NULL) {
            p = &set.processes[set.process_count++];
            *p = (struct leak_process){ .pid = reports[i].pid, .ppid = -1 };
        }
        if (p->checks == NULL)
            p->checks = xcalloc(n, sizeof *p->checks);
        build_check(&p->checks[p->check_count++], &reports[i], sym, s, name_reachable);
        if (reports[i].exe != NULL)
            p->exe = reports[i].exe; /* the last one: a process that exec'd shows its new image */
        if (reports[i].ppid >= 0)
            p->ppid = reports[i].ppid;
    }
    for (size_t i = 0; i < marker_count; i++) {
        struct leak_process *p = NULL;
        for (size_t j = 0; j < set.process_count && p == NULL; j++)
            if (set.processes[j].pid == markers[i].pid)
                p = &set.processes[j];
        if (p == NULL) {
            p = &set.processes[set.process_count++];
            *p = (struct leak_process){ .pid = markers[i].pid, .ppid = markers[i].ppid };
        }
        p->announced = true;
    }
    for (size_t j = 0; j < set.process_count; j++) {
        struct leak_process *p = &set.processes[j];
        p->status = p->is_main ? status_text(m->status) : xasprintf("unknown");
        for (size_t i = 0; !p->is_main && i < m->reaped_count; i++)
            if (m->reaped[i].pid == p->pid) {
                free(p->status);
                p->status = status_text(m->reaped[i].status);
            }
        if (p->is_main)
            p->note = main_note(p, m);
        else if (p->announced)
            p->note = other_note(p, m);
    }
    return set;
}

static void free_set(struct leak_set *set)
{
    for (size_t i = 0; i < set->process_count; i++) {
        struct leak_process *p = &set->processes[i];
        for (size_t j = 0; j < p->check_count; j++) {
            for (size_t k = 0; k < p->checks[j].group_count; k++)
                free(p->checks[j].groups[k].frames);
            free(p->checks[j].groups);
            free(p->checks[j].per_suppression);
        }
        free(p->checks);
        free(p->status);
        free(p->note);
    }
    free(set->processes);
}

/* --- the terminal report ----------------------------------------------------------------- */

/* 1234567 -> "1,234,567", as Valgrind prints counts. */
static const char *commas(uint64_t v, char buf[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Source paths under the current directory are shown relative to it. */
static const char *short_path(const char *path, const char *cwd)
{
    size_t n = cwd != NULL ? strlen(cwd) : 0;
    if (n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

void print_frame(long pid, size_t i, const struct leak_frame *f, const char *cwd)
{
    fprintf(stderr, "==%ld==    #%zu ", pid, i);
    if (f->function == NULL && f->file == NULL) {
        if (f->module != NULL)
            fprintf(stderr, "0x%" PRIx64 " (%s+0x%" PRIx64 ")\n", f->address, base_name(f->module), f->rel);
        else
            fprintf(stderr, "0x%" PRIx64 " (in no module)\n", f->address);
        return;
    }
    if (f->function != NULL)
        fputs(f->function, stderr);
    else
        fprintf(stderr, "0x%" PRIx64, f->address);
    if (f->file != NULL && f->line > 0)
        fprintf(stderr, " (%s:%u)", short_path(f->file, cwd), f->line);
    else if (f->file != NULL)
        fprintf(stderr, " (%s)", short_path(f->file, cwd));
    else if (f->offset > 0)
        fprintf(stderr, "+0x%" PRIx64, f->offset);
    fprintf(stderr, "  [%s]\n", f->module);
}

static void print_count(long pid, const char *what, const struct leak_count *c)
{
    char b1[32], b2[32];
    fprintf(stderr, "==%ld==    %15s: %s bytes in %s %s\n", pid, what, commas(c->bytes, b1), commas(c->blocks, b2),
            hk_leak_blocks_word(c->blocks));
}

static bool listed(const struct leak_group *g, const struct leak_options *o)
{
    return g->suppressed_by < 0 && (o->show_reachable || g->raw->kind != HK_LEAK_REACHABLE);
}

static void print_check_header(long pid, const struct leak_process *p, const struct leak_check *c)
{
    const struct raw_report *r = c->raw;
    const char *exe = r->exe != NULL ? r->exe : p->exe != NULL ? p->exe : "?";
    if (r->reason != NULL && strcmp(r->reason, "exit") == 0)
        fprintf(stderr, "==%ld== heapkit: leak check at exit of %s", pid, exe);
    else if (r->reason != NULL && strcmp(r->reason, "call") == 0)
        fprintf(stderr, "==%ld== heapkit: leak check %lu of %s, asked for by hk_leak_check()", pid, r->check, exe);
    else if (r->reason != NULL && strcmp(r->reason, "signal") == 0)
        fprintf(stderr, "==%ld== heapkit: leak check %lu of %s, on signal", pid, r->check, exe);
    else
        fprintf(stderr, "==%ld== heapkit: leak check %lu of %s (%s)", pid, r->check, exe,
                r->reason != NULL ? r->reason : "reason unknown");
    fprintf(stderr, " (threads stopped: %" PRIu64 ")\n", r->stopped);
    if (r->not_stopped > 0)
        fprintf(stderr,
                "==%ld== warning: %" PRIu64 " thread(s) did not stop; their stacks and registers were not "
                "scanned, so blocks only they point to are counted lost\n",
                pid, r->not_stopped);
    if (r->check > 1)
        fprintf(stderr, "==%ld== (blocks listed by an earlier check of this process are not repeated)\n", pid);
    if (!r->complete) {
        const char *why = r->error != NULL ? r->error : "the file ends before its end record";
        fprintf(stderr, "==%ld== warning: this report was cut short (%s); what follows is what it holds\n", pid,
                why);
    }
}

/* A check of another process (a child, say) with nothing lost, listed or suppressed: one line,
 * so a shell script's every command does not add a screenful of zeros. */
static bool print_check_briefly(const struct leak_process *p, const struct leak_check *c,
                                const struct leak_options *o)
{
    const struct raw_report *r = c->raw;
    if (p->is_main || !r->complete || r->not_stopped > 0 || c->suppressed.blocks > 0)
        return false;
    for (int k = 0; k < HK_LEAK_KINDS; k++)
        if (c->counts[k].blocks > 0 && (k != HK_LEAK_REACHABLE || o->show_reachable))
            return false;
    char b1[32], b2[32];
    const struct leak_count *reach = &c->counts[HK_LEAK_REACHABLE];
    fprintf(stderr, "==%ld== heapkit: no leaks at %s of %s (%s bytes in %s %s %s)\n", r->pid,
            r->reason != NULL && strcmp(r->reason, "exit") == 0 ? "exit" : "a check",
            r->exe != NULL ? r->exe : p->exe != NULL ? p->exe : "?", commas(reach->bytes, b1),
            commas(reach->blocks, b2), hk_leak_blocks_word(reach->blocks), hk_leak_kind_words(HK_LEAK_REACHABLE));
    return true;
}

static void print_check(const struct leak_process *p, const struct leak_check *c, const struct leak_options *o,
                        const char *cwd)
{
    long pid = c->raw->pid;
    char b1[32], b2[32];
    if (print_check_briefly(p, c, o))
        return;
    print_check_header(pid, p, c);
    size_t total = 0, record = 0;
    for (size_t i = 0; i < c->group_count; i++)
        total += listed(&c->groups[i], o);
    for (size_t i = 0; i < c->group_count; i++) {
        const struct leak_group *g = &c->groups[i];
        if (!listed(g, o))
            continue;
        const struct raw_leak *l = g->raw;
        fprintf(stderr, "==%ld==\n==%ld== %s bytes in %s %s %s %s", pid, pid, commas(l->bytes, b1),
                commas(l->blocks, b2), hk_leak_blocks_word(l->blocks), hk_leak_blocks_verb(l->blocks),
                hk_leak_kind_words(l->kind));
        if (l->label != NULL)
            fprintf(stderr, " in '%s'", l->label);
        fprintf(stderr, " (loss record %zu of %zu)", ++record, total);
        if (l->thread > 0)
            fprintf(stderr, ", allocated by thread %" PRIu64, l->thread);
        fputc('\n', stderr);
        for (size_t f = 0; f < g->depth; f++)
            print_frame(pid, f, &g->frames[f], cwd);
        if (g->depth == 0)
            fprintf(stderr, "==%ld==    (no stack recorded)\n", pid);
    }
    bool partial = false;
    for (int k = 0; k < HK_LEAK_KINDS; k++)
        partial |= !c->raw->has_summary[k];
    fprintf(stderr, "==%ld==\n==%ld== LEAK SUMMARY%s:\n", pid, pid,
            partial ? " (added up from the loss records: the report was cut short before its summary)" : "");
    for (int k = 0; k < HK_LEAK_KINDS; k++)
        print_count(pid, hk_leak_kind_words((hk_leak_kind_t)k), &c->counts[k]);
    print_count(pid, HK_LEAK_SUPPRESSED_WORDS, &c->suppressed);
    if (!o->show_reachable && c->counts[HK_LEAK_REACHABLE].blocks > 0)
        fprintf(stderr, "==%ld== Still-reachable blocks are not listed; --show-reachable lists them.\n", pid);
    const struct suppressions *s = o->suppressions;
    bool header = false;
    for (size_t i = 0; s != NULL && i < s->count; i++) {
        const struct leak_count *used = &c->per_suppression[i];
        if (used->blocks == 0 && used->bytes == 0)
            continue;
        if (!header)
            fprintf(stderr, "==%ld==\n==%ld== Suppressions used:\n", pid, pid);
        header = true;
        fprintf(stderr, "==%ld==    %s bytes in %s %s: leak:%s  (%s:%u)\n", pid, commas(used->bytes, b1),
                commas(used->blocks, b2), hk_leak_blocks_word(used->blocks), s->items[i].pattern, s->items[i].file,
                s->items[i].line);
    }
    fprintf(stderr, "==%ld==\n", pid);
}

/* A report with nothing in it to show: unreadable, or cut before its header was whole. */
static bool unusable(const struct raw_report *r)
{
    return r->error != NULL && r->leak_count == 0;
}

static void print_process(const struct leak_process *p, const struct leak_options *o, const char *cwd)
{
    for (size_t i = 0; i < p->check_count; i++) {
        const struct leak_check *c = &p->checks[i];
        if (unusable(c->raw)) {
            fprintf(stderr, "heapkit: leak report %s of %ld cannot be used: %s\n", c->raw->path, p->pid,
                    c->raw->error);
            continue;
        }
        print_check(p, c, o, cwd);
    }
    if (p->note != NULL)
        fprintf(stderr, "heapkit: %s\n", p->note);
}

int leak_report_dir(const char *dir, const struct leak_options *o, const struct leak_main *m)
{
    size_t n = 0;
    struct raw_report *reports = load_dir(dir, &n);
    if (reports == NULL) {
        fprintf(stderr, "heapkit: cannot read the leak reports in %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (n == 0 && m->pid <= 0) {
        fprintf(stderr, "heapkit: no raw leak reports (leaks.PID.N.raw) in %s\n", dir);
        free(reports);
        return -1;
    }
    struct symbolizer *sym = symbolizer_new();
    bool name_reachable = o->show_reachable || o->json != NULL ||
                          (o->suppressions != NULL && o->suppressions->count > 0);
    size_t marker_count = 0;
    struct marker *markers = m->pid > 0 ? load_markers(dir, &marker_count) : NULL;
    struct leak_set set = build_set(reports, n, m, o->suppressions, sym, name_reachable, markers, marker_count);
    free(markers);
    char *cwd = getcwd(NULL, 0);
    int found = 0;
    for (size_t i = 0; i < set.process_count; i++) {
        print_process(&set.processes[i], o, cwd);
        for (size_t j = 0; j < set.processes[i].check_count; j++) {
            const struct leak_check *c = &set.processes[i].checks[j];
            if (c->counts[HK_LEAK_DEFINITE].blocks > 0 || c->counts[HK_LEAK_INDIRECT].blocks > 0)
                found = 1;
        }
    }
    free(cwd);
    int result = found ? LEAK_REPORT_FOUND : 0;
    size_t usable = 0;
    for (size_t i = 0; i < n; i++)
        usable += !unusable(&reports[i]);
    if (usable == 0 && m->pid <= 0) {
        fprintf(stderr, "heapkit: no usable raw leak report in %s\n", dir);
        result = -1;
    }
    if (result >= 0 && o->json != NULL && !leak_json_write(o->json, &set)) {
        fprintf(stderr, "heapkit: cannot write the JSON leak report: %s\n", strerror(errno));
        result |= LEAK_REPORT_JSON_FAILED;
    }
    free_set(&set);
    symbolizer_free(sym);
    for (size_t i = 0; i < n; i++)
        raw_report_clear(&reports[i]);
    free(reports);
    return result;
}
