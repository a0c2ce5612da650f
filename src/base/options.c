/* options.c — the HEAPKIT_* environment variables, read once at start.
 * Each has one row in the table below (and in the README); a value that does not parse is
 * reported on stderr and the default is kept. Unknown HEAPKIT_* names are reported too. */
#include "base.h"

#include <signal.h>


extern char **environ;

/* Every variable of ours starts so; any other such name is reported as unknown. */
#define HK_ENV_PREFIX "HEAPKIT_"
/* An unknown variable's name is cut to this many bytes in the message about it. */
#define HK_ENV_NAME_MAX 64

/* The defaults (the README's table says the same). */
/* Long enough that pages freed in a burst are taken again before they are given back (a purge
 * costs a system call now and page faults later), short enough that RSS follows the program
 * within a blink. */
#define HK_DEFAULT_PURGE_DELAY_MS 50
/* Room for a handful of big buffers (each over 128 KiB, often a few MiB) that come and go,
 * without keeping much mapped for a program that stopped using them. */
#define HK_DEFAULT_HUGE_CACHE ((size_t)64 << 20)
/* Deep enough to get from the allocation through a few layers of wrappers to the program's own
 * code (Valgrind shows 12 by default), shallow enough that walking and storing a stack on every
 * tracked allocation stays cheap. */
#define HK_DEFAULT_STACK_DEPTH 16

typedef enum {
    HK_OPT_BOOL,
    HK_OPT_MS,
    HK_OPT_BYTES,
    HK_OPT_PATH,
    HK_OPT_ON_ERROR,
    HK_OPT_DEPTH,
    HK_OPT_SIGNAL,
    HK_OPT_TOOL
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
    {"HEAPKIT_PURGE_DELAY", HK_OPT_MS, HK_FIELD(purge_delay_ms), "milliseconds (0 = at once, -1 = never)"},
    {"HEAPKIT_HUGE_CACHE", HK_OPT_BYTES, HK_FIELD(huge_cache), "a size in bytes, with an optional K, M or G suffix"},
    {"HEAPKIT_ON_ERROR", HK_OPT_ON_ERROR, HK_FIELD(abort_on_error), "'continue' or 'abort'"},
    {"HEAPKIT_VERBOSE", HK_OPT_BOOL, HK_FIELD(verbose), "0 or 1"},
    {"HEAPKIT_PURGE_THREAD", HK_OPT_BOOL, HK_FIELD(purge_thread), "0 or 1"},
    {"HEAPKIT_LEAKS", HK_OPT_BOOL, HK_FIELD(leaks), "0 or 1"},
    {"HEAPKIT_STACK_DEPTH", HK_OPT_DEPTH, HK_FIELD(stack_depth), "a number of frames from 1 to 64"},
    {"HEAPKIT_LEAK_DIR", HK_OPT_PATH, HK_FIELD(leak_dir), "a directory path"},
    {"HEAPKIT_LEAK_SIGNAL", HK_OPT_SIGNAL, HK_FIELD(leak_signal), "a signal name (USR2, SIGUSR2) or number"},
    {"HEAPKIT_LIB", HK_OPT_TOOL, 0, "a path (read by the heapkit command)"},
};

static bool hk_parse_bool(const char *s, bool *out) {
    if (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on")) *out = true;
    else if (!strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off")) *out = false;
    else return false;
    return true;
}

/* Digits only: strtoll would accept "12abc", " 12" and overflow quietly. */
static bool hk_parse_int(const char *s, int64_t *out, const char **rest) {
    bool neg = *s == '-';
    if (neg) s++;
    if (*s < '0' || *s > '9') return false;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX / 2 - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    *rest = s;
    return true;
}

static bool hk_parse_ms(const char *s, int64_t *out) {
    const char *rest;
    int64_t v;
    if (!hk_parse_int(s, &v, &rest) || v < -1) return false;
    if (!strcmp(rest, "ms")) rest += sizeof "ms" - 1;
    if (*rest != '\0') return false;
    *out = v;
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

static bool hk_parse_depth(const char *s, int64_t *out) {
    const char *rest;
    int64_t v;
    if (!hk_parse_int(s, &v, &rest) || *rest != '\0' || v < 1 || v > HK_STACK_DEPTH_MAX) return false;
    *out = v;
    return true;
}

/* A signal by number or name, with or without "SIG"; not one the program cannot survive or the
 * kernel cannot deliver to a handler. */
static bool hk_parse_signal(const char *s, int64_t *out) {
    static const struct {
        const char *name;
        int number;
    } names[] = {{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
                 {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
                 {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
                 {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
                 {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"PWR", SIGPWR}};
    const char *rest;
    int64_t v = 0;
    if (hk_parse_int(s, &v, &rest)) {
        if (*rest != '\0') return false;
    } else {
        if (!strncmp(s, "SIG", sizeof "SIG" - 1)) s += sizeof "SIG" - 1;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(s, names[i].name)) v = names[i].number;
    }
    if (v <= 0 || v > SIGRTMAX || v == SIGKILL || v == SIGSTOP || v == SIGSEGV || v == SIGBUS || v == SIGFPE ||
        v == SIGILL)
        return false;
    *out = v;
    return true;
}

static bool hk_option_apply(hk_options_t *o, const hk_option_t *opt, const char *value) {
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
        *(const char **)field = value;
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
        return hk_parse_signal(value, field);
    case HK_OPT_TOOL:
        return true;
    }
    return false;
}

void hk_options_init(hk_options_t *o) {
    o->stats = false;
    o->stats_file = NULL;
    o->purge_delay_ms = HK_DEFAULT_PURGE_DELAY_MS;
    o->huge_cache = HK_DEFAULT_HUGE_CACHE;
    o->abort_on_error = false;
    o->verbose = false;
    o->purge_thread = true;
    o->leaks = false;
    o->stack_depth = HK_DEFAULT_STACK_DEPTH;
    o->leak_dir = NULL;
    o->leak_signal = 0;
    if (environ == NULL) return;
    for (char **env = environ; *env != NULL; env++) {
        const char *entry = *env;
        if (strncmp(entry, HK_ENV_PREFIX, sizeof HK_ENV_PREFIX - 1) != 0) continue;
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
        if (!hk_option_apply(o, opt, eq + 1))
            hk_message("%s='%s' is not valid: expected %s; using the default", opt->name, eq + 1, opt->expects);
    }
    if (o->verbose)
        hk_message("version %s: purge delay %d ms (%s), huge cache %zu bytes, stats %s, on error %s", hk_version(),
                   (int)o->purge_delay_ms, o->purge_thread ? "background thread" : "on allocator calls",
                   o->huge_cache, o->stats ? "on" : "off", o->abort_on_error ? "abort" : "continue");
}

HK_API const char *hk_version(void) { return "0.1.0"; }
