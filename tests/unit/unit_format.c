/* unit_format.c — the malloc-free printf: conversions, widths, truncation with the snprintf
 * length convention, and human-readable byte counts. */
#include "unit.h"

static const char *fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static const char *fmt(char *out, size_t cap, const char *f, ...) {
    hk_buf_t b = {out, cap, 0};
    va_list ap;
    va_start(ap, f);
    hk_buf_vprintf(&b, f, ap);
    va_end(ap);
    return out;
}

int main(void) {
    char s[128];
    CHECK(!strcmp(fmt(s, sizeof s, "%d %i %u", -42, 7, 3000000000u), "-42 7 3000000000"), "got '%s'", s);
    CHECK(!strcmp(fmt(s, sizeof s, "%zu %zd %lu %llu", (size_t)18446744073709551615ull, (ssize_t)-5, 12ul, 9ull),
                  "18446744073709551615 -5 12 9"), "got '%s'", s);
    CHECK(!strcmp(fmt(s, sizeof s, "%x %p", 255u, (void *)0x1000), "ff 0x1000"), "got '%s'", s);
    CHECK(!strcmp(fmt(s, sizeof s, "[%5s][%-5s][%05d]", "ab", "cd", 42), "[   ab][cd   ][00042]"), "got '%s'", s);
    const char *volatile null_string = NULL; /* volatile: keep GCC from rejecting %s with NULL */
    CHECK(!strcmp(fmt(s, sizeof s, "%s %c %%", null_string, 'z'), "(null) z %"), "got '%s'", s);
    CHECK(!strcmp(fmt(s, sizeof s, "%d", (int)-2147483647 - 1), "-2147483648"), "got '%s'", s);

    char small[8];
    hk_buf_t b = {small, sizeof small, 0};
    hk_buf_printf(&b, "%s", "0123456789");
    CHECK(b.len == 10, "length should count the whole text, got %zu", b.len);
    CHECK(!strcmp(small, "0123456"), "truncated text should be NUL-terminated, got '%s'", small);

    hk_buf_t none = {NULL, 0, 0};
    hk_buf_printf(&none, "%s", "abc");
    CHECK(none.len == 3, "a zero-capacity buffer still measures, got %zu", none.len);

    const struct {
        size_t bytes;
        const char *text;
    } sizes[] = {{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
                 {(size_t)5 << 20, "5.0 MiB"}, {(size_t)3 << 30, "3.0 GiB"}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        hk_buf_t bb = {s, sizeof s, 0};
        hk_buf_bytes(&bb, sizes[i].bytes);
        CHECK(!strcmp(s, sizes[i].text), "%zu bytes printed as '%s', want '%s'", sizes[i].bytes, s, sizes[i].text);
    }
    return unit_done("unit_format");
}
