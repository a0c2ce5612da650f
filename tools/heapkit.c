/* heapkit.c — the `heapkit` command: runs a program with libheapkit.so preloaded and its
 * options turned into HEAPKIT_* environment variables, then exits as the program did. With
 * --leaks it gives the program a private directory for its raw leak reports and reports them
 * (leak_report.c) when it ends. This process never loads the library itself; only the child does. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_report.h"
#include "leak_report.h"
#include "parse.h" /* the library's own parsers (src/base): one set of limits */
#include "profile_cli.h"
#include "stats_collect.h"
#include "suppress.h"

#ifndef HK_VERSION_STRING
#define HK_VERSION_STRING "unknown"
#endif
/* Where the library sits relative to the directory of this executable, in the build tree
 * and once installed. CMake defines both; the fallbacks match the default layout. */
#ifndef HK_LIB_BUILD_REL
#define HK_LIB_BUILD_REL "../libheapkit.so"
#endif
#ifndef HK_LIB_INSTALL_REL
#define HK_LIB_INSTALL_REL "../lib/libheapkit.so"
#endif

/* Exit codes: 2 for a usage error, 126/127 when the program cannot be run, as shells do. */
enum { EXIT_USAGE = 2, EXIT_NOEXEC = 126, EXIT_NOTFOUND = 127 };
/* `run --check` (or --sample-guard) found a heap error: a code no common program uses for
 * itself, so a script can tell it from the program's own failures (--error-exitcode changes it). */
enum { EXIT_HEAP_ERRORS = 66 };

static const char usage_text[] =
    "usage: heapkit run [options] -- PROG [ARGS...]\n"
    "       heapkit leak-report [report options] DIR\n"
    "       heapkit report [--top N] [--html OUT.html] [--collapsed[=METRIC]] [--pprof OUT.pb] FILE\n"
    "       heapkit report --diff A B\n"
    "       heapkit help | --help\n"
    "       heapkit --version\n"
    "\n"
    "Runs PROG with the heapkit allocator preloaded, then exits with PROG's exit status\n"
    "(128+N if PROG was killed by signal N); says so if PROG did not load heapkit (a static\n"
    "or set-ID program, or a preload the dynamic loader dropped, e.g. under a small ulimit -v).\n"
    "Exits 2 on a usage error or a library that cannot be preloaded, 126 if PROG cannot be\n"
    "run, 127 if it is not found, 1 on an internal error.  See heapkit(1).\n"
    "\n"
    "run options:\n"
    "  --stats             print each process's allocator statistics to stderr once PROG\n"
    "                      has ended  (HEAPKIT_STATS=1, HEAPKIT_STATS_DIR)\n"
    "  --stats-file FILE   write the statistics to FILE at exit instead; JSON if FILE ends\n"
    "                      in .json  (HEAPKIT_STATS_FILE=FILE, made absolute)\n"
    "  --purge-delay MS    give free memory back to the OS after MS milliseconds (up to\n"
    "                      2147483647); 0 = at once,\n"
    "                      -1 = never  (HEAPKIT_PURGE_DELAY=MS)\n"
    "  --verbose           the library (and this command) say what they do on stderr\n"
    "                      (HEAPKIT_VERBOSE=1)\n"
    "  --lib PATH          the libheapkit.so to preload; default: $HEAPKIT_LIB, else the\n"
    "                      library installed next to this command\n"
    "  -h, --help          show this help\n"
    "\n"
    "leak checking (each of these options implies --leaks; --json and --stack-depth only\n"
    "without --check or --sample-guard):\n"
    "  --leaks             track allocations and report leaks on stderr when PROG (and every\n"
    "                      process it forks or execs) ends, with function, file and line\n"
    "                      (HEAPKIT_LEAKS=1, HEAPKIT_LEAK_DIR=a private temporary directory)\n"
    "  --json FILE         also write the leak report as JSON to FILE\n"
    "  --exitcode N        exit with N (0-255) if a definite or indirect leak was found\n"
    "                      that no suppression covers; else exit as PROG did\n"
    "  --suppressions FILE leaks not to report: lines 'leak:PATTERN', PATTERN a glob matched\n"
    "                      against each frame's function, source file and module; lines\n"
    "                      starting with '#' are comments (may be given more than once)\n"
    "  --show-reachable    also list blocks still reachable at exit (the summary always\n"
    "                      counts them)\n"
    "  --stack-depth N     frames recorded per allocation, 1 to 64 (default 16)\n"
    "                      (HEAPKIT_STACK_DEPTH=N)\n"
    "  --leak-signal SIG   check for leaks whenever PROG gets signal SIG (USR2, SIGUSR2 or a\n"
    "                      number)  (HEAPKIT_LEAK_SIGNAL=SIG); sent to this command, a USR1,\n"
    "                      USR2 or real-time SIG is passed on to PROG\n"
    "\n"
    "heap profile:\n"
    "  --profile[=MODE]    record a heap profile: MODE exact (the default: every allocation's\n"
    "                      site) or sampled (one allocation per --profile-rate bytes on average,\n"
    "                      cheap enough to leave on)  (HEAPKIT_PROFILE=MODE)\n"
    "  -o, --output FILE   the program's profile (default heapkit.PID.hkp); those of other\n"
    "                      processes and earlier dumps go to FILE.PID.N\n"
    "  --profile-rate N    sampled mode: mean bytes between samples (default 512K; K, M, G)\n"
    "                      (HEAPKIT_PROFILE_RATE=N)\n"
    "  --profile-signal SIG  also write a profile whenever PROG gets SIG\n"
    "                      (HEAPKIT_PROFILE_SIGNAL=SIG)\n"
    "\n"
    "report summarizes a profile on the terminal: the top sites by live bytes at the heap's\n"
    "peak, by calls, by temporary allocations and by bytes still live at exit. --html writes\n"
    "one self-contained page (timeline, top sites, flame graphs, sizes, heap map); --collapsed\n"
    "prints folded stacks weighted by METRIC (peak, calls, bytes, temporary, leaked); --pprof\n"
    "writes pprof's format; --diff shows which sites grew from profile A to profile B.\n"
    "heap checking (see heapkit(1); reports name the block and show where it was\n"
    "allocated, freed and accessed, with function, file and line):\n"
    "  --check[=MODE]      find heap errors: MODE canary (the default: redzones with canaries,\n"
    "                      freed blocks held in a quarantine) or guard (every block next to\n"
    "                      an inaccessible page, faults caught at the access)  (HEAPKIT_CHECK)\n"
    "  --check-side SIDE   guard mode: right (the default: overflows) or left (underflows)\n"
    "                      (HEAPKIT_CHECK_SIDE)\n"
    "  --quarantine-bytes N, --quarantine-count N\n"
    "                      freed blocks held back from reuse (default 16M bytes, 65536 blocks)\n"
    "  --sample-guard N    about one allocation in N on a guard page, cheap enough for\n"
    "                      production (HEAPKIT_SAMPLE_GUARD)\n"
    "  --on-error ACTION   continue (the default) or abort after a heap error (HEAPKIT_ON_ERROR)\n"
    "  --error-exitcode N  exit with N (0-255; default 66) if a heap error was found\n"
    "  --json FILE         with --check or --sample-guard: write the heap errors (and the leak\n"
    "                      report, with --leaks) as JSON to FILE\n"
    "\n"
    "leak-report reports the raw leak reports (leaks.PID.N.raw) that programs run with\n"
    "HEAPKIT_LEAKS=1 HEAPKIT_LEAK_DIR=DIR left in DIR, and takes --json, --exitcode,\n"
    "--suppressions and --show-reachable as run does. It exits 1 if DIR holds no usable\n"
    "report (an empty file, or one cut inside its header, cannot be used).\n";

static void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("heapkit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("heapkit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (try 'heapkit help')\n", stderr);
    va_end(ap);
    exit(EXIT_USAGE);
}

static char *xstrcat3(const char *a, const char *b, const char *c)
{
    char *s;
    if (asprintf(&s, "%s%s%s", a, b, c) < 0)
        die(1, "out of memory");
    return s;
}

/* --- finding the library ---------------------------------------------------------------- */

/* The ELF machine and class of an open file, or false if it is not ELF. */
static bool elf_identity(int fd, GElf_Ehdr *eh)
{
    if (elf_version(EV_CURRENT) == EV_NONE)
        return false;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    bool ok = elf != NULL && elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, eh) != NULL;
    elf_end(elf);
    return ok;
}

/* Why the dynamic loader would skip `path` in LD_PRELOAD (with only an "ignored" line on the
 * program's stderr), or NULL: it must be an ELF shared object for this machine. */
static const char *unloadable(const char *path)
{
    GElf_Ehdr lib, self;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return strerror(errno);
    bool elf = elf_identity(fd, &lib);
    close(fd);
    if (!elf)
        return "not an ELF file";
    if (lib.e_type != ET_DYN)
        return "not an ELF shared object";
    fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    bool known = fd >= 0 && elf_identity(fd, &self);
    if (fd >= 0)
        close(fd);
    if (known && (lib.e_machine != self.e_machine || lib.e_ident[EI_CLASS] != self.e_ident[EI_CLASS]))
        return "an ELF shared object for another machine";
    return NULL;
}

/* An absolute, canonical path for a library named by the user, or an error: the child may
 * change directory, and LD_PRELOAD would silently skip a file that is not there or not a
 * shared object. */
static char *resolve_user_lib(const char *path, const char *where)
{
    if (strchr(path, '/') == NULL)
        return xstrcat3(path, "", ""); /* a bare soname: the loader searches its own paths */
    char *real = realpath(path, NULL);
    if (real == NULL)
        die(EXIT_USAGE, "library %s (from %s): %s", path, where, strerror(errno));
    const char *why = unloadable(real);
    if (why != NULL)
        die(EXIT_USAGE, "library %s (from %s) cannot be preloaded: %s", path, where, why);
    return real;
}

/* The library next to this executable: <dir of /proc/self/exe>/<rel>, for each layout. */
static char *find_lib_near_self(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    slash[1] = '\0';
    const char *candidates[] = { HK_LIB_BUILD_REL, HK_LIB_INSTALL_REL };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char *path = xstrcat3(exe, candidates[i], "");
        char *real = realpath(path, NULL);
        free(path);
        if (real != NULL)
            return real;
    }
    return NULL;
}

static char *find_lib(const char *opt_lib)
{
    if (opt_lib != NULL)
        return resolve_user_lib(opt_lib, "--lib");
    const char *env = getenv("HEAPKIT_LIB");
    if (env != NULL && env[0] != '\0')
        return resolve_user_lib(env, "HEAPKIT_LIB");
    char *lib = find_lib_near_self();
    if (lib == NULL)
        die(EXIT_USAGE, "cannot find libheapkit.so next to this program (looked for "
            "<bindir>/" HK_LIB_BUILD_REL " and <bindir>/" HK_LIB_INSTALL_REL "); "
            "use --lib PATH or set HEAPKIT_LIB");
    return lib;
}

/* --- options ----------------------------------------------------------------------------- */

/* What shapes a leak report: options of both `run` and `leak-report`. */
struct report_options {
    bool show_reachable;
    const char *json; /* file name, or NULL */
    int exitcode;     /* -1: exit as the program did */
    struct suppressions suppressions;
};

struct run_options {
    bool stats;
    bool verbose;
    bool leaks;
    const char *stats_file;
    const char *purge_delay;
    const char *lib;
    const char *stack_depth;
    int leak_signal; /* 0: none */
    const char *profile;        /* "exact" or "sampled", or NULL */
    const char *profile_output; /* -o FILE */
    const char *profile_rate;
    int profile_signal; /* 0: none */
    const char *check;        /* HEAPKIT_CHECK's value, or NULL */
    const char *check_side, *quarantine_bytes, *quarantine_count, *sample_guard, *on_error;
    int error_exitcode;       /* when heap checking found an error */
    bool error_exitcode_given;
    bool leaks_asked;         /* --leaks or a leak-only option (not just --json or --stack-depth) */
    struct report_options report;
    char **argv; /* the program and its arguments, NULL-terminated */
};

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past what it used. */
static bool take_value(char **argv, int argc, int *i, const char *name, const char **value, const char *cmd)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0)
        return false;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return true;
    }
    if (arg[n] != '\0')
        return false;
    if (*i + 1 >= argc)
        usage_error("%s: option %s needs a value", cmd, name);
    *value = argv[++*i];
    return true;
}

/* A number of digits only (no sign, no spaces) from lo to hi, or -1. */
static long parse_number(const char *s, long lo, long hi)
{
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 9 || s[digits] != '\0')
        return -1;
    long v = strtol(s, NULL, 10);
    return v >= lo && v <= hi ? v : -1;
}

/* Takes the report option at argv[*i], if it is one. */
static bool take_report_option(char **argv, int argc, int *i, const char *cmd, struct report_options *r)
{
    const char *v;
    if (strcmp(argv[*i], "--show-reachable") == 0) {
        r->show_reachable = true;
    } else if (take_value(argv, argc, i, "--json", &v, cmd)) {
        if (v[0] == '\0')
            usage_error("%s: --json needs a file name", cmd);
        r->json = v;
    } else if (take_value(argv, argc, i, "--exitcode", &v, cmd)) {
        long code = parse_number(v, 0, 255);
        if (code < 0)
            usage_error("%s: --exitcode wants a number from 0 to 255, not '%s'", cmd, v);
        r->exitcode = (int)code;
    } else if (take_value(argv, argc, i, "--suppressions", &v, cmd)) {
        char *error;
        if (v[0] == '\0')
            usage_error("%s: --suppressions needs a file name", cmd);
        if (!suppressions_load(&r->suppressions, v, &error))
            die(EXIT_USAGE, "%s", error != NULL ? error : "out of memory");
    } else {
        return false;
    }
    return true;
}

static struct run_options parse_run(int argc, char **argv)
{
    struct run_options o = { .report.exitcode = -1, .error_exitcode = EXIT_HEAP_ERRORS };
    bool json_or_depth = false; /* options that imply --leaks unless heap checking is on */
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(a, "--stats") == 0)
            o.stats = true;
        else if (strcmp(a, "--verbose") == 0)
            o.verbose = true;
        else if (strcmp(a, "--check") == 0)
            o.check = "1";
        else if (strncmp(a, "--check=", 8) == 0) {
            int64_t mode;
            if (!hk_parse_check(a + 8, &mode) || mode == 0)
                usage_error("run: --check wants canary or guard, not '%s'", a + 8);
            o.check = mode == 2 ? "guard" : "1";
        } else if (take_value(argv, argc, &i, "--check-side", &o.check_side, "run")) {
            if (strcmp(o.check_side, "left") != 0 && strcmp(o.check_side, "right") != 0)
                usage_error("run: --check-side wants left or right, not '%s'", o.check_side);
        } else if (take_value(argv, argc, &i, "--quarantine-bytes", &o.quarantine_bytes, "run")) {
            if (o.quarantine_bytes[0] < '0' || o.quarantine_bytes[0] > '9')
                usage_error("run: --quarantine-bytes wants a size in bytes (K, M or G suffix), not '%s'",
                            o.quarantine_bytes);
        } else if (take_value(argv, argc, &i, "--quarantine-count", &o.quarantine_count, "run")) {
            if (parse_number(o.quarantine_count, 0, HK_PARSE_COUNT_MAX) < 0)
                usage_error("run: --quarantine-count wants a number of blocks from 0 to %d, not '%s'",
                            HK_PARSE_COUNT_MAX, o.quarantine_count);
        } else if (take_value(argv, argc, &i, "--sample-guard", &o.sample_guard, "run")) {
            if (parse_number(o.sample_guard, 1, HK_PARSE_COUNT_MAX) < 0)
                usage_error("run: --sample-guard wants a number of allocations from 1 to %d, not '%s'",
                            HK_PARSE_COUNT_MAX, o.sample_guard);
        } else if (take_value(argv, argc, &i, "--on-error", &o.on_error, "run")) {
            if (strcmp(o.on_error, "abort") != 0 && strcmp(o.on_error, "continue") != 0)
                usage_error("run: --on-error wants abort or continue, not '%s'", o.on_error);
        } else if (take_value(argv, argc, &i, "--error-exitcode", &v, "run")) {
            long code = parse_number(v, 0, 255);
            if (code < 0)
                usage_error("run: --error-exitcode wants a number from 0 to 255, not '%s'", v);
            o.error_exitcode = (int)code;
            o.error_exitcode_given = true;
        } else if (strncmp(a, "--json", 6) == 0 && take_report_option(argv, argc, &i, "run", &o.report))
            json_or_depth = true;
        else if (strcmp(a, "--leaks") == 0 || take_report_option(argv, argc, &i, "run", &o.report))
            o.leaks = o.leaks_asked = true;
        else if (take_value(argv, argc, &i, "--stack-depth", &o.stack_depth, "run")) {
            int64_t depth;
            if (!hk_parse_depth(o.stack_depth, &depth))
                usage_error("run: --stack-depth wants a number of frames from 1 to %d, not '%s'",
                            HK_PARSE_STACK_DEPTH_MAX, o.stack_depth);
            json_or_depth = true;
        } else if (take_value(argv, argc, &i, "--leak-signal", &v, "run")) {
            int64_t sig;
            const char *why = hk_parse_signal(v, &sig);
            if (why != NULL)
                usage_error("run: --leak-signal wants a signal name (USR2, SIGUSR2) or number that does not "
                            "end the program, not '%s': %s", v, why);
            o.leak_signal = (int)sig;
            o.leaks = o.leaks_asked = true;
        } else if (strcmp(a, "--profile") == 0) {
            o.profile = "exact";
        } else if (strncmp(a, "--profile=", 10) == 0) {
            int64_t mode;
            if (!hk_parse_profile(a + 10, &mode) || mode == HK_PROFILE_OFF)
                usage_error("run: --profile= wants exact or sampled, not '%s'", a + 10);
            o.profile = mode == HK_PROFILE_EXACT ? "exact" : "sampled";
        } else if (take_value(argv, argc, &i, "--profile-rate", &o.profile_rate, "run")) {
            char *end;
            unsigned long long rate = strtoull(o.profile_rate, &end, 10);
            if (end == o.profile_rate || rate == 0 || (*end != '\0' && strchr("kKmMgG", *end) == NULL) ||
                (*end != '\0' && end[1] != '\0'))
                usage_error("run: --profile-rate wants a number of bytes from 1, with an optional K, M or G suffix, "
                            "not '%s'", o.profile_rate);
        } else if (take_value(argv, argc, &i, "--profile-signal", &v, "run")) {
            int64_t sig;
            const char *why = hk_parse_signal(v, &sig);
            if (why != NULL)
                usage_error("run: --profile-signal wants a signal name (USR2, SIGUSR2) or number that does not "
                            "end the program, not '%s': %s", v, why);
            o.profile_signal = (int)sig;
        } else if (take_value(argv, argc, &i, "--output", &o.profile_output, "run") ||
                   take_value(argv, argc, &i, "-o", &o.profile_output, "run")) {
            if (o.profile_output[0] == '\0')
                usage_error("run: --output needs a file name");
        } else if (take_value(argv, argc, &i, "--stats-file", &o.stats_file, "run")) {
            if (o.stats_file[0] == '\0')
                usage_error("run: --stats-file needs a file name");
        } else if (take_value(argv, argc, &i, "--purge-delay", &o.purge_delay, "run")) {
            int64_t ms;
            if (!hk_parse_ms(o.purge_delay, &ms))
                usage_error("run: --purge-delay wants " HK_PURGE_DELAY_EXPECTS ", not '%s'", o.purge_delay);
        } else if (take_value(argv, argc, &i, "--lib", &o.lib, "run")) {
            if (o.lib[0] == '\0')
                usage_error("run: --lib needs a path");
        } else if (a[0] == '-')
            usage_error("run: unknown option '%s'", a);
        else
            usage_error("run: expected '--' before the program, as in: heapkit run -- %s", a);
    }
    if (i + 1 >= argc)
        usage_error("run: no program given (heapkit run [options] -- PROG [ARGS...])");
    if (o.profile == NULL && (o.profile_output != NULL || o.profile_rate != NULL || o.profile_signal != 0))
        usage_error("run: -o, --profile-rate and --profile-signal need --profile");
    /* an option of a checking mode that is not on would do nothing: refused, not ignored */
    bool guard_pages = (o.check != NULL && strcmp(o.check, "guard") == 0) || o.sample_guard != NULL;
    if (o.check_side != NULL && !guard_pages)
        usage_error("run: --check-side needs --check=guard or --sample-guard (the side of a block's guard page)");
    if (o.check == NULL && (o.quarantine_bytes != NULL || o.quarantine_count != NULL))
        usage_error("run: --quarantine-bytes and --quarantine-count need --check (the quarantine of freed blocks)");
    if (o.check == NULL && o.sample_guard == NULL && o.error_exitcode_given)
        usage_error("run: --error-exitcode needs --check or --sample-guard");
    /* --json and --stack-depth serve heap checking when it is on, else they mean leak checking */
    if (json_or_depth && o.check == NULL && o.sample_guard == NULL)
        o.leaks = true;
    o.argv = argv + i + 1;
    return o;
}

/* --- the environment ----------------------------------------------------------------------- */

/* Sets one variable for the program; an option not given (value NULL) sets nothing. */
static void set_env(const char *name, const char *value, bool verbose)
{
    if (value == NULL)
        return;
    if (setenv(name, value, 1) != 0)
        die(1, "cannot set %s: %s", name, strerror(errno));
    if (verbose)
        fprintf(stderr, "heapkit: %s=%s\n", name, value);
}

/* A signal option as its number; none (0) sets nothing. */
static void set_env_signal(const char *name, int sig, bool verbose)
{
    if (sig == 0)
        return;
    char number[16];
    snprintf(number, sizeof number, "%d", sig);
    set_env(name, number, verbose);
}

/* The stats file is made absolute here, so a program that changes directory still writes it
 * where the user asked. */
static char *absolute_path(const char *path)
{
    if (path[0] == '/')
        return xstrcat3(path, "", "");
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        die(1, "cannot find the current directory: %s", strerror(errno));
    char *abs = xstrcat3(cwd, "/", path);
    free(cwd);
    return abs;
}

static void setup_env(const struct run_options *o, const char *lib, const char *run_dir, const char *leak_dir)
{
    const char *old = getenv("LD_PRELOAD");
    char *preload = (old != NULL && old[0] != '\0') ? xstrcat3(lib, ":", old) : xstrcat3(lib, "", "");
    set_env("LD_PRELOAD", preload, o->verbose);
    free(preload);
    if (o->stats) {
        set_env("HEAPKIT_STATS", "1", o->verbose);
        set_env("HEAPKIT_STATS_DIR", run_dir, o->verbose); /* printed after the run: stats_collect */
    }
    if (o->stats_file != NULL) {
        char *file = absolute_path(o->stats_file);
        set_env("HEAPKIT_STATS_FILE", file, o->verbose);
        free(file);
    }
    set_env("HEAPKIT_PURGE_DELAY", o->purge_delay, o->verbose);
    if (o->verbose)
        set_env("HEAPKIT_VERBOSE", "1", o->verbose);
    /* Each process that loads the library leaves loaded.PID there (src/base/options.c). */
    set_env("HEAPKIT_RUN_DIR", run_dir, o->verbose);
    if (leak_dir != NULL) {
        set_env("HEAPKIT_LEAKS", "1", o->verbose);
        set_env("HEAPKIT_LEAK_DIR", leak_dir, o->verbose);
    }
    set_env("HEAPKIT_STACK_DEPTH", o->stack_depth, o->verbose);
    set_env_signal("HEAPKIT_LEAK_SIGNAL", o->leak_signal, o->verbose);
    if (o->profile != NULL) { /* the profiles go to the run's directory first (profile_collect) */
        set_env("HEAPKIT_PROFILE", o->profile, o->verbose);
        set_env("HEAPKIT_PROFILE_DIR", run_dir, o->verbose);
        set_env("HEAPKIT_PROFILE_RATE", o->profile_rate, o->verbose);
        set_env_signal("HEAPKIT_PROFILE_SIGNAL", o->profile_signal, o->verbose);
    }
    set_env("HEAPKIT_CHECK", o->check, o->verbose);
    set_env("HEAPKIT_CHECK_SIDE", o->check_side, o->verbose);
    set_env("HEAPKIT_QUARANTINE_BYTES", o->quarantine_bytes, o->verbose);
    set_env("HEAPKIT_QUARANTINE_COUNT", o->quarantine_count, o->verbose);
    set_env("HEAPKIT_SAMPLE_GUARD", o->sample_guard, o->verbose);
    set_env("HEAPKIT_ON_ERROR", o->on_error, o->verbose);
    if (o->check != NULL || o->sample_guard != NULL)
        set_env("HEAPKIT_CHECK_DIR", run_dir, o->verbose);
}

/* --- the leak report directory ------------------------------------------------------------- */

/* The directory to remove on every way out: exit (atexit), a signal that ends this command
 * (cleanup_on_signal), or the normal path. NULL when there is none or it is gone. */
static char *volatile cleanup_dir;

/* Removes the files in `dir`, with async-signal-safe calls only (a signal handler uses it): raw
 * getdents64 instead of opendir, which allocates. */
static void remove_files_in(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096] __attribute__((aligned(8)));
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                struct linux_dirent64 {
                    uint64_t d_ino;
                    int64_t d_off;
                    unsigned short d_reclen;
                    unsigned char d_type;
                    char d_name[];
                } *e = (struct linux_dirent64 *)(buf + off);
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                    unlinkat(fd, e->d_name, 0);
                off += e->d_reclen;
            }
        }
        close(fd);
    }
}

/* Removes the files in `dir`, then `dir`; returns rmdir's result. A process of the program still
 * running (the command is ending by a signal) may announce itself between the listing and the
 * rmdir: then the listing is taken again, a bounded number of times. */
static int remove_dir_files(const char *dir)
{
    int rc = -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        remove_files_in(dir);
        rc = rmdir(dir);
        if (rc == 0 || errno != ENOTEMPTY)
            break;
    }
    return rc;
}

static void cleanup_at_exit(void)
{
    char *dir = cleanup_dir;
    cleanup_dir = NULL;
    if (dir != NULL)
        remove_dir_files(dir);
}

/* A signal that ends this command (after the program, or while it writes the report) first
 * removes the directory, then ends the command with the same signal, as if it had not been caught. */
static void cleanup_on_signal(int sig)
{
    cleanup_at_exit();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* From here on, no exit path leaves `dir` behind except SIGKILL. */
static void remove_on_every_exit(char *dir)
{
    static const int fatal[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ,
                                 SIGVTALRM, SIGPROF };
    cleanup_dir = dir;
    atexit(cleanup_at_exit);
    struct sigaction sa = { .sa_handler = cleanup_on_signal };
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        struct sigaction old;
        /* A signal ignored by whoever started us stays ignored. */
        if (sigaction(fatal[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(fatal[i], &sa, NULL);
    }
}

/* A directory of our own (mode 0700) for the raw reports and the processes' announcements,
 * absolute: the program may chdir. */
static char *make_run_dir(bool leaks)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    char *base = absolute_path(tmp);
    char *dir = xstrcat3(base, leaks ? "/heapkit-leaks." : "/heapkit-run.", "XXXXXX");
    free(base);
    if (mkdtemp(dir) == NULL)
        die(1, "cannot create a directory for the %s in %s: %s", leaks ? "leak reports" : "run", tmp,
            strerror(errno));
    return dir;
}

/* Whether the process `pid` loaded the library: it announced itself in `dir`. */
static bool announced(const char *dir, long pid)
{
    char name[64];
    snprintf(name, sizeof name, "/loaded.%ld", pid);
    char *path = xstrcat3(dir, name, "");
    bool there = access(path, F_OK) == 0;
    free(path);
    return there;
}

/* Only files are expected in it (the raw reports); anything else is left and named. */
static void remove_leak_dir(const char *dir)
{
    cleanup_dir = NULL;
    if (remove_dir_files(dir) != 0)
        fprintf(stderr, "heapkit: cannot remove %s: %s\n", dir, strerror(errno));
}

/* The file execvp would run for `prog`, or NULL. */
static char *find_program(const char *prog)
{
    if (strchr(prog, '/') != NULL)
        return xstrcat3(prog, "", "");
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        char *dir = strndup(p, (size_t)(end - p));
        if (dir == NULL)
            die(1, "out of memory");
        char *file = xstrcat3(dir[0] != '\0' ? dir : ".", "/", prog);
        free(dir);
        if (access(file, X_OK) == 0)
            return file;
        free(file);
        if (*end == '\0')
            return NULL;
        p = end;
    }
}

/* Why LD_PRELOAD cannot have put heapkit into `prog`, or NULL: a static executable has no
 * dynamic loader to preload with, and a set-ID one is run in secure mode. */
static const char *preload_obstacle(const char *prog)
{
    char *path = find_program(prog);
    if (path == NULL)
        return NULL;
    const char *why = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)) != 0)
        why = "it is set-user-ID or set-group-ID, and the loader ignores LD_PRELOAD for such programs";
    Elf *elf = elf_version(EV_CURRENT) != EV_NONE ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    size_t phnum;
    if (why == NULL && elf != NULL && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &phnum) == 0) {
        bool interp = false;
        for (size_t i = 0; i < phnum && !interp; i++) {
            GElf_Phdr ph;
            interp = gelf_getphdr(elf, (int)i, &ph) != NULL && ph.p_type == PT_INTERP;
        }
        if (!interp)
            why = "it is statically linked, so there is no dynamic loader to preload heapkit";
    }
    elf_end(elf);
    close(fd);
    return why;
}

static FILE *open_json(const char *path)
{
    if (path == NULL)
        return NULL;
    /* "e": close-on-exec, so the program run does not inherit the report file as an fd. */
    FILE *f = fopen(path, "we");
    if (f == NULL)
        die(EXIT_USAGE, "cannot write the JSON report to %s: %s", path, strerror(errno));
    return f;
}

/* Closes the JSON file; a report that was not written is at least valid JSON. */
static bool close_json(FILE *f, const char *path, bool written)
{
    if (f == NULL)
        return true;
    if (!written) {
        struct leak_set none = { 0 };
        leak_json_write(f, &none);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "heapkit: cannot write the JSON report to %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* The exit code once the leak report is out: --exitcode if it found leaks, 1 instead of 0 if
 * the JSON could not be written, else `code`. */
static int report_exit_code(int code, int result, const struct report_options *r)
{
    if (result > 0 && (result & LEAK_REPORT_FOUND) && r->exitcode >= 0)
        return r->exitcode;
    if (result > 0 && (result & LEAK_REPORT_JSON_FAILED) && code == 0)
        return 1;
    return code;
}

/* --- running the program ------------------------------------------------------------------- */

struct child {
    pid_t pid;
    int status;     /* from waitpid */
    int exec_error; /* errno of a failed exec, else 0 */
    struct leak_reaped *reaped; /* other processes of the run whose end is known: orphans we reaped, */
                                /* and children the program reaped (their ended.PID notes) */
    size_t reaped_count;
};

static volatile sig_atomic_t child_pid;

/* Note how another process of the run (an orphan adopted as subreaper) ended. */
static void reaped_add(struct child *c, size_t *cap, pid_t pid, int status)
{
    if (c->reaped_count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        c->reaped = realloc(c->reaped, *cap * sizeof *c->reaped);
        if (c->reaped == NULL)
            die(1, "out of memory");
    }
    c->reaped[c->reaped_count++] = (struct leak_reaped){ .pid = pid, .status = status };
}

/* Children the program reaped itself: the library noted how each ended in DIR/ended.PID
 * (src/base/child_end.c). Those this command reaped as orphans are known already. */
static void read_child_ends(struct child *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    size_t cap = c->reaped_count;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "ended.", 6) != 0)
            continue;
        char *path = xstrcat3(dir, "/", e->d_name);
        FILE *f = fopen(path, "re");
        free(path);
        char line[64];
        bool read = f != NULL && fgets(line, sizeof line, f) != NULL;
        if (f != NULL)
            fclose(f);
        char *end = line;
        long pid = read ? strtol(line, &end, 10) : 0;
        read = read && pid > 0 && *end == '\t';
        long status = read ? strtol(end + 1, &end, 10) : 0;
        read = read && *end == '\n';
        bool known = false;
        for (size_t i = 0; read && i < c->reaped_count && !known; i++)
            known = c->reaped[i].pid == pid;
        if (read && !known)
            reaped_add(c, &cap, (pid_t)pid, (int)status);
    }
    closedir(d);
}

/* SIGPIPE as this command found it: the program run gets it back. The command itself ignores
 * it, so a reader that goes away (`heapkit run ... 2>&1 | head -1`) costs the rest of the report,
 * not the clean-up and the exit status. */
static struct sigaction orig_sigpipe;

/* SIGTERM and SIGHUP sent to us are meant for the program we run; so is the leak signal. */
static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* Forks, execs argv in the child and reports an exec failure back through a close-on-exec
 * pipe: if the pipe closes empty, the exec happened. */
static struct child spawn_and_wait(char **argv, int leak_signal, int profile_signal)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        die(1, "pipe: %s", strerror(errno));

    /* Like system(): a ^C at the terminal reaches the program; we wait to report it. */
    struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal };
    struct sigaction old_int, old_quit, old_term, old_hup;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    sigaction(SIGTERM, &fwd, &old_term);
    sigaction(SIGHUP, &fwd, &old_hup);
    /* Someone who signals this command to have the program check for leaks or write a profile
     * means the program (both signals, when both are asked for); job-control and other everyday
     * signals keep their meaning for us. */
    int asked[2] = { leak_signal, profile_signal };
    bool fwd_asked[2];
    struct sigaction old_asked[2];
    for (int k = 0; k < 2; k++) {
        int sig = asked[k];
        fwd_asked[k] = (sig == SIGUSR1 || sig == SIGUSR2 || sig >= SIGRTMIN) && (k == 0 || sig != asked[0]);
        if (fwd_asked[k])
            sigaction(sig, &fwd, &old_asked[k]);
    }

    /* Orphans of the run become our children, so we learn how they ended (killed by SIGKILL,
     * say) when their parent did not wait for them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* The signals we pass on wait, blocked, until child_pid is known: a program quick to signal
     * us (or a loaded machine that runs it before we return from fork) would otherwise find no
     * one to pass them to, and the signal would be lost. */
    sigset_t passed, old_mask;
    sigemptyset(&passed);
    sigaddset(&passed, SIGTERM);
    sigaddset(&passed, SIGHUP);
    for (int k = 0; k < 2; k++)
        if (fwd_asked[k])
            sigaddset(&passed, asked[k]);
    sigprocmask(SIG_BLOCK, &passed, &old_mask);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die(1, "fork: %s", strerror(errno));
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        for (int k = 0; k < 2; k++)
            if (fwd_asked[k])
                sigaction(asked[k], &old_asked[k], NULL);
        sigaction(SIGPIPE, &orig_sigpipe, NULL);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        close(fds[0]);
        execvp(argv[0], argv);
        int err = errno;
        ssize_t w = write(fds[1], &err, sizeof err);
        (void)w;
        _exit(EXIT_NOTFOUND);
    }
    child_pid = pid;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(fds[1]);

    int err = 0;
    ssize_t n;
    do
        n = read(fds[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(fds[0]);

    struct child c = { .pid = pid };
    size_t cap = 0;
    for (;;) {
        int status;
        pid_t got = waitpid(-1, &status, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            die(1, "waitpid: %s", strerror(errno));
        if (got == pid) {
            c.status = status;
            break;
        }
        reaped_add(&c, &cap, got, status);
    }
    /* Orphans already gone when the program ended; those still running are not waited for. */
    for (;;) {
        int status;
        pid_t got = waitpid(-1, &status, WNOHANG);
        if (got <= 0)
            break;
        reaped_add(&c, &cap, got, status);
    }
    /* The program is gone (its pid may be reused): signals are ours again, with what they did
     * before, which removes the leak directory on the way out. */
    child_pid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    for (int k = 1; k >= 0; k--)
        if (fwd_asked[k])
            sigaction(asked[k], &old_asked[k], NULL);
    if (n == (ssize_t)sizeof err)
        c.exec_error = err != 0 ? err : EINVAL;
    return c;
}

/* Says what became of the program and turns it into our exit code. */
static int child_exit_code(const struct child *c, const char *prog)
{
    if (c->exec_error != 0) {
        fprintf(stderr, "heapkit: cannot run '%s': %s\n", prog, strerror(c->exec_error));
        return (c->exec_error == ENOENT || c->exec_error == ENOTDIR) ? EXIT_NOTFOUND : EXIT_NOEXEC;
    }
    if (WIFEXITED(c->status))
        return WEXITSTATUS(c->status);
    if (WIFSIGNALED(c->status)) {
        int sig = WTERMSIG(c->status);
        fprintf(stderr, "heapkit: %s was killed by signal %d (%s)%s\n", prog, sig, strsignal(sig),
                WCOREDUMP(c->status) ? ", core dumped" : "");
        return 128 + sig;
    }
    return 1;
}

/* --- the commands -------------------------------------------------------------------------- */

static int cmd_run(int argc, char **argv)
{
    struct run_options o = parse_run(argc, argv);
    char *lib = find_lib(o.lib);
    if (o.verbose)
        fprintf(stderr, "heapkit: preloading %s\n", lib);
    FILE *json = open_json(o.report.json);
    bool checking = o.check != NULL || o.sample_guard != NULL;
    char *run_dir = make_run_dir(o.leaks || checking);
    remove_on_every_exit(run_dir);
    const char *leak_dir = o.leaks ? run_dir : NULL;
    setup_env(&o, lib, run_dir, leak_dir);
    struct child c = spawn_and_wait(o.argv, o.leak_signal, o.profile_signal);
    int code = child_exit_code(&c, o.argv[0]);
    int result = -1;
    /* A program the loader left on the C library's malloc must not pass for one heapkit ran. */
    const char *not_loaded = NULL;
    char *dropped = NULL;
    if (c.exec_error == 0 && !announced(run_dir, c.pid)) {
        not_loaded = preload_obstacle(o.argv[0]);
        if (not_loaded == NULL)
            not_loaded = dropped = xstrcat3("the dynamic loader did not preload ", lib,
                                            ", or it is not heapkit (the loader's message, if it printed one, "
                                            "is above; too small a `ulimit -v` is one cause)");
        if (leak_dir == NULL)
            fprintf(stderr, "heapkit: heapkit was not loaded into %s (pid %ld), so it ran on the C library's "
                    "malloc: %s\n", o.argv[0], (long)c.pid, not_loaded);
    }
    free(lib);
    long heap_errors = 0;
    if (checking && c.exec_error == 0) {
        if (json != NULL)
            fputs("{", json);
        heap_errors = check_report_dir(run_dir, json, (long)c.pid);
        if (json != NULL)
            fputs(leak_dir != NULL ? ", \"leaks\": " : "}\n", json);
    }
    if (leak_dir != NULL && c.exec_error == 0) {
        read_child_ends(&c, run_dir);
        struct leak_options lo = { .suppressions = &o.report.suppressions,
                                   .show_reachable = o.report.show_reachable,
                                   .json = json };
        struct leak_main m = { .pid = c.pid, .status = c.status, .name = o.argv[0], .no_preload = not_loaded,
                               .reaped = c.reaped, .reaped_count = c.reaped_count };
        result = leak_report_dir(leak_dir, &lo, &m);
    }
    if (o.stats)
        stats_collect(run_dir, stderr);
    if (o.profile != NULL && c.exec_error == 0 && profile_collect(run_dir, o.profile_output, c.pid) == 0 && code == 0)
        code = 1;
    remove_leak_dir(run_dir);
    free(run_dir);
    free(c.reaped);
    free(dropped);
    if (checking && json != NULL && leak_dir != NULL && result < 0)
        fputs("null", json); /* no leak report to give */
    if (checking && json != NULL && leak_dir != NULL)
        fputs("}\n", json);
    if (!close_json(json, o.report.json, result >= 0 || checking) && code == 0)
        code = 1;
    suppressions_free(&o.report.suppressions);
    if (heap_errors > 0)
        return o.error_exitcode;
    return report_exit_code(code, result, &o.report);
}

static int cmd_leak_report(int argc, char **argv)
{
    struct report_options r = { .exitcode = -1 };
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (take_report_option(argv, argc, &i, "leak-report", &r))
            continue;
        if (a[0] == '-')
            usage_error("leak-report: unknown option '%s'", a);
        if (dir != NULL)
            usage_error("leak-report: one directory only, not '%s' and '%s'", dir, a);
        dir = a;
    }
    if (dir == NULL)
        usage_error("leak-report: no directory given (heapkit leak-report [options] DIR)");
    FILE *json = open_json(r.json);
    struct leak_options lo = { .suppressions = &r.suppressions, .show_reachable = r.show_reachable, .json = json };
    struct leak_main m = { .pid = 0 };
    int result = leak_report_dir(dir, &lo, &m);
    int code = result < 0 ? 1 : 0;
    if (!close_json(json, r.json, result >= 0))
        code = 1;
    suppressions_free(&r.suppressions);
    return report_exit_code(code, result, &r);
}

int main(int argc, char **argv)
{
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &orig_sigpipe);
    if (argc < 2)
        usage_error("no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "leak-report") == 0)
        return cmd_leak_report(argc - 2, argv + 2);
    if (strcmp(cmd, "report") == 0)
        return profile_report_main(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("heapkit %s\n", HK_VERSION_STRING);
        return 0;
    }
    usage_error("unknown command '%s'", cmd);
}
