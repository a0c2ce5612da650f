/* std_badfree.c — free() of pointers heapkit did not hand out (stack, global, interior, foreign
 * mmap) and double frees: each runs in a child that must print one "heapkit: ... free ... 0xADDR"
 * line on stderr, survive, and keep allocating distinct, intact blocks afterwards. */
#define _GNU_SOURCE
#include "hkt.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static char a_global[128];

/* After the bad call: the heap must still work and hand out distinct, non-overlapping blocks. */
static int after_check(size_t size) {
    enum { N = 200 };
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(size);
        if (!p[i]) return 50;
        memset(p[i], i, size);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (p[i] == p[j]) return 51;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < size; k++)
            if (p[i][k] != (char)i) return 52;
    for (int i = 0; i < N; i++) free(p[i]);
    return 0;
}


/* A page that malloc found without a free block is parked as full (HK_PAGE_IN_FULL), and a free
 * into it takes a path of its own (alloc.c, hk_free_full_page): FULL_BLOCKS blocks of FULL_SIZE
 * bytes fill several pages, so the first block's page is parked by the time the last is handed out. */
enum { FULL_BLOCKS = 4096, FULL_SIZE = 64 };
static char *full_blocks[FULL_BLOCKS];

static void fill_pages(void) {
    for (int i = 0; i < FULL_BLOCKS; i++) {
        full_blocks[i] = malloc(FULL_SIZE);
        memset(full_blocks[i], 0x5a, FULL_SIZE); /* live data in every link word */
    }
}

static void *free_remotely(void *p) {
    free(p);
    return NULL;
}

static int run_mode(int mode) {
    int on_stack[16] = {0};
    switch (mode) {
    case 0: { /* stack address */
        void *bad = hkt_launder(&on_stack[4]);
        hkt_report_addr(bad);
        free(bad);
        return after_check(64);
    }
    case 1: { /* global address */
        void *bad = hkt_launder(a_global + 32);
        hkt_report_addr(bad);
        free(bad);
        return after_check(64);
    }
    case 2: { /* interior pointer of a live small block */
        char *p = malloc(100);
        hkt_fill(p, 100, 1);
        void *bad = hkt_launder(p + 16);
        hkt_report_addr(bad);
        free(bad);
        if (hkt_verify(p, 100, 1) != (size_t)-1) return 53; /* the real block is untouched */
        free(p);
        return after_check(100);
    }
    case 3: { /* interior pointer of a live huge block */
        size_t n = (size_t)8 << 20;
        char *p = malloc(n);
        memset(p, 7, n);
        void *bad = hkt_launder(p + 4096 * 3 + 8);
        hkt_report_addr(bad);
        free(bad);
        if (p[0] != 7 || p[n - 1] != 7) return 54;
        free(p);
        return after_check(1 << 20);
    }
    case 4: { /* memory mapped behind heapkit's back */
        size_t ps = hkt_page_size();
        char *m = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 55;
        hkt_report_addr(m + ps);
        free(hkt_launder(m + ps));
        munmap(m, 4 * ps);
        return after_check(64);
    }
    case 5: { /* immediate double free, small */
        char *p = malloc(64);
        hkt_report_addr(p);
        free(p);
        free(hkt_launder(p));
        return after_check(64);
    }
    case 6: { /* immediate double free, medium */
        char *p = malloc(20000);
        hkt_report_addr(p);
        free(p);
        free(hkt_launder(p));
        return after_check(20000);
    }
    case 7: { /* double free with other frees in between: not at the head of the free list */
        char *p = malloc(48), *q = malloc(48), *r = malloc(48);
        hkt_report_addr(p);
        free(p);
        free(q);
        free(r);
        free(hkt_launder(p));
        return after_check(48);
    }
    case 9: { /* double free into a full page: another thread's free left the block on the page's
               * remote list, so the page is still parked as full when its owner frees it again */
        fill_pages();
        char *p = full_blocks[0];
        hkt_report_addr(p); /* first: an allocation after the remote free may take the page out of full */
        pthread_t other;
        if (pthread_create(&other, NULL, free_remotely, p) != 0 || pthread_join(other, NULL) != 0) return 56;
        free(hkt_launder(p));
        for (int i = 1; i < FULL_BLOCKS; i++) free(full_blocks[i]);
        return after_check(FULL_SIZE);
    }
    case 10: { /* interior pointer of a block in a full page */
        fill_pages();
        char *p = full_blocks[1];
        void *bad = hkt_launder(p + 8);
        hkt_report_addr(bad);
        free(bad);
        for (size_t k = 0; k < FULL_SIZE; k++)
            if (p[k] != 0x5a) return 57; /* the real block is untouched */
        for (int i = 0; i < FULL_BLOCKS; i++) free(full_blocks[i]);
        return after_check(FULL_SIZE);
    }
    case 8: { /* double free of a huge block */
        char *p = malloc((size_t)16 << 20);
        memset(p, 1, 4096);
        hkt_report_addr(p);
        free(p);
        free(hkt_launder(p));
        return after_check(1 << 20);
    }
    }
    return 99;
}

static const struct {
    const char *name;
    bool want_double;
} k_modes[] = {
    {"stack address", false}, {"global address", false}, {"interior of small block", false},
    {"interior of huge block", false}, {"foreign mmap", false}, {"double free small", true},
    {"double free medium", true}, {"double free not at list head", true}, {"double free huge", false},
    {"double free into a full page", true}, {"interior of a block in a full page", false},
};
#define NMODES (int)(sizeof k_modes / sizeof k_modes[0])

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return false;
}

/* Does the line hold addr as a hex number (with or without 0x, any case, leading zeros)? */
static bool line_has_addr(const char *line, size_t len, uintptr_t addr) {
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)line[i])) continue;
        if (i > 0 && (isalnum((unsigned char)line[i - 1]) && !(line[i - 1] == 'x' && i >= 2 && line[i - 2] == '0')))
            continue; /* middle of a word */
        size_t j = i;
        uintptr_t v = 0;
        bool overflow = false;
        while (j < len && isxdigit((unsigned char)line[j])) {
            int d = isdigit((unsigned char)line[j]) ? line[j] - '0' : tolower((unsigned char)line[j]) - 'a' + 10;
            if (v >> 60) overflow = true;
            v = v << 4 | (uintptr_t)d;
            j++;
        }
        if (!overflow && v == addr) return true;
        i = j;
    }
    return false;
}

int main(int argc, char **argv) {
    int child_status = hkt_mode_child(argc, argv, run_mode);
    if (child_status >= 0) return child_status;
    hkt_begin("std_badfree", 120);
    hkt_check_running_on_heapkit();
    static char out[1 << 15];
    for (int m = 0; m < NMODES; m++) {
        int st = hkt_run_mode(argv[0], m, NULL, out, sizeof out);
        const char *what = k_modes[m].name;
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            hkt_fail(__FILE__, __LINE__, "[%s] child did not survive: %s %d; output:\n%s", what,
                     st != -1 && WIFSIGNALED(st) ? "signal" : "exit status",
                     st == -1 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), out);
            continue;
        }
        CHECKF(strstr(out, "child survived") != NULL, "[%s] child did not finish:\n%s", what, out);
        uintptr_t addr = hkt_reported_addr(out);
        REQUIRE(addr != 0);
        /* find the heapkit line */
        bool found = false, found_double = false;
        int heapkit_lines = 0;
        for (const char *line = out; *line;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) : strlen(line);
            if (len >= 9 && strncmp(line, "heapkit: ", 9) == 0) {
                heapkit_lines++;
                char tmp[1024];
                size_t k = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
                memcpy(tmp, line, k);
                tmp[k] = '\0';
                if (contains_ci(tmp, "free") && line_has_addr(tmp, k, addr)) {
                    found = true;
                    if (contains_ci(tmp, "double free")) found_double = true;
                }
            }
            line += len + (end ? 1 : 0);
        }
        CHECKF(found, "[%s] no stderr line starting \"heapkit: \" containing \"free\" and address %#lx; output:\n%s",
               what, (unsigned long)addr, out);
        if (k_modes[m].want_double)
            CHECKF(found_double, "[%s] the heapkit message does not say \"double free\"; output:\n%s", what, out);
        CHECKF(heapkit_lines == 1, "[%s] %d \"heapkit: \" lines for one bad free, want one; output:\n%s", what,
               heapkit_lines, out);
    }
    return hkt_done();
}
