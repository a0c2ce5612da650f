/* pool_test.h — helpers shared by the pool and arena tests: running one scenario in a child
 * process (`/proc/self/exe child NAME`, optionally with an environment assignment) and checking
 * that heapkit printed the expected line, naming the address the child reported with PT_ADDR. */
#ifndef POOL_TEST_H
#define POOL_TEST_H

#include "hkt.h"

#include <signal.h>
#include <sys/wait.h>

/* The child tells the parent which address its message must name. */
static inline void pt_addr(const void *p) {
    printf("ADDR %p\n", p);
    fflush(stdout);
}

/* The line of `text` that starts with "heapkit: " and contains `needle`, copied into line. */
static inline bool pt_find_line(const char *text, const char *needle, char *line, size_t cap) {
    const char *s = text;
    while (s != NULL && *s != '\0') {
        const char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n >= cap) n = cap - 1;
        memcpy(line, s, n);
        line[n] = '\0';
        if (strncmp(line, "heapkit: ", 9) == 0 && strstr(line, needle) != NULL) return true;
        s = end ? end + 1 : NULL;
    }
    return false;
}

typedef struct pt_case_s {
    const char *name;      /* the child scenario */
    const char *env;       /* "NAME=value" for the child, or NULL */
    const char *expect[4]; /* substrings one "heapkit: " line must hold (the first finds the line) */
    const char *also;      /* a substring expected anywhere in the output, or NULL */
    int want_signal;       /* 0: the child must exit 0 (it survived and its heap works) */
    bool want_addr;        /* the line must name the address the child printed */
    bool want_fail;        /* the child must exit non-zero (a sanitizer stopped it) */
} pt_case_t;

/* Run a case; `absent`, if not NULL, is a substring its line must not hold (what a fatal report
 * must not promise, such as "ignored"). */
static inline void pt_run_without(const pt_case_t *c, const char *absent) {
    static char out[64 * 1024];
    char *argv[] = {(char *)"self", (char *)"child", (char *)c->name, NULL};
    int status = hkt_run_self(argv, c->env, 120, out, sizeof out);
    bool ok_status = c->want_signal ? WIFSIGNALED(status) && WTERMSIG(status) == c->want_signal
                     : c->want_fail ? status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)
                                    : WIFEXITED(status) && WEXITSTATUS(status) == 0;
    CHECKF(ok_status, "%s: child status %#x (want %s %d); output:\n%s", c->name, (unsigned)status,
           c->want_signal ? "signal" : "exit", c->want_signal, out);
    char line[1024];
    if (c->expect[0] != NULL) {
        bool found = pt_find_line(out, c->expect[0], line, sizeof line);
        CHECKF(found, "%s: no heapkit line with \"%s\"; output:\n%s", c->name, c->expect[0], out);
        if (found) {
            for (int i = 1; i < 4 && c->expect[i] != NULL; i++)
                CHECKF(strstr(line, c->expect[i]) != NULL, "%s: \"%s\" missing from: %s", c->name, c->expect[i], line);
            if (absent != NULL)
                CHECKF(strstr(line, absent) == NULL, "%s: \"%s\" should not be in: %s", c->name, absent, line);
            const char *a = strstr(out, "ADDR ");
            if (c->want_addr) {
                char addr[32] = "";
                if (a != NULL) sscanf(a + 5, "%31s", addr);
                CHECKF(addr[0] != '\0' && strstr(line, addr) != NULL, "%s: the line does not name %s: %s", c->name,
                       addr, line);
            }
        }
    }
    if (c->also != NULL) CHECKF(strstr(out, c->also) != NULL, "%s: \"%s\" missing; output:\n%s", c->name, c->also, out);
}

static inline void pt_run(const pt_case_t *c) { pt_run_without(c, NULL); }

/* One heapkit line, no more: a misuse is reported once. */
static inline size_t pt_count(const char *text, const char *needle) {
    size_t n = 0;
    for (const char *s = strstr(text, needle); s; s = strstr(s + 1, needle)) n++;
    return n;
}

#endif /* POOL_TEST_H */
