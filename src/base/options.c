/* options.c — the HEAPKIT_* environment variables, read once at start.
 * Each has one row in the table below (and in the README); a value that does not parse is
 * reported on stderr and the default is kept. Unknown HEAPKIT_* names are reported too. */
#include "base.h"
#include "parse.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

/* One limit for the library and the command (parse.h, which the command includes too). */
_Static_assert(HK_STACK_DEPTH_MAX == HK_PARSE_STACK_DEPTH_MAX, "parse.h and base.h disagree on the stack depth");

/* Every variable of ours starts so; any other such name is reported as unknown. */
#define HK_ENV_PREFIX "HEAPKIT_"
static const char hk_env_prefix[] hk_plain_const = HK_ENV_PREFIX; /* compared in every process */
/* An unknown variable's name is cut to this many bytes in the message about it. */
#define HK_ENV_NAME_MAX 64

/* The defaults (the README's table says the same). */
/* Long enough that pages freed in a burst are taken again before they are given back (a purge
 * costs a system call now and page faults later), short enough that RSS follows the program
 * within a blink. */
#define HK_DEFAULT_PURGE_DELAY_MS 50
/* A cap on freed huge blocks kept for reuse: room for the big buffers a busy program replaces (up to
 * tens of MiB each). What stays in it is paced by the decay (HK_DEFAULT_DECAY_MS) and emptied when
 * the program goes idle, so the cap matters only for a program that frees faster than it reuses. */
#define HK_DEFAULT_HUGE_CACHE ((size_t)1 << 30)
/* While a program is busy, freed memory is given back along a decay curve (decay.c): what was
 * freed in the last tenth of a second almost all stays, what stayed unused for this long all goes.
 * A second spans the phases of a busy program (a burst freed, then reused); an idle one gives
 * everything back after the purge delay anyway. */
#define HK_DEFAULT_DECAY_MS 1000
/* Under heap checking (HEAPKIT_CHECK) the same delays, four times over, unless set: a checked
 * program runs two to three times slower (more on a loaded machine), so its phases (a burst freed,
 * then allocated again) last longer in wall time, and the quarantine hands blocks back long after
 * their free. With the plain delays lua5.4 (bench/alloc.lua 8) had every emptied page given back and
 * faulted in again between its rounds: 58,000 page faults against 17,000, 0.4 s of system time in
 * 2.8 s (bench/RESULTS.md, "Heap checking's own cost, fourth pass"). */
#define HK_CHECK_DELAY_FACTOR 4
/* Deep enough to get from the allocation through a few layers of wrappers to the program's own
 * code (Valgrind shows 12 by default), shallow enough that walking and storing a stack on every
 * tracked allocation stays cheap. */
#define HK_DEFAULT_STACK_DEPTH 16
/* The hardened mode is off unless the library was built with -DHEAPKIT_SECURE=ON (CMakeLists.txt),
 * which distributions may choose; HEAPKIT_SECURE=0 or 1 overrides either way. */
#ifndef HK_SECURE_DEFAULT
#define HK_SECURE_DEFAULT 0
#endif
/* A sample per 512 KiB allocated on average, as jemalloc's and tcmalloc's heap profilers take:
 * a few thousand samples a second in an allocation-heavy program, too few to be felt. */
#define HK_DEFAULT_PROFILE_RATE ((size_t)512 << 10)
/* Freed blocks heap checking holds back before reuse: as Valgrind's default freelist volume
 * (20 MB), so a use after free within the next few thousand frees still finds the pattern. */
#define HK_DEFAULT_QUARANTINE_BYTES ((size_t)16 << 20)
#define HK_DEFAULT_QUARANTINE_COUNT ((size_t)1 << 16)

typedef enum {
    HK_OPT_BOOL,
    HK_OPT_MS,
    HK_OPT_BYTES,
    HK_OPT_PATH,
    HK_OPT_ON_ERROR,
    HK_OPT_DEPTH,
    HK_OPT_SIGNAL,
    HK_OPT_TOOL,
    HK_OPT_RUN_DIR,
    HK_OPT_NUMA,
    HK_OPT_PROFILE,
    HK_OPT_CHECK,
    HK_OPT_SIDE,
    HK_OPT_THP,
    HK_OPT_COUNT
} hk_opt_type_t;

typedef struct hk_option_s {
    const char *name;
    hk_opt_type_t type;
    size_t field;        /* offsetof the hk_options_t member it sets */
    const char *expects; /* words for the error message */
} hk_option_t;

#define HK_FIELD(member) offsetof(hk_options_t, member)
static const hk_option_t hk_option_table[] = {
    {"HEAPKIT_STATS", HK_OPT_BOOL, HK_FIELD(stats), "0 or 1"},
    {"HEAPKIT_STATS_FILE", HK_OPT_PATH, HK_FIELD(stats_file), "a file path"},
    {"HEAPKIT_STATS_DIR", HK_OPT_PATH, HK_FIELD(stats_dir), "a directory path"},
    {"HEAPKIT_PURGE_DELAY", HK_OPT_MS, HK_FIELD(purge_delay_ms), HK_PURGE_DELAY_EXPECTS},
    {"HEAPKIT_HUGE_CACHE", HK_OPT_BYTES, HK_FIELD(huge_cache), "a size in bytes, with an optional K, M or G suffix"},
    {"HEAPKIT_DECAY", HK_OPT_MS, HK_FIELD(decay_ms), HK_PURGE_DELAY_EXPECTS},
    {"HEAPKIT_ON_ERROR", HK_OPT_ON_ERROR, HK_FIELD(abort_on_error), "'continue' or 'abort'"},
    {"HEAPKIT_VERBOSE", HK_OPT_BOOL, HK_FIELD(verbose), "0 or 1"},
    {"HEAPKIT_PURGE_THREAD", HK_OPT_BOOL, HK_FIELD(purge_thread), "0 or 1"},
    {"HEAPKIT_LEAKS", HK_OPT_BOOL, HK_FIELD(leaks), "0 or 1"},
    {"HEAPKIT_STACK_DEPTH", HK_OPT_DEPTH, HK_FIELD(stack_depth), "a number of frames from 1 to " HK_PARSE_STR(HK_PARSE_STACK_DEPTH_MAX)},
    {"HEAPKIT_LEAK_DIR", HK_OPT_PATH, HK_FIELD(leak_dir), "a directory path"},
    {"HEAPKIT_LEAK_SIGNAL", HK_OPT_SIGNAL, HK_FIELD(leak_signal), "a signal name (USR2, SIGUSR2) or number"},
    {"HEAPKIT_SECURE", HK_OPT_BOOL, HK_FIELD(secure), "0 or 1"},
    {"HEAPKIT_PROFILE", HK_OPT_PROFILE, HK_FIELD(profile), "off, exact or sampled"},
    {"HEAPKIT_PROFILE_DIR", HK_OPT_PATH, HK_FIELD(profile_dir), "a directory path"},
    {"HEAPKIT_PROFILE_RATE", HK_OPT_BYTES, HK_FIELD(profile_rate), "a size in bytes from 1, with an optional K, M or G suffix"},
    {"HEAPKIT_PROFILE_SIGNAL", HK_OPT_SIGNAL, HK_FIELD(profile_signal), "a signal name (USR2, SIGUSR2) or number"},
    {"HEAPKIT_CHECK", HK_OPT_CHECK, HK_FIELD(check), "0, 1 (canaries and quarantine) or guard"},
    {"HEAPKIT_CHECK_SIDE", HK_OPT_SIDE, HK_FIELD(check_left), "'right' or 'left'"},
    {"HEAPKIT_CHECK_DIR", HK_OPT_PATH, HK_FIELD(check_dir), "a directory path"},
    {"HEAPKIT_QUARANTINE_BYTES", HK_OPT_BYTES, HK_FIELD(quarantine_bytes), "a size in bytes, with an optional K, M or G suffix"},
    {"HEAPKIT_QUARANTINE_COUNT", HK_OPT_COUNT, HK_FIELD(quarantine_count), "a number of blocks from 0 to 16777216"},
    {"HEAPKIT_SAMPLE_GUARD", HK_OPT_COUNT, HK_FIELD(sample_guard), "a number of allocations from 0 to 16777216 (0 = off)"},
    {"HEAPKIT_LIB", HK_OPT_TOOL, 0, "a path (read by the heapkit command)"},
    {"HEAPKIT_NUMA", HK_OPT_NUMA, HK_FIELD(numa), "'local', 'interleave' or 'off'"},
    {"HEAPKIT_THP", HK_OPT_THP, HK_FIELD(thp), "'auto', 'off' or 'always'"},
    {"HEAPKIT_NUMA_FAKE", HK_OPT_PATH, HK_FIELD(numa_fake), "a directory laid out like /sys"},
    {"HEAPKIT_RUN_DIR", HK_OPT_RUN_DIR, 0, "an absolute directory path (set by the heapkit command)"},
};

/* HEAPKIT_RUN_DIR: where `heapkit run` asks each process that loaded the library to say so, so it
 * can tell a program heapkit ran from one the loader left on glibc (a preload dropped under a
 * small `ulimit -v`, a static or set-ID program), and a process that ended without a leak check.
 * Set once in process init, read in forked children: not part of the options proper. */
static const char *hk_run_dir_path;

const char *hk_run_dir(void) { return hk_run_dir_path; }

/* Writes DIR/loaded.PID holding "PID<TAB>PPID"; best effort, silently: the command reads what
 * is there, and says so if nothing is. No allocation, so it may run in a fork child. */
static void hk_run_announce(void) {
    if (hk_run_dir_path == NULL) return;
    char path[4096], line[64];
    hk_buf_t b = {.data = path, .cap = sizeof path};
    hk_buf_printf(&b, "%s/loaded.%d", hk_run_dir_path, (int)getpid());
    if (b.len >= sizeof path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    hk_buf_t l = {.data = line, .cap = sizeof line};
    hk_buf_printf(&l, "%d\t%d\n", (int)getpid(), (int)getppid());
    if (l.len < sizeof line) {
        ssize_t w = write(fd, line, l.len);
        (void)w;
    }
    close(fd);
}

/* A forked child is a process of its own for the command: it announces itself too. */
HK_SUBSYSTEM(run_announce, HK_SUBSYSTEM_RUN_ANNOUNCE, .fork_child = hk_run_announce);

static bool hk_parse_bool(const char *s, bool *out) {
    if (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on")) *out = true;
    else if (!strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off")) *out = false;
    else return false;
    return true;
}

static bool hk_parse_bytes(const char *s, size_t *out) {
    const char *rest;
    int64_t v;
    if (!hk_parse_int(s, &v, &rest) || v < 0) return false;
    unsigned shift = 0;
    if (*rest == 'k' || *rest == 'K') shift = 10;
    else if (*rest == 'm' || *rest == 'M') shift = 20;
    else if (*rest == 'g' || *rest == 'G') shift = 30;
    if (shift) {
        rest++;
        if (*rest == 'i') rest++;
        if (*rest == 'B' || *rest == 'b') rest++;
    }
    if (*rest != '\0' || ((uint64_t)v >> (63 - shift)) != 0) return false;
    *out = (size_t)v << shift;
    return true;
}

/* The paths options name, copied out of the environment: a program may rewrite its environ
 * strings (redis, nginx and others write their process title over argv and environ), and the
 * library reads these paths at exit. Static and small (no allocator yet at this point); a path
 * that does not fit stays where it is, with a message. */
#define HK_OPTION_PATHS_BYTES 4096
static char hk_option_paths[HK_OPTION_PATHS_BYTES];
static size_t hk_option_paths_used;

static const char *hk_option_keep(const char *name, const char *value) {
    size_t n = strlen(value) + 1;
    if (n > sizeof hk_option_paths - hk_option_paths_used) {
        hk_message("%s is too long to keep a copy of (the paths of HEAPKIT_* options share %d bytes): it is read "
                   "where the environment has it, so a program that rewrites its environment changes it",
                   name, HK_OPTION_PATHS_BYTES);
        return value;
    }
    char *copy = hk_option_paths + hk_option_paths_used;
    memcpy(copy, value, n);
    hk_option_paths_used += n;
    return copy;
}

static bool hk_option_set(hk_options_t *o, const hk_option_t *opt, const char *value) {
    void *field = (char *)o + opt->field;
    switch (opt->type) {
    case HK_OPT_BOOL:
        return hk_parse_bool(value, field);
    case HK_OPT_MS:
        return hk_parse_ms(value, field);
    case HK_OPT_BYTES:
        return hk_parse_bytes(value, field);
    case HK_OPT_PATH:
        if (*value == '\0') return false;
        *(const char **)field = hk_option_keep(opt->name, value);
        return true;
    case HK_OPT_ON_ERROR:
        if (!strcmp(value, "abort") || !strcmp(value, "continue")) {
            *(bool *)field = value[0] == 'a';
            return true;
        }
        return false;
    case HK_OPT_DEPTH:
        return hk_parse_depth(value, field);
    case HK_OPT_SIGNAL:
        return hk_parse_signal(value, field) == NULL;
    case HK_OPT_TOOL:
        return true;
    case HK_OPT_NUMA:
        if (!strcmp(value, "local")) *(int *)field = HK_NUMA_MODE_LOCAL;
        else if (!strcmp(value, "interleave")) *(int *)field = HK_NUMA_MODE_INTERLEAVE;
        else if (!strcmp(value, "off")) *(int *)field = HK_NUMA_MODE_OFF;
        else return false;
        return true;
    case HK_OPT_CHECK:
        return hk_parse_check(value, field);
    case HK_OPT_THP:
        if (!strcmp(value, "auto")) *(int *)field = HK_THP_AUTO;
        else if (!strcmp(value, "off")) *(int *)field = HK_THP_OFF;
        else if (!strcmp(value, "always")) *(int *)field = HK_THP_ALWAYS;
        else return false;
        return true;
    case HK_OPT_SIDE:
        if (strcmp(value, "left") != 0 && strcmp(value, "right") != 0) return false;
        *(bool *)field = value[0] == 'l';
        return true;
    case HK_OPT_COUNT: {
        int64_t v;
        const char *rest;
        if (!hk_parse_int(value, &v, &rest) || *rest != '\0' || v < 0 || v > HK_PARSE_COUNT_MAX) return false;
        *(size_t *)field = (size_t)v;
        return true;
    }
    case HK_OPT_RUN_DIR:
        if (*value != '/') return false;
        hk_run_dir_path = hk_option_keep(opt->name, value);
        return true;
    case HK_OPT_PROFILE:
        return hk_parse_profile(value, field);
    }
    return false;
}

/* The options that only shape leak checking (HEAPKIT_LEAKS=1). */
static bool hk_is_leak_option(const hk_option_t *opt) {
    return opt->type != HK_OPT_TOOL && (opt->field == HK_FIELD(stack_depth) || opt->field == HK_FIELD(leak_dir) ||
                                        opt->field == HK_FIELD(leak_signal));
}

/* The options that only shape the heap profile (HEAPKIT_PROFILE). */
static bool hk_is_profile_option(const hk_option_t *opt) {
    return opt->type != HK_OPT_TOOL && (opt->field == HK_FIELD(profile_dir) || opt->field == HK_FIELD(profile_rate) ||
                                        opt->field == HK_FIELD(profile_signal));
}

/* NULL if the value was taken; else why not: "" for "not what opt->expects says", or a reason. */
static const char *hk_option_apply(hk_options_t *o, const hk_option_t *opt, const char *value) {
    const char *ok = hk_option_set(o, opt, value) ? NULL : "";
    if (ok != NULL && opt->type == HK_OPT_SIGNAL) {
        int64_t unused;
        ok = hk_parse_signal(value, &unused);
    }
    return ok;
}

void hk_options_init(hk_options_t *o) {
    hk_option_paths_used = 0; /* read anew: the copies of a reading before are replaced */
    /* the defaults; every field not named is off, none or zero */
    *o = (hk_options_t){
        .purge_delay_ms = HK_DEFAULT_PURGE_DELAY_MS,
        .huge_cache = HK_DEFAULT_HUGE_CACHE,
        .decay_ms = HK_DEFAULT_DECAY_MS,
        .purge_thread = true,
        .stack_depth = HK_DEFAULT_STACK_DEPTH,
        .numa = HK_NUMA_MODE_LOCAL,
        .secure = HK_SECURE_DEFAULT,
        .profile = HK_PROFILE_OFF,
        .profile_rate = HK_DEFAULT_PROFILE_RATE,
        .check = HK_CHECK_OFF,
        .quarantine_bytes = HK_DEFAULT_QUARANTINE_BYTES,
        .quarantine_count = HK_DEFAULT_QUARANTINE_COUNT,
    };
    /* A set-user-ID or set-group-ID program (or one given capabilities) keeps the defaults: its
     * caller's environment must not choose files it writes with rights the caller lacks, nor weaken
     * its heap (glibc drops MALLOC_* there too). A distribution's hardened build stays hardened. */
    if (environ == NULL || getauxval(AT_SECURE) != 0) return;
    bool purge_delay_set = false, decay_set = false;
    const char *leak_only = NULL; /* the first leak option set */
    const char *profile_only = NULL; /* the first profile option set */
    for (char **env = environ; *env != NULL; env++) {
        const char *entry = *env;
        if (strncmp(entry, hk_env_prefix, sizeof hk_env_prefix - 1) != 0) continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL) continue;
        size_t name_len = (size_t)(eq - entry);
        const hk_option_t *opt = NULL;
        for (size_t i = 0; i < sizeof hk_option_table / sizeof hk_option_table[0]; i++) {
            if (strlen(hk_option_table[i].name) == name_len && !strncmp(entry, hk_option_table[i].name, name_len))
                opt = &hk_option_table[i];
        }
        if (opt == NULL) {
            char name[HK_ENV_NAME_MAX];
            size_t n = name_len < sizeof name - 1 ? name_len : sizeof name - 1;
            memcpy(name, entry, n);
            name[n] = '\0';
            hk_message("unknown option %s ignored (see the README's table of HEAPKIT_* variables)", name);
            continue;
        }
        const char *why = hk_option_apply(o, opt, eq + 1);
        if (why != NULL && why[0] != '\0')
            hk_message("%s='%s' is not valid: %s; expected %s; using the default", opt->name, eq + 1, why,
                       opt->expects);
        else if (why != NULL)
            hk_message("%s='%s' is not valid: expected %s; using the default", opt->name, eq + 1, opt->expects);
        if (why == NULL && opt->field == HK_FIELD(purge_delay_ms)) purge_delay_set = true;
        if (why == NULL && opt->field == HK_FIELD(decay_ms)) decay_set = true;
        if (leak_only == NULL && hk_is_leak_option(opt)) leak_only = opt->name;
        if (profile_only == NULL && hk_is_profile_option(opt)) profile_only = opt->name;
    }
    if (o->check != HK_CHECK_OFF) {
        if (!purge_delay_set) o->purge_delay_ms = (int64_t)HK_DEFAULT_PURGE_DELAY_MS * HK_CHECK_DELAY_FACTOR;
        if (!decay_set) o->decay_ms = (int64_t)HK_DEFAULT_DECAY_MS * HK_CHECK_DELAY_FACTOR;
    }
    if (o->profile_rate == 0) {
        hk_message("HEAPKIT_PROFILE_RATE=0 is not valid: expected a size in bytes from 1; using the default");
        o->profile_rate = HK_DEFAULT_PROFILE_RATE;
    }
    if (profile_only != NULL && o->profile == HK_PROFILE_OFF)
        hk_message("%s is set but ignored: profiling is off (HEAPKIT_PROFILE_DIR, HEAPKIT_PROFILE_RATE and "
                   "HEAPKIT_PROFILE_SIGNAL need HEAPKIT_PROFILE=exact or sampled)", profile_only);
    /* Said once, naming the first: they only shape leak checking, which is off. */
    /* The stack depth shapes a profile's stacks too. */
    bool depth_for_profile = o->profile != HK_PROFILE_OFF && leak_only != NULL && !strcmp(leak_only, "HEAPKIT_STACK_DEPTH");
    if (leak_only != NULL && !o->leaks && !depth_for_profile)
        hk_message("%s is set but ignored: leak checking is off (HEAPKIT_LEAK_DIR, HEAPKIT_STACK_DEPTH and "
                   "HEAPKIT_LEAK_SIGNAL need HEAPKIT_LEAKS=1)", leak_only);
    hk_run_announce();
    if (o->verbose)
        hk_message("version %s: purge delay %d ms (%s), decay %d ms, huge cache %zu bytes, stats %s, on error %s%s", hk_version(),
                   (int)o->purge_delay_ms, o->purge_thread ? "background thread" : "on allocator calls", (int)o->decay_ms,
                   o->huge_cache, o->stats ? "on" : "off", o->abort_on_error ? "abort" : "continue", o->secure ? ", hardened (HEAPKIT_SECURE)" : "");
}

HK_API const char *hk_version(void) { return "0.1.0"; }
