/* std_plain_text.c — a plain process runs only the front of the library's text: the base, the
 * core and the few functions of the layers above marked hk_plain_path. The kernel maps a library's
 * cached pages 64 KiB around each one a process touches, so a single call into the debug or pool
 * code (or libgcc's unwinder, or the libc_nonshared stubs linked at the end) made every heapkit
 * process map the whole text: 176 KiB resident where 64 now do. A child makes everything after
 * the last base/numa/core function inaccessible (found with nm and addr2line in the library's own
 * symbols) and then allocates every way, runs and ends threads, forks and exits: a call into that
 * part faults, and the child names the address. The base's and the core's hk_rare_path code (put behind
 * all the text) is closed with it, and so is the read-only segment behind the text (.rodata,
 * .eh_frame): the kernel maps its 56 KiB whole at the first read of any byte of it, and a plain
 * process reads none of it (hk_plain_const in base.h; a loop the compiler vectorized loaded its
 * constant vector from there in every new heap). Skipped (77) without nm, addr2line or debug info. */
#define _GNU_SOURCE
#include "hkt.h"

#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_SYMS 8192
/* The kernel's default fault-around (fault_around_bytes). */
#define HKT_FAULT_AROUND ((uintptr_t)64 * 1024)

typedef struct {
    uintptr_t addr, size;
} sym_t;

static sym_t syms[MAX_SYMS];
static size_t nsyms;

/* The library's path and where its file offset 0 and its text are mapped. */
static bool find_library(char *path, size_t cap, uintptr_t *base, uintptr_t *text_start, uintptr_t *text_end) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) return false;
    char line[1024];
    *base = *text_start = *text_end = 0;
    while (fgets(line, sizeof line, f)) {
        /* "start-end perms offset dev inode path" */
        char *s = line, *e;
        uintptr_t a = (uintptr_t)strtoull(s, &e, 16);
        if (*e != '-') continue;
        uintptr_t b = (uintptr_t)strtoull(e + 1, &s, 16);
        char perm[5] = {0};
        memcpy(perm, s + 1, 4);
        uintptr_t off = (uintptr_t)strtoull(s + 6, &e, 16);
        const char *file = strchr(e, '/');
        if (file == NULL || strstr(file, "libheapkit") == NULL) continue;
        if (off == 0 && *base == 0) {
            *base = a;
            snprintf(path, cap, "%.*s", (int)strcspn(file, "\n"), file);
        }
        if (strcmp(perm, "r-xp") == 0) {
            *text_start = a;
            *text_end = b;
        }
    }
    fclose(f);
    return *base != 0 && *text_start != 0;
}

/* The library's hk_rare_text section (base and core code a plain process never runs, placed
 * behind all the text: hk_rare_path), as offsets; both 0 if it has none. */
static void rare_text(const char *lib, uintptr_t *lo, uintptr_t *hi) {
    char cmd[1200], line[1024];
    *lo = *hi = 0;
    snprintf(cmd, sizeof cmd, "readelf -SW '%s' 2>/dev/null", lib);
    FILE *p = popen(cmd, "r");
    if (p == NULL) return;
    while (fgets(line, sizeof line, p)) {
        /* "  [13] hk_rare_text      PROGBITS        0000000000031d70 031d70 002f27 00  AX ..." */
        char *at = strstr(line, " hk_rare_text ");
        if (at == NULL) continue;
        at += strlen(" hk_rare_text ");
        at += strspn(at, " ");
        at += strcspn(at, " "); /* the type */
        char *e;
        uintptr_t addr = (uintptr_t)strtoull(at, &e, 16);
        (void)strtoull(e, &e, 16); /* the file offset */
        uintptr_t size = (uintptr_t)strtoull(e, &e, 16);
        if (addr != 0 && size != 0) {
            *lo = addr;
            *hi = addr + size;
        }
    }
    pclose(p);
}

/* The end (offset in the file's address space) of the last function defined in src/base,
 * src/numa or src/core, those in hk_rare_text left out (the child closes them with the rest);
 * 0 if the symbols or their source files cannot be read. */
static uintptr_t core_text_end(const char *lib) {
    char cmd[1200], tmp[] = "/tmp/hkt-plain-text-XXXXXX";
    uintptr_t rare_lo, rare_hi;
    rare_text(lib, &rare_lo, &rare_hi);
    snprintf(cmd, sizeof cmd, "nm -n -S --defined-only '%s' 2>/dev/null", lib);
    FILE *p = popen(cmd, "r");
    if (p == NULL) return 0;
    char line[1024];
    while (nsyms < MAX_SYMS && fgets(line, sizeof line, p)) {
        /* "address size type name" */
        char *e1, *e2;
        uintptr_t a = (uintptr_t)strtoull(line, &e1, 16);
        if (e1 == line || *e1 != ' ') continue;
        uintptr_t s = (uintptr_t)strtoull(e1 + 1, &e2, 16);
        if (e2 == e1 + 1 || *e2 != ' ') continue;
        char type = e2[1];
        if (type == 't' || type == 'T' || type == 'w' || type == 'W') syms[nsyms++] = (sym_t){a, s};
    }
    pclose(p);
    int fd = mkstemp(tmp);
    if (fd < 0 || nsyms == 0) return 0;
    FILE *out = fdopen(fd, "w");
    for (size_t i = 0; i < nsyms; i++) fprintf(out, "%" PRIxPTR "\n", syms[i].addr);
    fclose(out);
    snprintf(cmd, sizeof cmd, "addr2line -e '%s' < '%s' 2>/dev/null", lib, tmp);
    p = popen(cmd, "r");
    uintptr_t end = 0;
    size_t i = 0, known = 0;
    while (p != NULL && i < nsyms && fgets(line, sizeof line, p)) {
        if (line[0] != '?') known++;
        /* a .c file: static inline helpers of core.h are copied into the debug layer's objects too */
        bool c_file = strstr(line, ".c:") != NULL;
        bool rare = syms[i].addr >= rare_lo && syms[i].addr < rare_hi;
        if (c_file && !rare && (strstr(line, "/src/base/") || strstr(line, "/src/numa/") || strstr(line, "/src/core/")))
            if (syms[i].addr + syms[i].size > end) end = syms[i].addr + syms[i].size;
        i++;
    }
    if (p != NULL) pclose(p);
    unlink(tmp);
    return known * 2 > nsyms ? end : 0; /* most symbols without a file: no debug info */
}

/* The library's read-only segment behind its text (.rodata, .eh_frame), whole pages; lo == hi if
 * it has none. */
typedef struct {
    uintptr_t lo, hi;
} range_t;

static int find_rodata(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    range_t *r = arg;
    if (strstr(info->dlpi_name, "libheapkit") == NULL) return 0;
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), text_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        if (ph->p_flags & PF_X) text_end = ph->p_vaddr + ph->p_memsz;
        else if (ph->p_flags == PF_R && text_end != 0 && ph->p_vaddr >= text_end && r->lo == r->hi) {
            /* its last page ends before the next segment's first: segments of other permissions
             * never share a page */
            r->lo = (info->dlpi_addr + ph->p_vaddr) & ~(ps - 1);
            r->hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + ps - 1) & ~(ps - 1);
        }
    }
    return 1;
}

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    void *ip = NULL;
#if defined(__x86_64__)
    ip = (void *)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
#else
    (void)ctx;
#endif
    char msg[96];
    int n = snprintf(msg, sizeof msg, "fault at %p (instruction at %p)\n", si->si_addr, ip);
    if (write(2, msg, (size_t)n) < 0) _exit(4);
    _exit(3);
}

static void *thread_work(void *arg) {
    void **slots = arg;
    for (int i = 0; i < 2000; i++) {
        free(slots[i % 64]); /* blocks of another thread: remote frees */
        slots[i % 64] = malloc(16 + (size_t)i * 37 % 3000);
    }
    return NULL;
}

/* Everything a plain program does with its allocator, with the cold text closed. */
static void child(uintptr_t cold, uintptr_t end, range_t rodata) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (mprotect((void *)cold, end - cold, PROT_NONE) != 0) _exit(5);
    if (rodata.hi > rodata.lo && mprotect((void *)rodata.lo, rodata.hi - rodata.lo, PROT_NONE) != 0) _exit(9);
    void *keep[256];
    for (int i = 0; i < 256; i++) keep[i] = malloc((size_t)1 << (i % 21)); /* 1 B to 1 MiB */
    for (int i = 0; i < 256; i += 2) keep[i] = realloc(keep[i], (size_t)i * 977 + 5);
    void *z = calloc(1000, 40), *a = NULL;
    if (posix_memalign(&a, 4096, 5000) != 0) _exit(6);
    free(z);
    free(a);
    void *slots[64];
    for (int i = 0; i < 64; i++) slots[i] = malloc(100);
    for (int round = 0; round < 20; round++) { /* threads start, take parked heaps, exit */
        pthread_t t;
        if (pthread_create(&t, NULL, thread_work, slots) != 0) _exit(7);
        pthread_join(t, NULL);
    }
    pid_t pid = fork();
    if (pid == 0) {
        free(malloc(64));
        exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(8);
    for (int i = 0; i < 256; i++) free(keep[i]);
    exit(0); /* the exit work too */
}

int main(void) {
    hkt_begin("std_plain_text", 120);
    hkt_check_running_on_heapkit();
    char lib[512];
    uintptr_t base = 0, text_start = 0, text_end = 0;
    REQUIRE(find_library(lib, sizeof lib, &base, &text_start, &text_end));
    uintptr_t end = core_text_end(lib);
    if (end == 0) {
        hkt_note("no symbols with source files in %s (nm, addr2line, debug info): skipped", lib);
        return 77;
    }
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t cold = (base + end + ps - 1) & ~(ps - 1);
    CHECKF(cold > text_start && cold < text_end, "the core's text ends at %#" PRIxPTR ", outside the text %#" PRIxPTR "-%#" PRIxPTR,
           cold, text_start, text_end);
    /* Most of the text is the debug and pool layers': the part a plain process may touch is small. */
    CHECKF((text_end - cold) * 2 > text_end - text_start, "only %zu of %zu bytes of text are past the core",
           (size_t)(text_end - cold), (size_t)(text_end - text_start));
    hkt_note("text %#" PRIxPTR "-%#" PRIxPTR ", closed from %#" PRIxPTR, text_start - base, text_end - base, cold - base);
    /* What stays open fits one fault-around window: a plain process then has 64 KiB of heapkit's
     * text resident when the window's place suits the load address, 128 KiB at most otherwise. */
    CHECKF(cold - text_start <= HKT_FAULT_AROUND,
           "the text a plain process may run is %zu KiB, over one %d KiB fault-around window: mark base and core "
           "functions a plain process never runs hk_rare_path",
           (size_t)(cold - text_start) / 1024, (int)(HKT_FAULT_AROUND / 1024));
    range_t rodata = {0, 0};
    dl_iterate_phdr(find_rodata, &rodata);
    CHECKF(rodata.hi > rodata.lo, "no read-only segment behind the text of %s", lib);
    hkt_note("read-only data %#" PRIxPTR "-%#" PRIxPTR ", closed", rodata.lo - base, rodata.hi - base);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) child(cold, text_end, rodata);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "a plain process ran code past the core's text or read .rodata (exit %d, signal %d): see the fault "
           "address above (nm -n %s, readelf -S, offset = address - %#" PRIxPTR "); mark the function hk_plain_path, "
           "the constant hk_plain_const",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0, lib, base);
    return hkt_done();
}
