/* format.c — a printf that never allocates, and the one-line messages heapkit prints.
 * libc's printf family may call malloc, which is us; reports, stats and hk_arena_printf must not.
 * hk_format formats as C99's snprintf does (glibc's output, checked against snprintf by
 * tests/unit/unit_format_snprintf.c): the flags - + space # 0, a width and a precision (digits or
 * `*`), the sizes hh h l ll j z t L, and the conversions d i u o x X c s p % e E f F g G a A, with
 * %lc/%ls, and glibc's %m (the text of errno). %n is refused: its pointer is taken and nothing is
 * written through it (the conversion is shown as written). Floating point is given to libc's
 * snprintf, without the width (padding is ours), but only where glibc formats it in stack memory:
 * a precision of at most HK_FLOAT_PREC_MAX, and for %Lf/%LF a value under 1e300; beyond that glibc
 * would malloc, so such a conversion is shown as written (its argument is consumed all the same).
 * It works in runs rather than characters: the text between conversions is found with strchrnul
 * and copied with memcpy, numbers are converted into a small buffer, so formatting a request line
 * costs a few hundred instructions, not thousands. */
#define _GNU_SOURCE /* strchrnul, strerrordesc_np */
#include "base.h"

/* The integer conversions read every 64-bit length modifier as long long. */
_Static_assert(sizeof(long) == 8 && sizeof(long long) == 8 && sizeof(intmax_t) == 8 && sizeof(size_t) == 8 &&
                   sizeof(ptrdiff_t) == 8,
               "l, ll, j, z and t are one 64-bit type");

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <wchar.h>

/* hk_format fills a hk_buf_t to its last byte (the NUL is hk_buf_vprintf's business). */
hk_rare_path static void hk_buf_put(hk_buf_t *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->len < b->cap) memcpy(b->data + b->len, s, n < b->cap - b->len ? n : b->cap - b->len);
    b->len += n;
}

hk_rare_path static void hk_buf_fill(hk_buf_t *b, char c, size_t n) {
    if (n == 0) return;
    if (b->len < b->cap) memset(b->data + b->len, c, n < b->cap - b->len ? n : b->cap - b->len);
    b->len += n;
}

/* Digits of v in base 8, 10 or 16, written backwards from end; returns the first. One loop per
 * base so each divides by a constant (a multiply or a shift), not by a variable (a division). */
hk_rare_path static char *hk_digits(char *end, uint64_t v, unsigned base, bool upper) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (base == 16) {
        do {
            *--end = digits[v & 15];
            v >>= 4;
        } while (v != 0);
    } else if (base == 8) {
        do {
            *--end = (char)('0' + (v & 7));
            v >>= 3;
        } while (v != 0);
    } else {
        do {
            *--end = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
    }
    return end;
}

/* One conversion as written: flags, width, precision (-1: none), size. */
typedef enum { HK_LEN_NONE, HK_LEN_HH, HK_LEN_H, HK_LEN_L, HK_LEN_LL, HK_LEN_J, HK_LEN_Z, HK_LEN_T, HK_LEN_BIG_L } hk_len_t;
typedef struct hk_spec_s {
    bool left, plus, space, alt, zero;
    size_t width;
    long prec;
    hk_len_t len;
} hk_spec_t;

/* Text padded to the width with spaces (strings, characters, inf and nan). */
hk_rare_path static void hk_buf_text(hk_buf_t *b, const char *s, size_t n, const hk_spec_t *sp) {
    size_t pad = sp->width > n ? sp->width - n : 0;
    if (!sp->left) hk_buf_fill(b, ' ', pad);
    hk_buf_put(b, s, n);
    if (sp->left) hk_buf_fill(b, ' ', pad);
}

/* prefix (sign, 0x), then `zeros` zeros, then the digits, padded to the width: with the '0' flag
 * the padding is zeros between the prefix and the digits, else spaces outside. */
hk_rare_path static void hk_buf_number(hk_buf_t *b, const char *prefix, size_t prefix_len, size_t zeros, const char *digits,
                          size_t n, const hk_spec_t *sp, bool zero_pad) {
    size_t body = prefix_len + zeros + n, pad = sp->width > body ? sp->width - body : 0;
    if (!sp->left && !zero_pad) hk_buf_fill(b, ' ', pad);
    hk_buf_put(b, prefix, prefix_len);
    if (!sp->left && zero_pad) hk_buf_fill(b, '0', pad);
    hk_buf_fill(b, '0', zeros);
    hk_buf_put(b, digits, n);
    if (sp->left) hk_buf_fill(b, ' ', pad);
}

/* Room for a number's digits: a 64-bit value has at most 22 in octal. */
#define HK_DIGITS_MAX 32

/* d i u o x X p: digits, then the precision's zeros, a sign or prefix, the width. */
hk_rare_path static void hk_format_integer(hk_buf_t *b, const hk_spec_t *sp, char conv, uint64_t u, bool negative) {
    char num[HK_DIGITS_MAX];
    char *const end = num + sizeof num;
    unsigned base = conv == 'o' ? 8 : conv == 'x' || conv == 'X' || conv == 'p' ? 16 : 10;
    char *d = hk_digits(end, u, base, conv == 'X');
    size_t n = (size_t)(end - d);
    if (sp->width == 0 && sp->prec < 0 && !sp->plus && !sp->space && !sp->alt && conv != 'p') {
        /* the usual "%d", "%u" or "%x": a sign and the digits, nothing to pad */
        if (negative) *--d = '-';
        hk_buf_put(b, d, (size_t)(end - d));
        return;
    }
    if (sp->prec == 0 && u == 0) n = 0; /* "%.0d" of 0 is nothing */
    size_t zeros = sp->prec > 0 && (size_t)sp->prec > n ? (size_t)sp->prec - n : 0;
    if (conv == 'o' && sp->alt && zeros == 0 && (n == 0 || d[0] != '0')) zeros = 1; /* "%#o": a leading 0 */
    char prefix[3];
    size_t plen = 0;
    bool is_signed = conv == 'd' || conv == 'i' || conv == 'p'; /* glibc's %p takes '+' and ' ' */
    if (negative) prefix[plen++] = '-';
    else if (is_signed && sp->plus) prefix[plen++] = '+';
    else if (is_signed && sp->space) prefix[plen++] = ' ';
    if (conv == 'p' || ((conv == 'x' || conv == 'X') && sp->alt && u != 0)) {
        prefix[plen++] = '0';
        prefix[plen++] = conv == 'X' ? 'X' : 'x';
    }
    hk_buf_number(b, prefix, plen, zeros, end - n, n, sp, sp->zero && sp->prec < 0);
}

/* The largest precision given to libc for floating point: its digits stay in stack memory (glibc
 * takes up to 4 KiB of wide characters with alloca: 310 integer digits of a double and this). */
#define HK_FLOAT_PREC_MAX 400
#define HK_FLOAT_TEXT (HK_FLOAT_PREC_MAX + 400)

/* e E f F g G a A: the digits from libc's snprintf (which does not allocate for these: see the
 * file's comment), the width ours. False: out of that range, not formatted. */
hk_rare_path static bool hk_format_float(hk_buf_t *b, const hk_spec_t *sp, char conv, long double v, bool is_long) {
    if (sp->prec > HK_FLOAT_PREC_MAX) return false;
    if (is_long && (conv == 'f' || conv == 'F') && __builtin_isfinite(v) && __builtin_fabsl(v) >= 1e300L) return false;
    char f[16], text[HK_FLOAT_TEXT];
    size_t k = 0;
    f[k++] = '%';
    if (sp->plus) f[k++] = '+';
    if (sp->space) f[k++] = ' ';
    if (sp->alt) f[k++] = '#';
    if (sp->prec >= 0) {
        f[k++] = '.';
        f[k++] = '*';
    }
    if (is_long) f[k++] = 'L';
    f[k++] = conv;
    f[k] = '\0';
    int prec = (int)sp->prec, n;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (is_long) n = sp->prec >= 0 ? snprintf(text, sizeof text, f, prec, v) : snprintf(text, sizeof text, f, v);
    else n = sp->prec >= 0 ? snprintf(text, sizeof text, f, prec, (double)v) : snprintf(text, sizeof text, f, (double)v);
#pragma GCC diagnostic pop
    if (n < 0 || (size_t)n >= sizeof text) return false;
    if (!__builtin_isfinite(v) || !sp->zero) { /* inf and nan are padded with spaces, as glibc does */
        hk_buf_text(b, text, (size_t)n, sp);
        return true;
    }
    size_t plen = text[0] == '-' || text[0] == '+' || text[0] == ' ';
    if ((conv == 'a' || conv == 'A') && text[plen] == '0' && (text[plen + 1] == 'x' || text[plen + 1] == 'X')) plen += 2;
    hk_buf_number(b, text, plen, 0, text + plen, (size_t)n - plen, sp, true);
    return true;
}

/* A wide character as the locale writes it; false if it has no encoding. */
hk_rare_path static bool hk_wide_char(wint_t wc, char *out, size_t *n) {
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t r = wcrtomb(out, (wchar_t)wc, &st);
    if (r == (size_t)-1) return false;
    *n = r;
    return true;
}

/* %ls: at most `prec` bytes, whole characters only. */
hk_rare_path static void hk_format_wide_string(hk_buf_t *b, const wchar_t *ws, const hk_spec_t *sp) {
    size_t limit = sp->prec >= 0 ? (size_t)sp->prec : SIZE_MAX, bytes = 0;
    char mb[MB_LEN_MAX];
    size_t n;
    for (const wchar_t *w = ws; *w != L'\0' && hk_wide_char((wint_t)*w, mb, &n) && bytes + n <= limit; w++) bytes += n;
    size_t pad = sp->width > bytes ? sp->width - bytes : 0;
    if (!sp->left) hk_buf_fill(b, ' ', pad);
    for (size_t done = 0; done < bytes; ws++) {
        hk_wide_char((wint_t)*ws, mb, &n);
        hk_buf_put(b, mb, n);
        done += n;
    }
    if (sp->left) hk_buf_fill(b, ' ', pad);
}

/* The text of an errno value (%m) without strerror's buffer or locale: strerrordesc_np's. */
hk_rare_path static void hk_format_errno(hk_buf_t *b, int e, const hk_spec_t *sp) {
    const char *s = strerrordesc_np(e);
    if (s != NULL) {
        size_t n = strlen(s);
        if (sp->prec >= 0 && (size_t)sp->prec < n) n = (size_t)sp->prec;
        hk_buf_text(b, s, n, sp);
        return;
    }
    char num[HK_DIGITS_MAX + 16] = "Unknown error ";
    char digits[HK_DIGITS_MAX];
    char *d = hk_digits(digits + sizeof digits, (uint64_t)(e < 0 ? -(int64_t)e : e), 10, false);
    size_t k = strlen(num);
    if (e < 0) num[k++] = '-';
    memcpy(num + k, d, (size_t)(digits + sizeof digits - d));
    k += (size_t)(digits + sizeof digits - d);
    hk_buf_text(b, num, k, sp);
}

/* Decimal digits of a width or precision, saturated so a silly one cannot wrap. */
hk_rare_path static size_t hk_read_count(const char **f) {
    size_t v = 0;
    for (; **f >= '0' && **f <= '9'; (*f)++) v = v < (size_t)INT32_MAX ? v * 10 + (size_t)(**f - '0') : v;
    return v > (size_t)INT32_MAX ? (size_t)INT32_MAX : v;
}

hk_rare_path size_t hk_format(char *out, size_t cap, const char *fmt, va_list ap) {
    int saved_errno = errno; /* %m names the errno of the call, not one of ours */
    hk_buf_t b = {out, cap, 0};
    for (;;) {
        const char *pct = strchrnul(fmt, '%');
        hk_buf_put(&b, fmt, (size_t)(pct - fmt));
        if (*pct == '\0') break;
        const char *f = pct + 1;
        hk_spec_t sp = {.prec = -1};
        for (;; f++) {
            if (*f == '-') sp.left = true;
            else if (*f == '+') sp.plus = true;
            else if (*f == ' ') sp.space = true;
            else if (*f == '#') sp.alt = true;
            else if (*f == '0') sp.zero = true;
            else break;
        }
        if (*f == '*') {
            int w = va_arg(ap, int);
            f++;
            if (w < 0) sp.left = true; /* a negative width is the '-' flag */
            sp.width = w < 0 ? (size_t)0 - (size_t)(long)w : (size_t)w;
        } else {
            sp.width = hk_read_count(&f);
        }
        if (*f == '.') {
            f++;
            if (*f == '*') {
                int p = va_arg(ap, int);
                f++;
                sp.prec = p < 0 ? -1 : p; /* a negative precision is none */
            } else {
                sp.prec = (long)hk_read_count(&f);
            }
        }
        switch (*f) {
        case 'h': sp.len = f[1] == 'h' ? (f++, HK_LEN_HH) : HK_LEN_H; f++; break;
        case 'l': sp.len = f[1] == 'l' ? (f++, HK_LEN_LL) : HK_LEN_L; f++; break;
        case 'q': sp.len = HK_LEN_LL; f++; break;
        case 'j': sp.len = HK_LEN_J; f++; break;
        case 'z': case 'Z': sp.len = HK_LEN_Z; f++; break;
        case 't': sp.len = HK_LEN_T; f++; break;
        case 'L': sp.len = HK_LEN_BIG_L; f++; break;
        default: break;
        }
        char conv = *f;
        switch (conv) {
        case 'd':
        case 'i': {
            int64_t v;
            /* l, ll, L, j, z and t are one 64-bit type here (asserted above). clang-tidy takes
             * va_arg(ap, int) and va_arg(ap, long long) for the same branch: they are not. */
            if (sp.len == HK_LEN_NONE) { // NOLINT(bugprone-branch-clone)
                v = va_arg(ap, int);
            } else if (sp.len == HK_LEN_HH) { /* the low byte, sign-extended, as printf converts it */
                int byte = va_arg(ap, int) & 0xff;
                v = byte >= 0x80 ? byte - 0x100 : byte;
            } else if (sp.len == HK_LEN_H) {
                v = (short)va_arg(ap, int);
            } else {
                v = va_arg(ap, long long);
            }
            hk_format_integer(&b, &sp, conv, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            uint64_t v;
            if (sp.len == HK_LEN_NONE) v = va_arg(ap, unsigned); // NOLINT(bugprone-branch-clone): types differ
            else if (sp.len == HK_LEN_HH) v = (unsigned char)va_arg(ap, unsigned);
            else if (sp.len == HK_LEN_H) v = (unsigned short)va_arg(ap, unsigned);
            else v = va_arg(ap, unsigned long long);
            hk_format_integer(&b, &sp, conv, v, false);
            break;
        }
        case 'p': {
            const void *p = va_arg(ap, void *);
            if (p != NULL) {
                hk_format_integer(&b, &sp, 'p', (uintptr_t)p, false);
            } else { /* glibc: "(nil)", whole whatever the precision */
                hk_spec_t nil = sp;
                nil.prec = -1;
                hk_buf_text(&b, "(nil)", 5, &nil);
            }
            break;
        }
        case 'c': {
            char mb[MB_LEN_MAX];
            size_t n = 1;
            if (sp.len == HK_LEN_L) {
                if (!hk_wide_char(va_arg(ap, wint_t), mb, &n)) n = 0;
            } else {
                mb[0] = (char)va_arg(ap, int);
            }
            hk_buf_text(&b, mb, n, &sp);
            break;
        }
        case 's': {
            if (sp.len == HK_LEN_L) {
                const wchar_t *ws = va_arg(ap, const wchar_t *);
                if (ws != NULL) {
                    hk_format_wide_string(&b, ws, &sp);
                    break;
                }
            } else {
                const char *s = va_arg(ap, const char *);
                if (s != NULL) {
                    hk_buf_text(&b, s, sp.prec >= 0 ? strnlen(s, (size_t)sp.prec) : strlen(s), &sp);
                    break;
                }
            }
            /* NULL: glibc's "(null)", or nothing if the precision cannot hold it */
            bool fits = sp.prec < 0 || sp.prec >= 6;
            hk_buf_text(&b, "(null)", fits ? 6 : 0, &sp);
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A': {
            bool is_long = sp.len == HK_LEN_BIG_L;
            long double v = is_long ? va_arg(ap, long double) : (long double)va_arg(ap, double);
            if (!hk_format_float(&b, &sp, conv, v, is_long)) hk_buf_put(&b, pct, (size_t)(f - pct) + 1);
            break;
        }
        case 'm':
            hk_format_errno(&b, saved_errno, &sp);
            break;
        case 'n': /* refused: a format must not write to memory; shown so the mistake is seen */
            (void)va_arg(ap, void *);
            hk_buf_put(&b, pct, (size_t)(f - pct) + 1);
            break;
        case '%':
            hk_buf_put(&b, "%", 1);
            break;
        case '\0': /* a lone '%' at the end: shown, so the mistake is visible */
            hk_buf_put(&b, pct, (size_t)(f - pct));
            f--;
            break;
        default: /* an unknown conversion is shown as it is written */
            hk_buf_put(&b, pct, (size_t)(f - pct) + 1);
            break;
        }
        fmt = f + 1;
    }
    errno = saved_errno;
    return b.len;
}

hk_rare_path void hk_buf_vprintf(hk_buf_t *b, const char *fmt, va_list ap) {
    bool fits = b->len + 1 < b->cap; /* one byte is kept for the NUL */
    b->len += hk_format(fits ? b->data + b->len : b->data, fits ? b->cap - b->len - 1 : 0, fmt, ap);
    if (b->cap > 0) b->data[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

hk_rare_path void hk_buf_printf(hk_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Bytes for people: "512 B", "12.5 KiB", "3.0 GiB": the largest unit that leaves at least 1, to
 * one decimal. */
hk_rare_path void hk_buf_bytes(hk_buf_t *b, size_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    const size_t last = sizeof units / sizeof units[0] - 1;
    size_t unit = 0;
    uint64_t scaled10 = (uint64_t)bytes * 10; /* in tenths */
    while (scaled10 >= (uint64_t)1024 * 10 && unit < last) {
        scaled10 /= 1024;
        unit++;
    }
    if (unit == 0) hk_buf_printf(b, "%zu B", bytes);
    else hk_buf_printf(b, "%lu.%lu %s", (unsigned long)(scaled10 / 10), (unsigned long)(scaled10 % 10), units[unit]);
}

/* Append to a buffer that streams to fd: a text that does not fit (with its NUL) is formatted
 * again after what came before it is written out. The reports' writers all go through it. */
hk_rare_path void hk_buf_printf_to(hk_buf_t *b, int fd, const char *fmt, ...) {
    size_t before = b->len;
    va_list ap;
    va_start(ap, fmt);
    hk_buf_vprintf(b, fmt, ap);
    va_end(ap);
    if (b->len >= b->cap) {
        b->len = before;
        hk_buf_flush(b, fd);
        va_start(ap, fmt);
        hk_buf_vprintf(b, fmt, ap);
        va_end(ap);
    }
}

/* Write what b holds to fd and empty it, so one fixed buffer carries a text of any length. */
hk_rare_path void hk_buf_flush(hk_buf_t *b, int fd) {
    size_t held = b->len < b->cap ? b->len : b->cap > 0 ? b->cap - 1 : 0; /* less the NUL, if it was cut */
    hk_write_all(fd, b->data, held);
    b->len = 0;
}

hk_rare_path void hk_write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* A message is one line, cut at this many bytes: room for any of ours but one naming a long path.
 * It goes where the exit reports go (the private duplicate of the stderr the program started
 * with), so a message is not lost when the program has closed or reused fd 2. */
#define HK_MESSAGE_MAX 512

hk_rare_path static void hk_vmessage(const char *fmt, va_list ap) {
    char line[HK_MESSAGE_MAX];
    hk_buf_t b = {line, sizeof line - 1, 0};
    hk_buf_printf(&b, "heapkit: ");
    hk_buf_vprintf(&b, fmt, ap);
    size_t n = b.len < sizeof line - 2 ? b.len : sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    hk_write_all(hk_report_fd(), line, n);
    errno = saved;
}

/* A note to the user (bad option, verbose output). */
hk_rare_path void hk_message(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_vmessage(fmt, ap);
    va_end(ap);
}

/* A misuse of the allocator by the program: reported, then survived unless HEAPKIT_ON_ERROR=abort. */
hk_rare_path void hk_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_vmessage(fmt, ap);
    va_end(ap);
    if (hk_state.options.abort_on_error) abort();
}

/* A misuse that can corrupt memory (base.h): fatal also in the hardened mode. */
hk_rare_path void hk_misuse(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_vmessage(fmt, ap);
    va_end(ap);
    if (hk_misuse_fatal()) abort();
}
