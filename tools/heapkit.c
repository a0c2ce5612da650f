/* heapkit.c — the `heapkit` command: runs a program with libheapkit.so preloaded and its
 * options turned into HEAPKIT_* environment variables, then exits as the program did.
 * This process never loads the library itself; only the child does. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

static const char usage_text[] =
    "usage: heapkit run [options] -- PROG [ARGS...]\n"
    "       heapkit help | --help\n"
    "       heapkit --version\n"
    "\n"
    "Runs PROG with the heapkit allocator preloaded, then exits with PROG's exit status\n"
    "(128+N if PROG was killed by signal N).\n"
    "\n"
    "run options:\n"
    "  --stats             print allocator statistics to stderr when PROG exits  (HEAPKIT_STATS=1)\n"
    "  --stats-file FILE   write the statistics to FILE at exit instead; JSON if FILE ends\n"
    "                      in .json  (HEAPKIT_STATS_FILE=FILE, made absolute)\n"
    "  --purge-delay MS    give free memory back to the OS after MS milliseconds; 0 = at once,\n"
    "                      -1 = never  (HEAPKIT_PURGE_DELAY=MS)\n"
    "  --verbose           the library (and this command) say what they do on stderr\n"
    "                      (HEAPKIT_VERBOSE=1)\n"
    "  --lib PATH          the libheapkit.so to preload; default: $HEAPKIT_LIB, else the\n"
    "                      library installed next to this command\n"
    "  -h, --help          show this help\n";

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

/* An absolute, canonical path for a library named by the user, or an error: the child may
 * change directory, and LD_PRELOAD would silently skip a file that is not there. */
static char *resolve_user_lib(const char *path, const char *where)
{
    if (strchr(path, '/') == NULL)
        return xstrcat3(path, "", ""); /* a bare soname: the loader searches its own paths */
    char *real = realpath(path, NULL);
    if (real == NULL)
        die(EXIT_USAGE, "library %s (from %s): %s", path, where, strerror(errno));
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

/* --- the run command -------------------------------------------------------------------- */

struct run_options {
    bool stats;
    bool verbose;
    const char *stats_file;
    const char *purge_delay;
    const char *lib;
    char **argv; /* the program and its arguments, NULL-terminated */
};

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past what it used. */
static bool take_value(char **argv, int argc, int *i, const char *name, const char **value)
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
        usage_error("run: option %s needs a value", name);
    *value = argv[++*i];
    return true;
}

/* What the library takes for HEAPKIT_PURGE_DELAY: -1, or up to 9 digits with an optional "ms". */
static bool is_delay(const char *s)
{
    if (strcmp(s, "-1") == 0)
        return true;
    size_t digits = strspn(s, "0123456789");
    return digits > 0 && digits <= 9 && (s[digits] == '\0' || strcmp(s + digits, "ms") == 0);
}

static struct run_options parse_run(int argc, char **argv)
{
    struct run_options o = { 0 };
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
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
        else if (take_value(argv, argc, &i, "--stats-file", &o.stats_file)) {
            if (o.stats_file[0] == '\0')
                usage_error("run: --stats-file needs a file name");
        } else if (take_value(argv, argc, &i, "--purge-delay", &o.purge_delay)) {
            if (!is_delay(o.purge_delay))
                usage_error("run: --purge-delay wants milliseconds (0 = at once, -1 = never), "
                            "not '%s'", o.purge_delay);
        } else if (take_value(argv, argc, &i, "--lib", &o.lib)) {
            if (o.lib[0] == '\0')
                usage_error("run: --lib needs a path");
        } else if (a[0] == '-')
            usage_error("run: unknown option '%s'", a);
        else
            usage_error("run: expected '--' before the program, as in: heapkit run -- %s", a);
    }
    if (i + 1 >= argc)
        usage_error("run: no program given (heapkit run [options] -- PROG [ARGS...])");
    o.argv = argv + i + 1;
    return o;
}

static void set_env(const char *name, const char *value, bool verbose)
{
    if (setenv(name, value, 1) != 0)
        die(1, "cannot set %s: %s", name, strerror(errno));
    if (verbose)
        fprintf(stderr, "heapkit: %s=%s\n", name, value);
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

static void setup_env(const struct run_options *o, const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    char *preload = (old != NULL && old[0] != '\0') ? xstrcat3(lib, ":", old) : xstrcat3(lib, "", "");
    set_env("LD_PRELOAD", preload, o->verbose);
    free(preload);
    if (o->stats)
        set_env("HEAPKIT_STATS", "1", o->verbose);
    if (o->stats_file != NULL) {
        char *file = absolute_path(o->stats_file);
        set_env("HEAPKIT_STATS_FILE", file, o->verbose);
        free(file);
    }
    if (o->purge_delay != NULL)
        set_env("HEAPKIT_PURGE_DELAY", o->purge_delay, o->verbose);
    if (o->verbose)
        set_env("HEAPKIT_VERBOSE", "1", o->verbose);
}

static volatile sig_atomic_t child_pid;

/* SIGTERM and SIGHUP sent to us are meant for the program we run. */
static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* Forks, execs argv in the child and reports an exec failure back through a close-on-exec
 * pipe: if the pipe closes empty, the exec happened. Returns the exit code to use. */
static int spawn_and_wait(char **argv)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        die(1, "pipe: %s", strerror(errno));

    /* Like system(): a ^C at the terminal reaches the program; we wait to report it. */
    struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal };
    struct sigaction old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    sigaction(SIGTERM, &fwd, NULL);
    sigaction(SIGHUP, &fwd, NULL);

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die(1, "fork: %s", strerror(errno));
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        close(fds[0]);
        execvp(argv[0], argv);
        int err = errno;
        ssize_t w = write(fds[1], &err, sizeof err);
        (void)w;
        _exit(EXIT_NOTFOUND);
    }
    child_pid = pid;
    close(fds[1]);

    int err = 0;
    ssize_t n;
    do
        n = read(fds[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(fds[0]);

    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die(1, "waitpid: %s", strerror(errno));

    if (n == (ssize_t)sizeof err) {
        fprintf(stderr, "heapkit: cannot run '%s': %s\n", argv[0], strerror(err));
        return (err == ENOENT || err == ENOTDIR) ? EXIT_NOTFOUND : EXIT_NOEXEC;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        fprintf(stderr, "heapkit: %s was killed by signal %d (%s)%s\n", argv[0], sig,
                strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "");
        return 128 + sig;
    }
    return 1;
}

static int cmd_run(int argc, char **argv)
{
    struct run_options o = parse_run(argc, argv);
    char *lib = find_lib(o.lib);
    if (o.verbose)
        fprintf(stderr, "heapkit: preloading %s\n", lib);
    setup_env(&o, lib);
    free(lib);
    return spawn_and_wait(o.argv);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage_error("no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
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
