/* format.c — a small printf that never allocates, and the one-line messages heapkit prints.
 * libc's printf family may call malloc, which is us; reports, stats and hk_arena_printf must not.
 * Supports %s %c %d %i %u %x %p %% with l/ll/z sizes, a width and the '-' and '0' flags, with
 * printf's meaning. It works in runs rather than characters: the text between conversions is
 * found with strchrnul and copied with memcpy, numbers are converted into a small buffer, so
 * formatting a request line costs a few hundred instructions, not thousands. */
#define _GNU_SOURCE /* strchrnul */
#include "base.h"

#include <stdlib.h>
#include <unistd.h>

/* hk_format fills a hk_buf_t to its last byte (the NUL is hk_buf_vprintf's business). */
static void hk_buf_put(hk_buf_t *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->len < b->cap) memcpy(b->data + b->len, s, n < b->cap - b->len ? n : b->cap - b->len);
    b->len += n;
}

static void hk_buf_fill(hk_buf_t *b, char c, size_t n) {
    if (n == 0) return;
    if (b->len < b->cap) memset(b->data + b->len, c, n < b->cap - b->len ? n : b->cap - b->len);
    b->len += n;
}

/* Digits of v in base 10 or 16, written backwards from end; returns the first. Two loops so
 * each divides by a constant (a multiply), not by a variable (a division). */
static char *hk_digits(char *end, uint64_t v, unsigned base) {
    if (base == 16) {
        do {
            *--end = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v != 0);
        return end;
    }
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/* A number with its sign or prefix, padded to width: zeros go between the sign and the digits. */
static void hk_buf_number(hk_buf_t *b, const char *prefix, size_t prefix_len, const char *digits, size_t n,
                          size_t width, bool left, bool zeros) {
    size_t body = prefix_len + n, pad = width > body ? width - body : 0;
    if (!left && !zeros) hk_buf_fill(b, ' ', pad);
    hk_buf_put(b, prefix, prefix_len);
    if (!left && zeros) hk_buf_fill(b, '0', pad);
    hk_buf_put(b, digits, n);
    if (left) hk_buf_fill(b, ' ', pad);
}

static void hk_buf_text(hk_buf_t *b, const char *s, size_t n, size_t width, bool left) {
    size_t pad = width > n ? width - n : 0;
    if (!left) hk_buf_fill(b, ' ', pad);
    hk_buf_put(b, s, n);
    if (left) hk_buf_fill(b, ' ', pad);
}

/* Room for a number's digits: a 64-bit value has at most 20 in decimal, 16 in hex. */
#define HK_DIGITS_MAX 32

size_t hk_format(char *out, size_t cap, const char *fmt, va_list ap) {
    hk_buf_t b = {out, cap, 0};
    char num[HK_DIGITS_MAX];
    char *const num_end = num + sizeof num;
    for (;;) {
        const char *pct = strchrnul(fmt, '%');
        hk_buf_put(&b, fmt, (size_t)(pct - fmt));
        if (*pct == '\0') break;
        const char *f = pct + 1;
        bool left = false, zeros = false;
        for (; *f == '-' || *f == '0'; f++) {
            if (*f == '-') left = true;
            else zeros = true;
        }
        size_t width = 0;
        while (*f >= '0' && *f <= '9') width = width * 10 + (size_t)(*f++ - '0');
        int longs = 0;
        for (; *f == 'l' || *f == 'z'; f++) longs += *f == 'z' ? 2 : 1;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s == NULL) s = "(null)";
            hk_buf_text(&b, s, strlen(s), width, left);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            hk_buf_text(&b, &c, 1, width, left);
            break;
        }
        case 'd':
        case 'i': {
            int64_t v = longs >= 2 ? (int64_t)va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
            uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            char *d = hk_digits(num_end, u, 10);
            hk_buf_number(&b, "-", v < 0, d, (size_t)(num_end - d), width, left, zeros);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs >= 2 ? (uint64_t)va_arg(ap, unsigned long long)
                         : longs    ? va_arg(ap, unsigned long)
                                    : va_arg(ap, unsigned);
            char *d = hk_digits(num_end, v, *f == 'x' ? 16 : 10);
            hk_buf_number(&b, "", 0, d, (size_t)(num_end - d), width, left, zeros);
            break;
        }
        case 'p': {
            char *d = hk_digits(num_end, (uintptr_t)va_arg(ap, void *), 16);
            hk_buf_number(&b, "0x", 2, d, (size_t)(num_end - d), width, left, zeros);
            break;
        }
        case '%':
            hk_buf_put(&b, "%", 1);
            break;
        case '\0': /* a lone '%' at the end: shown, so the mistake is visible */
            hk_buf_put(&b, "%", 1);
            f--;
            break;
        default: /* an unknown conversion is shown as it is written */
            hk_buf_put(&b, pct, (size_t)(f - pct) + 1);
            break;
        }
        fmt = f + 1;
    }
    return b.len;
}

void hk_buf_vprintf(hk_buf_t *b, const char *fmt, va_list ap) {
    bool fits = b->len + 1 < b->cap; /* one byte is kept for the NUL */
    b->len += hk_format(fits ? b->data + b->len : b->data, fits ? b->cap - b->len - 1 : 0, fmt, ap);
    if (b->cap > 0) b->data[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

void hk_buf_printf(hk_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Bytes for people: "512 B", "12.5 KiB", "3.0 GiB": the largest unit that leaves at least 1, to
 * one decimal. */
void hk_buf_bytes(hk_buf_t *b, size_t bytes) {
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

/* Write what b holds to fd and empty it, so one fixed buffer carries a text of any length. */
void hk_buf_flush(hk_buf_t *b, int fd) {
    size_t held = b->len < b->cap ? b->len : b->cap > 0 ? b->cap - 1 : 0; /* less the NUL, if it was cut */
    hk_write_all(fd, b->data, held);
    b->len = 0;
}

void hk_write_all(int fd, const char *s, size_t n) {
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

/* A message is one line, cut at this many bytes: room for any of ours but one naming a long path. */
#define HK_MESSAGE_MAX 512

static void hk_vmessage(const char *fmt, va_list ap) {
    char line[HK_MESSAGE_MAX];
    hk_buf_t b = {line, sizeof line - 1, 0};
    hk_buf_printf(&b, "heapkit: ");
    hk_buf_vprintf(&b, fmt, ap);
    size_t n = b.len < sizeof line - 2 ? b.len : sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    hk_write_all(STDERR_FILENO, line, n);
    errno = saved;
}

/* A note to the user (bad option, verbose output). */
void hk_message(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_vmessage(fmt, ap);
    va_end(ap);
}

/* A misuse of the allocator by the program: reported, then survived unless HEAPKIT_ON_ERROR=abort. */
void hk_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_vmessage(fmt, ap);
    va_end(ap);
    if (hk_state.options.abort_on_error) abort();
}
