/* unit_format_snprintf.c — a property test of the malloc-free printf (src/base/format.c) against
 * libc's snprintf: random conversions (every C99 one: flags, width and precision as digits or `*`,
 * every size modifier) with random arguments, each followed by " %d|%s" so an argument taken
 * wrongly shows in what follows; the text and the length must be snprintf's, also cut short.
 * Then the cases of the issue (`%.*s` of a request line), %m, the refused %n, floating point past
 * the range given to libc (shown as written, its argument consumed), and, outside sanitizer
 * builds, that formatting floating point at the edges of that range calls no malloc at all.
 * HK_FORMAT_SEED=N and HK_FORMAT_CASES=N replay or widen a run. */
#define _GNU_SOURCE
#include "unit.h"

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <wchar.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UF_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UF_SANITIZER 1
#endif
#endif

/* Counting libc's malloc (this program's own malloc interposes the one libc's snprintf calls). */
#ifndef UF_SANITIZER
extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);
static volatile size_t uf_mallocs;
void *malloc(size_t n) {
    uf_mallocs++;
    return __libc_malloc(n);
}
void free(void *p) { __libc_free(p); }
#endif

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
static uint64_t below(uint64_t n) { return rnd() % n; }

static size_t failures_shown;

/* hk_format and vsnprintf of the same format and arguments, at a random capacity too. */
static void compare(const char *fmt, ...) {
    char want[4096], got[4096], cut[4096];
    va_list ap, ap2, ap3;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    va_copy(ap3, ap);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = vsnprintf(want, sizeof want, fmt, ap);
#pragma GCC diagnostic pop
    memset(got, 0x55, sizeof got);
    size_t len = hk_format(got, sizeof got - 1, fmt, ap2);
    size_t cap = n > 0 ? (size_t)below((uint64_t)n + 1) : 0;
    size_t len_cut = hk_format(cut, cap, fmt, ap3);
    va_end(ap);
    va_end(ap2);
    va_end(ap3);
    bool ok = n >= 0 && len == (size_t)n && memcmp(got, want, len < sizeof want ? len : sizeof want) == 0 &&
              len_cut == (size_t)n && memcmp(cut, want, cap) == 0;
    if (!ok && failures_shown++ < 20) {
        got[len < sizeof got - 1 ? len : sizeof got - 1] = '\0';
        CHECK(ok, "format \"%s\": snprintf gave %d \"%s\", hk_format %zu \"%s\" (cut at %zu: %zu)", fmt, n, want, len,
              got, cap, len_cut);
    } else if (!ok) {
        unit_failures++;
    }
}

/* A value for an integer conversion: extremes, small numbers and random bits. */
static uint64_t rnd_int(void) {
    switch (below(6)) {
    case 0: return 0;
    case 1: return below(20);
    case 2: return (uint64_t)0 - below(20);
    case 3: return (uint64_t)1 << below(64);
    case 4: return ((uint64_t)1 << below(64)) - 1;
    default: return rnd();
    }
}

static double rnd_double(void) {
    static const double some[] = {0.0, -0.0, 1.0, -1.5, 0.5, 123.456, 1e308, -1e-308, 4.9e-324, 1e21, 9.5, 0.05,
                                  999999.5, 1e-5, 1e100};
    double d;
    switch (below(4)) {
    case 0: return some[below(sizeof some / sizeof some[0])];
    case 1: {
        uint64_t bits = rnd(); /* any double: subnormals, inf, nan too */
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    case 2: return (double)(int64_t)rnd_int() / (double)(1 + below(1000));
    default: return (double)(below(2000000) - 1000000) * 0.001;
    }
}

static const char *const strings[] = {"", "a", "hello", "Host: example.com", "tab\there", "0123456789abcdef", NULL};
static const wchar_t *const wstrings[] = {L"", L"w", L"wide text", NULL};

/* One random conversion, its arguments, and the tail that checks what comes after. */
static void one_case(void) {
    static const char convs[] = "diuoxXcspeEfFgGaA";
    char conv = convs[below(sizeof convs - 1)];
    char fmt[64];
    size_t k = 0;
    fmt[k++] = '<';
    fmt[k++] = '%';
    for (const char *fl = "-+ #0"; *fl; fl++)
        if (below(4) == 0) fmt[k++] = *fl;
    bool star_w = false, star_p = false, is_float = strchr("eEfFgGaA", conv) != NULL;
    int w = 0, p = 0;
    switch (below(3)) {
    case 0: break;
    case 1: k += (size_t)sprintf(fmt + k, "%d", (int)below(30)); break;
    default: star_w = true; w = (int)below(61) - 30; fmt[k++] = '*'; break;
    }
    if (conv != 'p' || below(4) == 0) {
        switch (below(4)) {
        case 0: break;
        case 1: fmt[k++] = '.'; break;
        case 2: k += (size_t)sprintf(fmt + k, ".%d", (int)(is_float && below(8) == 0 ? below(400) : below(40))); break;
        default: star_p = true; p = (int)below(46) - 5; fmt[k++] = '.'; fmt[k++] = '*'; break;
        }
    }
    static const char *const int_sizes[] = {"", "hh", "h", "l", "ll", "j", "z", "t"};
    const char *size = "";
    if (strchr("diuoxX", conv)) size = int_sizes[below(8)];
    else if (is_float) size = below(3) == 0 ? "L" : below(2) ? "l" : "";
    else if (conv == 'c' || conv == 's') size = below(5) == 0 ? "l" : "";
    k += (size_t)sprintf(fmt + k, "%s%c> %%d|%%s", size, conv);
    fmt[k] = '\0';

    uint64_t v = rnd_int();
    bool is_signed = conv == 'd' || conv == 'i';
#define UF_CALL(value)                                                                                                 \
    do {                                                                                                               \
        if (star_w && star_p) compare(fmt, w, p, value, 42, "end");                                                    \
        else if (star_w) compare(fmt, w, value, 42, "end");                                                            \
        else if (star_p) compare(fmt, p, value, 42, "end");                                                            \
        else compare(fmt, value, 42, "end");                                                                           \
    } while (0)
    if (is_float) {
        double d = rnd_double();
        if (size[0] == 'L') {
            long double ld = (long double)d * (below(4) == 0 ? 1e-3000L : below(3) == 0 ? 1e250L : 1.0L);
            /* %Lf past 1e300 is not formatted (glibc would malloc): checked on its own below */
            if ((conv == 'f' || conv == 'F') && __builtin_isfinite(ld) && __builtin_fabsl(ld) >= 1e300L) ld = 1.25L;
            UF_CALL(ld);
        } else {
            UF_CALL(d);
        }
    } else if (conv == 's') {
        if (size[0] == 'l') UF_CALL(wstrings[below(sizeof wstrings / sizeof wstrings[0])]);
        else UF_CALL(strings[below(sizeof strings / sizeof strings[0])]);
    } else if (conv == 'c') {
        if (size[0] == 'l') UF_CALL((wint_t)(L'a' + below(26)));
        else UF_CALL((int)(' ' + below(95)));
    } else if (conv == 'p') {
        UF_CALL(below(5) == 0 ? NULL : (void *)(uintptr_t)v);
    } else if (!strcmp(size, "l")) {
        if (is_signed) UF_CALL((long)v);
        else UF_CALL((unsigned long)v);
    } else if (!strcmp(size, "ll")) {
        if (is_signed) UF_CALL((long long)v);
        else UF_CALL((unsigned long long)v);
    } else if (!strcmp(size, "j")) {
        if (is_signed) UF_CALL((intmax_t)v);
        else UF_CALL((uintmax_t)v);
    } else if (!strcmp(size, "z")) {
        if (is_signed) UF_CALL((ssize_t)v);
        else UF_CALL((size_t)v);
    } else if (!strcmp(size, "t")) {
        UF_CALL((ptrdiff_t)v);
    } else {
        if (is_signed) UF_CALL((int)v);
        else UF_CALL((unsigned)v);
    }
#undef UF_CALL
}

static const char *fmt1(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static const char *fmt1(char *out, size_t cap, const char *f, ...) {
    hk_buf_t b = {out, cap, 0};
    va_list ap;
    va_start(ap, f);
    hk_buf_vprintf(&b, f, ap);
    va_end(ap);
    return out;
}

int main(void) {
    setlocale(LC_ALL, "C");
    const char *seed = getenv("HK_FORMAT_SEED"), *cases = getenv("HK_FORMAT_CASES");
    rng_state = seed ? strtoull(seed, NULL, 0) : 0x9e3779b97f4a7c15ull;
    if (rng_state == 0) rng_state = 1;
    long n = cases ? strtol(cases, NULL, 0) : 200000;
    for (long i = 0; i < n; i++) one_case();

    /* the crash: %.*s took the width as the string */
    char s[256];
    CHECK(!strcmp(fmt1(s, sizeof s, "key=%.*s value=%s", 4, "Host: example.com", "example.com"),
                  "key=Host value=example.com"), "got '%s'", s);
    CHECK(!strcmp(fmt1(s, sizeof s, "%.3s|%*d|%hd|%hhd|%+d|%#x|%X|%o|%f", "abcdef", 5, 7, (short)-3, (signed char)-4,
                       5, 255u, 255u, 8u, 1.5), "abc|    7|-3|-4|+5|0xff|FF|10|1.500000"), "got '%s'", s);
    /* %m: errno's text, and errno kept */
    errno = EISDIR;
    CHECK(!strcmp(fmt1(s, sizeof s, "read: %m"), "read: Is a directory") && errno == EISDIR, "got '%s'", s);
    errno = 4242;
    CHECK(!strcmp(fmt1(s, sizeof s, "%m"), "Unknown error 4242"), "got '%s'", s);
    /* %n is refused: nothing written, its argument consumed */
    int count = -1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
    CHECK(!strcmp(fmt1(s, sizeof s, "ab%n|%d", &count, 7), "ab%n|7") && count == -1, "got '%s', count %d", s, count);
#pragma GCC diagnostic pop
    /* past the range given to libc: shown as written, the argument consumed */
    CHECK(!strcmp(fmt1(s, sizeof s, "%.401f|%d", 1.0, 7), "%.401f|7"), "got '%s'", s);
    CHECK(!strcmp(fmt1(s, sizeof s, "%Lf|%d", 1e300L, 7), "%Lf|7"), "got '%s'", s);

#ifndef UF_SANITIZER
    /* the edges of that range: formatted, and without a malloc */
    size_t before = uf_mallocs;
    char want[2048], big[8192];
    snprintf(want, sizeof want, "%.400f", -1.7976931348623157e308);
    fmt1(big, sizeof big, "%.400f", -1.7976931348623157e308);
    CHECK(!strcmp(big, want), "%%.400f of -DBL_MAX differs");
    snprintf(want, sizeof want, "%.400Lf", 9.99e299L);
    fmt1(big, sizeof big, "%.400Lf", 9.99e299L);
    CHECK(!strcmp(big, want), "%%.400Lf of 9.99e299 differs");
    before = uf_mallocs; /* snprintf above may have set up its own state; hk_format alone now */
    fmt1(big, sizeof big, "%.400f %.400Le %.400Lg %.400La %-1000.400e", -1.7976931348623157e308, 1e4000L, 1e-4000L,
         1e4000L, 2.5);
    fmt1(big, sizeof big, "%.400Lf %.400Lf", 9.99e299L, 1e-4000L);
    CHECK(uf_mallocs == before, "formatting floating point called malloc %zu times", uf_mallocs - before);
#endif
    return unit_done("unit_format_snprintf");
}
