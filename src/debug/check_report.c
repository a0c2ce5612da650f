/* check_report.c — one heap error, as heap checking found it, written out: raw for the `heapkit`
 * command to symbolize offline (HEAPKIT_CHECK_DIR, set by `heapkit run --check`: a file
 * check.PID.N.raw per error, docs/check-report-format.md), or as a plain report on stderr with the
 * names dladdr finds. Then counted, and HEAPKIT_ON_ERROR=abort ends the program.
 * Nothing here allocates: reports are made inside free and inside the fault handler. */
#define _GNU_SOURCE
#include "check.h"
#include "leak.h" /* the module history: which object each frame lies in */

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <unistd.h>

/* A report is a few dozen lines: one buffer holds it, flushed when full. */
#define HK_CHECK_REPORT_BYTES 8192
/* The most files one process writes: a program that overruns in a loop would fill the disk. */
#define HK_CHECK_FILES_MAX 1000

static struct {
    pthread_mutex_t lock;
    int fd;
    unsigned written; /* files of this process so far */
    hk_buf_t buf;
    char text[HK_CHECK_REPORT_BYTES];
} hk_creport = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* all zero bytes with glibc: in .bss, untouched until a report */

/* Text to the report, through its buffer. */
#define hk_cout(...) hk_buf_printf_to(&hk_creport.buf, hk_creport.fd, __VA_ARGS__)

size_t hk_check_error_count(void) { return atomic_load_explicit(&hk_state.heap_errors, memory_order_relaxed); }

/* --------------------------------------------------------------- where */

typedef struct {
    uintptr_t p;
    const char *path;
} hk_where_search_t;

static int hk_where_module(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    hk_where_search_t *s = arg;
    uintptr_t lo, hi;
    hk_module_span(info, &lo, &hi);
    if (s->p < lo || s->p >= hi) return 0;
    s->path = info->dlpi_name != NULL && info->dlpi_name[0] != '\0' ? info->dlpi_name : "the program";
    return 1;
}

/* The stack is told by the current stack pointer and the stack limit: a pointer above this
 * frame and within RLIMIT_STACK's default of it is on this thread's stack (or an older frame
 * of it). */
#define HK_STACK_REACH ((uintptr_t)8 << 20)

const char *hk_check_where(uintptr_t p, const char **module) {
    *module = NULL;
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (p >= sp && p - sp < HK_STACK_REACH) return "stack";
    hk_where_search_t s = {.p = p};
    dl_iterate_phdr(hk_where_module, &s);
    if (s.path != NULL) {
        *module = s.path;
        return "global";
    }
    return "foreign";
}

/* ------------------------------------------------------------------- raw */

static const hk_module_t *hk_cmodule_of(const hk_module_t *m, size_t n, uintptr_t pc) {
    for (size_t i = 0; i < n; i++)
        if (pc >= m[i].lo && pc < m[i].hi) return &m[i];
    return NULL;
}

static void hk_craw_stack(const hk_module_t *mods, size_t nmods, uint32_t id) {
    if (id <= HK_STACK_UNKNOWN) return;
    size_t depth;
    const uintptr_t *frames = hk_stack_get(id, &depth);
    hk_cout("stack\t%u", id);
    for (size_t f = 0; f < depth; f++) {
        const hk_module_t *m = hk_cmodule_of(mods, nmods, frames[f]);
        if (m != NULL) hk_cout("\t%zu:%lx", (size_t)(m - mods), (unsigned long)(frames[f] - m->bias));
        else hk_cout("\t-1:%lx", (unsigned long)frames[f]);
    }
    hk_cout("\n");
}

static const char *hk_or_dash(const char *s) { return s != NULL && s[0] != '\0' ? s : "-"; }

/* The objects loaded now (the program itself by its /proc/self/exe path), then those unloaded
 * since a stack was recorded (the module history): what the report's frames are told by. The
 * report lock keeps them. */
#define HK_CHECK_MODULES_MAX 1024
static hk_module_t *hk_cmods; /* mapped at the first report: static data costs every program address space */
static size_t hk_cmod_count;
static char hk_cexe[PATH_MAX];

static int hk_collect_cmodule(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    const char *path = info->dlpi_name;
    if (path == NULL || path[0] == '\0') {
        /* The first nameless object is the program (its path after the mark at hk_cexe[0]);
         * later ones (the vDSO) are left out. */
        if (hk_cexe[0] == '\0') return 0;
        hk_cexe[0] = '\0';
        path = hk_cexe + 1;
    }
    uintptr_t lo, hi;
    hk_module_span(info, &lo, &hi);
    if (lo < hi && hk_cmods != NULL && hk_cmod_count < HK_CHECK_MODULES_MAX)
        hk_cmods[hk_cmod_count++] = (hk_module_t){lo, hi, info->dlpi_addr, path};
    return 0;
}

static void hk_check_modules(void) {
    hk_cexe[0] = '/';
    ssize_t n = readlink("/proc/self/exe", hk_cexe + 1, sizeof hk_cexe - 2);
    hk_cexe[n > 0 ? n + 1 : 1] = '\0';
    if (n <= 0) hk_cexe[0] = '\0';
    hk_cmod_count = 0;
    if (hk_cmods == NULL && (hk_cmods = hk_meta_map(HK_CHECK_MODULES_MAX * sizeof *hk_cmods)) == NULL) return;
    dl_iterate_phdr(hk_collect_cmodule, NULL);
    size_t count;
    const hk_module_t *history = hk_module_history(&count);
    for (size_t i = 0; i < count && hk_cmod_count < HK_CHECK_MODULES_MAX; i++) {
        bool still = false;
        for (size_t j = 0; j < hk_cmod_count && !still; j++)
            still = hk_cmods[j].bias == history[i].bias && strcmp(hk_cmods[j].path, history[i].path) == 0;
        if (!still) hk_cmods[hk_cmod_count++] = history[i];
    }
}

static void hk_check_report_raw(const hk_check_error_t *e) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    hk_check_modules();
    size_t nmods = hk_cmod_count;
    const hk_module_t *mods = hk_cmods;
    hk_cout("heapkit-check\t1\npid\t%d\t%d\nexe\t%s\n", (int)getpid(), (int)getppid(), exe);
    for (size_t i = 0; i < nmods; i++)
        hk_cout("module\t%zu\t%lx\t%s\n", i, (unsigned long)mods[i].bias, mods[i].path);
    hk_craw_stack(mods, nmods, e->access_stack);
    if (e->alloc_stack != e->access_stack) hk_craw_stack(mods, nmods, e->alloc_stack);
    if (e->free_stack != e->access_stack && e->free_stack != e->alloc_stack) hk_craw_stack(mods, nmods, e->free_stack);
    hk_cout("error\t%s\t%s\t%lx\t%zu\t%lx\t%zu\t%s\t%s\t%u\t%u\t%u\t%u\t%u\t%u\t%s\t%s\n", hk_err_kind_name(e->kind),
            hk_or_dash(e->call), (unsigned long)e->addr, e->access_size, (unsigned long)e->block, e->block_size,
            hk_or_dash(e->where), hk_or_dash(e->module), e->access_stack, e->alloc_stack, e->free_stack,
            e->access_thread, e->alloc_thread, e->free_thread, hk_or_dash(e->label), hk_or_dash(e->alloc_call));
    hk_cout("end\n");
}

/* ----------------------------------------------------------------- plain */

static void hk_cplain_stack(int pid, const char *title, uint32_t id, uint32_t thread) {
    hk_cout("==%d== %s", pid, title);
    if (thread != 0) hk_cout(" by thread %u", thread);
    hk_cout(":\n");
    size_t depth;
    const uintptr_t *frames = hk_stack_get(id, &depth);
    if (depth == 0) hk_cout("==%d==    (no stack)\n", pid);
    for (size_t f = 0; f < depth; f++) {
        Dl_info info;
        if (dladdr((void *)(frames[f] - 1), &info) != 0 && info.dli_sname != NULL)
            hk_cout("==%d==    #%zu %s+0x%lx (%s)\n", pid, f, info.dli_sname,
                    (unsigned long)(frames[f] - (uintptr_t)info.dli_saddr), info.dli_fname);
        else hk_cout("==%d==    #%zu 0x%lx\n", pid, f, (unsigned long)frames[f]);
    }
}

static void hk_check_report_plain(const hk_check_error_t *e) {
    int pid = (int)getpid();
    hk_cout("==%d== heapkit: %s", pid, hk_err_kind_name(e->kind));
    if (e->call != NULL) hk_cout(" in %s", e->call);
    hk_cout(" at 0x%lx", (unsigned long)e->addr);
    if (e->access_size != 0) hk_cout(" (%zu byte%s)", e->access_size, e->access_size == 1 ? "" : "s");
    hk_cout("\n");
    if (e->kind == HK_ERR_MISMATCHED_FREE)
        hk_cout("==%d== a block allocated by %s freed by %s\n", pid, hk_or_dash(e->alloc_call),
                hk_or_dash(e->call));
    if (e->block != 0) {
        const char *freed = hk_err_kind_freed(e->kind) ? " freed" : "";
        if (e->addr >= e->block + e->block_size)
            hk_cout("==%d== 0x%lx is %lu bytes after a block of %zu bytes%s", pid, (unsigned long)e->addr,
                    (unsigned long)(e->addr - e->block - e->block_size), e->block_size, freed);
        else if (e->addr < e->block)
            hk_cout("==%d== 0x%lx is %lu bytes before a block of %zu bytes%s", pid, (unsigned long)e->addr,
                    (unsigned long)(e->block - e->addr), e->block_size, freed);
        else
            hk_cout("==%d== 0x%lx is %lu bytes inside a block of %zu bytes%s", pid, (unsigned long)e->addr,
                    (unsigned long)(e->addr - e->block), e->block_size, freed);
        if (e->label != NULL) hk_cout(" in '%s'", e->label);
        hk_cout("\n");
    } else if (e->where != NULL) {
        hk_cout("==%d== 0x%lx is %s%s%s\n", pid, (unsigned long)e->addr,
                !strcmp(e->where, "stack")    ? "on a thread's stack"
                : !strcmp(e->where, "global") ? "a global in "
                : !strcmp(e->where, "header") ? "a block whose header was overwritten (an underflow)"
                                             : "not a block heapkit handed out",
                e->module != NULL ? e->module : "", "");
    }
    if (e->access_stack > HK_STACK_UNKNOWN) hk_cplain_stack(pid, e->call ? "found" : "access", e->access_stack, e->access_thread);
    if (e->free_stack > HK_STACK_UNKNOWN) hk_cplain_stack(pid, "freed", e->free_stack, e->free_thread);
    if (e->alloc_stack > HK_STACK_UNKNOWN) hk_cplain_stack(pid, "allocated", e->alloc_stack, e->alloc_thread);
    hk_cout("==%d== (run under `heapkit run --check` for source files and lines)\n", pid);
}

/* ---------------------------------------------------------------- report */

void hk_check_report_mismatch(const hk_check_error_t *block_facts, uint8_t alloc, const char *call) {
    hk_check_error_t e = *block_facts;
    e.kind = HK_ERR_MISMATCHED_FREE;
    e.call = call;
    e.alloc_call = hk_family_alloc_names[alloc < HK_FAMILIES ? alloc : 0];
    e.free_stack = HK_STACK_NONE; /* not freed before: this free is the access */
    e.access_stack = hk_track_capture();
    e.access_thread = hk_check_thread();
    hk_check_report(&e);
}

void hk_check_report(const hk_check_error_t *e) {
    atomic_fetch_add_explicit(&hk_state.heap_errors, 1, memory_order_relaxed);
    pthread_mutex_lock(&hk_creport.lock);
    hk_creport.buf = (hk_buf_t){hk_creport.text, sizeof hk_creport.text, 0};
    const char *dir = hk_state.options.check_dir;
    if (dir == NULL) {
        hk_creport.fd = hk_report_fd();
        hk_check_report_plain(e);
        hk_buf_flush(&hk_creport.buf, hk_creport.fd);
    } else if (hk_creport.written < HK_CHECK_FILES_MAX) {
        char path[PATH_MAX];
        hk_creport.fd = -1;
        for (unsigned tries = 0; tries < HK_CHECK_FILES_MAX && hk_creport.fd < 0; tries++) {
            hk_buf_t b = {path, sizeof path, 0};
            hk_buf_printf(&b, "%s/check.%d.%u.raw", dir, (int)getpid(), ++hk_creport.written);
            if (b.len >= sizeof path) break;
            hk_creport.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (hk_creport.fd < 0 && errno != EEXIST) break;
        }
        if (hk_creport.fd >= 0) {
            hk_check_report_raw(e);
            hk_buf_flush(&hk_creport.buf, hk_creport.fd);
            close(hk_creport.fd);
        } else {
            hk_message("cannot write a heap-error report in %s (errno %d)", dir, errno);
        }
    }
    pthread_mutex_unlock(&hk_creport.lock);
    if (hk_state.options.abort_on_error) abort();
}

HK_LOCK(check_report, HK_LOCK_CHECK_REPORT, &hk_creport.lock);
