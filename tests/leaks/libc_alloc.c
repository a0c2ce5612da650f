/* libc_alloc.c — blocks that libc allocated for the program and the program lost: strdup and
 * strndup copies, an asprintf string (glibc sizes it to fit: 11 bytes for "12345-leak"), and the
 * line buffer getline made (glibc starts it at 120 bytes). One strdup copy stays reachable from a
 * global. The stream getline read from is closed, so libc itself holds nothing of the program's. */
#define _GNU_SOURCE
#include "leak_util.h"

char *g_name;

LK_FN void leak_strdup(void) {
    char *volatile s = strdup("a string of 26 characters.");
    LK_CHECK(s != NULL && strlen(s) == 26);
    s = strndup("truncated copy", 9);
    LK_CHECK(s != NULL && strlen(s) == 9);
    s = NULL;
    (void)s;
}

LK_FN void keep_strdup(void) { g_name = strdup("kept"); }

LK_FN void leak_asprintf(void) {
    char *volatile s = NULL;
    char *out = NULL;
    LK_CHECK(asprintf(&out, "%d-%s", 12345, "leak") == 10);
    s = out;
    out = NULL;
    s = NULL;
    (void)s;
}

LK_FN void leak_getline(void) {
    static char text[] = "first line\nsecond line\n";
    FILE *f = fmemopen(text, sizeof text - 1, "r");
    LK_CHECK(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    LK_CHECK(getline(&line, &cap, f) == 11);
    LK_CHECK(getline(&line, &cap, f) == 12); /* same buffer, big enough */
    fclose(f);
    line = NULL;
    __asm__ volatile("" ::"r"(line) : "memory");
}

int main(void) {
    leak_strdup();
    keep_strdup();
    leak_asprintf();
    leak_getline();
    lk_scrub_stack();
    return 0;
}
