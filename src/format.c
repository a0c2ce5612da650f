/* format.c — a small printf that never allocates, and the one-line messages heapkit prints.
 * libc's printf family may call malloc, which is us; reports and stats must not.
 * Supports %s %c %d %i %u %x %p %% with l/ll/z sizes, a width and the '-' flag. */
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

static void hk_buf_putc(hk_buf_t *b, char c) {
    if (b->len + 1 < b->cap) b->data[b->len] = c;
    b->len++;
}

static void hk_buf_pad(hk_buf_t *b, const char *s, size_t n, int width, bool left) {
    size_t pad = width > 0 && (size_t)width > n ? (size_t)width - n : 0;
    if (!left)
        for (size_t i = 0; i < pad; i++) hk_buf_putc(b, ' ');
    for (size_t i = 0; i < n; i++) hk_buf_putc(b, s[i]);
    if (left)
        for (size_t i = 0; i < pad; i++) hk_buf_putc(b, ' ');
}

static size_t hk_utoa(char *out, uint64_t v, unsigned base) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

void hk_buf_vprintf(hk_buf_t *b, const char *fmt, va_list ap) {
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            hk_buf_putc(b, *f);
            continue;
        }
        f++;
        bool left = false, zeros = false;
        int width = 0;
        if (*f == '-') {
            left = true;
            f++;
        }
        if (*f == '0') {
            zeros = true;
            f++;
        }
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        int longs = 0;
        while (*f == 'l' || *f == 'z') {
            longs += (*f == 'z') ? 2 : 1;
            f++;
        }
        char num[32];
        size_t n = 0;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s == NULL) s = "(null)";
            hk_buf_pad(b, s, strlen(s), width, left);
            continue;
        }
        case 'c':
            num[0] = (char)va_arg(ap, int);
            hk_buf_pad(b, num, 1, width, left);
            continue;
        case 'd':
        case 'i': {
            int64_t v = longs >= 2 ? (int64_t)va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
            uint64_t u = (uint64_t)v;
            if (v < 0) {
                num[n++] = '-';
                u = (uint64_t)0 - u;
            }
            n += hk_utoa(num + n, u, 10);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs >= 2 ? (uint64_t)va_arg(ap, unsigned long long)
                         : longs    ? va_arg(ap, unsigned long)
                                    : va_arg(ap, unsigned);
            n = hk_utoa(num, v, *f == 'x' ? 16 : 10);
            break;
        }
        case 'p':
            num[0] = '0';
            num[1] = 'x';
            n = 2 + hk_utoa(num + 2, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            num[n++] = '%';
            break;
        default: /* unknown conversion: print it as is, so the mistake is visible */
            num[n++] = '%';
            if (*f) num[n++] = *f;
            else f--;
            break;
        }
        while (zeros && width > 0 && n < (size_t)width && n < sizeof num) { /* zero-pad numbers */
            memmove(num + 1, num, n++);
            num[0] = '0';
        }
        hk_buf_pad(b, num, n, width, left);
    }
    if (b->cap > 0) b->data[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

void hk_buf_printf(hk_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Bytes for people: "512 B", "12.5 KiB", "3.0 GiB". */
void hk_buf_bytes(hk_buf_t *b, size_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t unit = 0;
    uint64_t scaled10 = (uint64_t)bytes * 10;
    while (scaled10 >= 10240 && unit < 4) {
        scaled10 /= 1024;
        unit++;
    }
    if (unit == 0) hk_buf_printf(b, "%zu B", bytes);
    else hk_buf_printf(b, "%lu.%lu %s", (unsigned long)(scaled10 / 10), (unsigned long)(scaled10 % 10), units[unit]);
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

static void hk_vmessage(const char *fmt, va_list ap) {
    char line[512];
    hk_buf_t b = {line, sizeof line - 1, 0};
    hk_buf_printf(&b, "heapkit: ");
    hk_buf_vprintf(&b, fmt, ap);
    size_t n = b.len < sizeof line - 2 ? b.len : sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    hk_write_all(2, line, n);
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
