/* parse.h — the parsers of option values, shared by the library (options.c reads HEAPKIT_*) and
 * the `heapkit` command (tools/heapkit.c checks the options it turns into HEAPKIT_*), so both take
 * exactly the same values with the same limits and give the same reason for a refusal.
 * Header-only and static inline: the command links no part of the library. Allocates nothing. */
#ifndef HK_PARSE_H
#define HK_PARSE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* HEAPKIT_PURGE_DELAY's largest value: what a 32-bit int holds (about 24.8 days), so the value is
 * never shown or stored wrapped, and beyond it "-1 = never" says the same thing. */
#define HK_PURGE_DELAY_MAX_MS 2147483647
/* HEAPKIT_STACK_DEPTH's largest value; base.h's HK_STACK_DEPTH_MAX is checked equal to it. */
#define HK_PARSE_STACK_DEPTH_MAX 64

#define HK_PARSE_STR_(x) #x
#define HK_PARSE_STR(x) HK_PARSE_STR_(x)
/* The words of a message about a bad delay, with its limit. */
#define HK_PURGE_DELAY_EXPECTS \
    "milliseconds from 0 to " HK_PARSE_STR(HK_PURGE_DELAY_MAX_MS) " (0 = at once, -1 = never)"

/* Digits only, with an optional leading '-': strtoll would accept "12abc", " 12" and overflow
 * quietly. *rest is what follows the digits. */
static inline bool hk_parse_int(const char *s, int64_t *out, const char **rest) {
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

/* -1, or 0 to HK_PURGE_DELAY_MAX_MS, with an optional "ms" suffix. */
static inline bool hk_parse_ms(const char *s, int64_t *out) {
    const char *rest;
    int64_t v;
    if (!hk_parse_int(s, &v, &rest) || v < -1 || v > HK_PURGE_DELAY_MAX_MS) return false;
    if (!strcmp(rest, "ms")) rest += sizeof "ms" - 1;
    if (*rest != '\0') return false;
    *out = v;
    return true;
}

/* A number of frames from 1 to HK_PARSE_STACK_DEPTH_MAX. */
static inline bool hk_parse_depth(const char *s, int64_t *out) {
    const char *rest;
    int64_t v;
    if (!hk_parse_int(s, &v, &rest) || *rest != '\0' || v < 1 || v > HK_PARSE_STACK_DEPTH_MAX) return false;
    *out = v;
    return true;
}

/* The most blocks a quarantine count or a guard-sampling period may be (2^24). */
#define HK_PARSE_COUNT_MAX 16777216

/* HEAPKIT_CHECK's modes: 0/off, 1/on/canary (redzones with canaries, a quarantine) or guard
 * (guard pages), as 0, 1 or 2 (base.h's HK_CHECK_*). */
static inline bool hk_parse_check(const char *s, int64_t *out) {
    if (!strcmp(s, "0") || !strcmp(s, "off") || !strcmp(s, "no")) *out = 0;
    else if (!strcmp(s, "1") || !strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "canary")) *out = 1;
    else if (!strcmp(s, "guard")) *out = 2;
    else return false;
    return true;
}

/* A signal by number or name, with or without "SIG", that the program can take and go on.
 * Returns NULL and sets *out, or the reason it is refused. */
static inline const char *hk_parse_signal(const char *s, int64_t *out) {
    static const struct {
        const char *name;
        int number;
    } names[] = {{"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"USR1", SIGUSR1},
                 {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
                 {"CHLD", SIGCHLD},   {"CONT", SIGCONT},     {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
                 {"TTOU", SIGTTOU},   {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
                 {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH}, {"PWR", SIGPWR},
                 {"KILL", SIGKILL},   {"STOP", SIGSTOP},     {"SEGV", SIGSEGV},   {"BUS", SIGBUS},
                 {"FPE", SIGFPE},     {"ILL", SIGILL}};
    const char *rest;
    int64_t v = 0;
    if (hk_parse_int(s, &v, &rest)) {
        if (*rest != '\0') return "not a signal name or number";
        if (v <= 0 || v > SIGRTMAX) return "no such signal number";
    } else {
        if (!strncmp(s, "SIG", sizeof "SIG" - 1)) s += sizeof "SIG" - 1;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(s, names[i].name)) v = names[i].number;
        if (v == 0) return "not a signal name or number";
    }
    if (v == SIGKILL) return "SIGKILL cannot be caught, so nothing could check on it";
    if (v == SIGSTOP) return "SIGSTOP cannot be caught, so nothing could check on it";
    if (v == SIGSEGV || v == SIGBUS || v == SIGFPE || v == SIGILL)
        return "a fault signal (SEGV, BUS, FPE, ILL) means the program cannot go on";
    *out = v;
    return NULL;
}

/* HEAPKIT_PROFILE and `heapkit run --profile=`: which heap profile (debug/profile.c). */
enum { HK_PROFILE_OFF, HK_PROFILE_EXACT, HK_PROFILE_SAMPLED };
static inline bool hk_parse_profile(const char *s, int64_t *out) {
    if (!strcmp(s, "0") || !strcmp(s, "off")) *out = HK_PROFILE_OFF;
    else if (!strcmp(s, "exact") || !strcmp(s, "1")) *out = HK_PROFILE_EXACT;
    else if (!strcmp(s, "sampled")) *out = HK_PROFILE_SAMPLED;
    else return false;
    return true;
}

#endif
