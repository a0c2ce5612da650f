/* std_badrealloc.c — realloc() of a freed block, of a pointer into the middle of a block and of a
 * pointer heapkit never handed out: each runs in a child, which must get NULL with errno EINVAL,
 * see exactly one "heapkit: realloc(0xADDR)..." line, and find the heap untouched (the freed block
 * is not handed out twice, the live block keeps its bytes). With HEAPKIT_ON_ERROR=abort the child
 * aborts and its line does not claim the call was ignored or refused. */
#define _GNU_SOURCE
#include "hkt.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>


/* realloc must refuse p: NULL, errno EINVAL. */
static int refused(void *p, size_t size) {
    errno = 0;
    void *q = realloc(hkt_launder(p), hkt_launder_size(size));
    if (q != NULL) return 60;
    if (errno != EINVAL) return 61;
    return 0;
}

/* The heap hands out distinct blocks of `size` after the bad call, none of them `freed` twice. */
static int distinct_after(size_t size, const void *freed) {
    enum { N = 64 };
    char *p[N];
    int seen_freed = 0;
    for (int i = 0; i < N; i++) {
        p[i] = malloc(size);
        if (p[i] == NULL) return 70;
        memset(p[i], i, size);
        if (p[i] == freed) seen_freed++;
        for (int j = 0; j < i; j++)
            if (p[j] == p[i]) return 71;
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < size; k++)
            if (p[i][k] != (char)i) return 72;
    for (int i = 0; i < N; i++) free(p[i]);
    return seen_freed <= 1 ? 0 : 73;
}

static int run_mode(int mode) {
    int on_stack[8] = {0};
    switch (mode) {
    case 0: { /* freed small block, same size: the old code handed the freed block back */
        char *p = malloc(40);
        hkt_report_addr(p);
        free(p);
        int rc = refused(p, 40);
        return rc ? rc : distinct_after(40, p);
    }
    case 1: { /* freed small block, bigger size: the old code copied the freed bytes */
        char *p = malloc(40);
        char *q = malloc(40); /* so p is not the only block of its page */
        hkt_report_addr(p);
        free(p);
        int rc = refused(p, 400);
        free(q);
        return rc ? rc : distinct_after(40, p);
    }
    case 2: { /* interior pointer of a live small block: the old code returned it */
        char *p = malloc(100);
        hkt_fill(p, 100, 3);
        hkt_report_addr(p + 16);
        int rc = refused(p + 16, 40);
        if (rc) return rc;
        if (hkt_verify(p, 100, 3) != (size_t)-1) return 62;
        free(p);
        return distinct_after(100, NULL);
    }
    case 3: { /* interior pointer of a live huge block */
        size_t n = (size_t)4 << 20;
        char *p = malloc(n);
        memset(p, 5, n);
        hkt_report_addr(p + 8192);
        int rc = refused(p + 8192, 100);
        if (rc) return rc;
        if (p[0] != 5 || p[n - 1] != 5) return 63;
        free(p);
        return distinct_after(256, NULL);
    }
    case 4: { /* freed huge block */
        char *p = malloc((size_t)8 << 20);
        memset(p, 1, 4096);
        hkt_report_addr(p);
        free(p);
        int rc = refused(p, 100);
        return rc ? rc : distinct_after(1 << 20, NULL);
    }
    case 5: { /* a stack address */
        hkt_report_addr(&on_stack[2]);
        int rc = refused(&on_stack[2], 64);
        return rc ? rc : distinct_after(64, NULL);
    }
    case 6: { /* realloc(freed, 0) frees: it must not reach free's double-free message */
        char *p = malloc(48);
        char *q = malloc(48);
        hkt_report_addr(p);
        free(p);
        int rc = refused(p, 0);
        free(q);
        return rc ? rc : distinct_after(48, p);
    }
    case 7: { /* HEAPKIT_ON_ERROR=abort: the call aborts */
        char *p = malloc(40);
        hkt_report_addr(p);
        free(p);
        void *q = realloc(hkt_launder(p), hkt_launder_size(40));
        printf("%p\n", q);
        return 64; /* not reached */
    }
    case 8: { /* interior pointer of a live small block, to a size the block still holds: the
               * case realloc answers without a look at its checked path (alloc.c, hk_realloc_keeps) */
        char *p = malloc(100);
        hkt_fill(p, 100, 4);
        hkt_report_addr(p + 16);
        int rc = refused(p + 16, 90);
        if (rc) return rc;
        if (hkt_verify(p, 100, 4) != (size_t)-1) return 62;
        free(p);
        return distinct_after(100, NULL);
    }
    }
    return 99;
}

static const char *const k_modes[] = {"freed small, same size", "freed small, bigger", "interior small",
                                      "interior huge",          "freed huge",          "stack address",
                                      "freed small, size 0",    "abort mode",          "interior small, size it holds"};
#define NMODES (int)(sizeof k_modes / sizeof k_modes[0])
#define ABORT_MODE 7

int main(int argc, char **argv) {
    int child_status = hkt_mode_child(argc, argv, run_mode);
    if (child_status >= 0) return child_status;
    hkt_begin("std_badrealloc", 120);
    hkt_check_running_on_heapkit();
    static char out[1 << 15];
    for (int m = 0; m < NMODES; m++) {
        int st = hkt_run_mode(argv[0], m, m == ABORT_MODE ? "HEAPKIT_ON_ERROR=abort" : NULL, out, sizeof out);
        const char *what = k_modes[m];
        if (m == ABORT_MODE) {
            CHECKF(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "[%s] child did not abort; output:\n%s",
                   what, out);
        } else {
            CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "child survived"),
                   "[%s] child failed (status %#x; 60s: realloc did not refuse, 70s: heap damaged); output:\n%s",
                   what, st, out);
        }
        uintptr_t addr = hkt_reported_addr(out);
        REQUIRE(addr != 0);
        char want[64];
        snprintf(want, sizeof want, "heapkit: realloc(%p)", (void *)addr);
        int lines = 0;
        const char *ours = NULL;
        for (const char *l = strstr(out, "heapkit: "); l; l = strstr(l + 1, "heapkit: ")) {
            lines++;
            if (strncmp(l, want, strlen(want)) == 0) ours = l;
        }
        CHECKF(ours != NULL, "[%s] no line starting \"%s\"; output:\n%s", what, want, out);
        CHECKF(lines == 1, "[%s] %d heapkit lines for one bad realloc, want one; output:\n%s", what, lines, out);
        if (ours != NULL) {
            size_t len = strcspn(ours, "\n");
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)len, ours);
            if (m == ABORT_MODE)
                CHECKF(!strstr(line, "ignored") && !strstr(line, "refused"),
                       "[%s] the line says the program goes on, but it aborts: %s", what, line);
            else
                CHECKF(strstr(line, "EINVAL") != NULL, "[%s] the line does not say what realloc returned: %s", what,
                       line);
        }
    }
    return hkt_done();
}
