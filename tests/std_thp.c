/* std_thp.c — HEAPKIT_THP: transparent huge pages for segments. Each mode runs in a child of its
 * own. The child fills three segments with small blocks, then looks at the statistics
 * (thp_segments) and at the kernel's flags of the segments' mapping (/proc/self/smaps VmFlags
 * "hg": advised MADV_HUGEPAGE): `always` advises at mapping, `auto` only once the segments stayed
 * dense for a second (and a page was given back, which is when a segment is looked at), `off`
 * never. A bad value gets a message naming the variable, and the default (auto) runs. */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define BLOCK 64
#define BLOCKS (((size_t)12 << 20) / BLOCK) /* three 4 MiB segments' worth */
#define FREED 4096                       /* about four 64 KiB pages: given back, the segment stays dense */

/* A mapping's first line in smaps ("lo-hi perms ..."), not one of its "Name: value" lines. */
static bool is_mapping_line(const char *line) {
    const char *dash = strchr(line, '-');
    return dash != NULL && dash > line && strspn(line, "0123456789abcdef") == (size_t)(dash - line);
}

static bool in_mapping_line(const char *line, const void *p) {
    char *end;
    unsigned long lo = strtoul(line, &end, 16), hi = strtoul(end + 1, NULL, 16);
    return (uintptr_t)p >= lo && (uintptr_t)p < hi;
}

/* The line of /proc/self/smaps that starts with `field`, in the entry of the mapping that holds
 * p, copied into line; false if not found. */
static bool smaps_field(const void *p, const char *field, char *line, size_t size) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL) return false;
    bool inside = false, found = false;
    while (!found && fgets(line, (int)size, f) != NULL) {
        if (is_mapping_line(line)) inside = in_mapping_line(line, p);
        found = inside && strncmp(line, field, strlen(field)) == 0;
    }
    fclose(f);
    return found;
}

/* Whether the kernel mapping that holds p carries the "hg" flag (MADV_HUGEPAGE); -1: not found. */
static int advised_huge(const void *p) {
    char line[512];
    return smaps_field(p, "VmFlags:", line, sizeof line) ? strstr(line, " hg") != NULL : -1;
}

/* AnonHugePages of the mapping that holds p, in kB; -1: not found. */
static long anon_huge_kb(const void *p) {
    char line[512];
    return smaps_field(p, "AnonHugePages:", line, sizeof line) ? strtol(line + 14, NULL, 10) : -1;
}

/* Whether this kernel takes MADV_HUGEPAGE at all (built without THP it refuses with EINVAL). */
static bool kernel_has_thp(void) {
    size_t size = (size_t)4 << 20;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    bool ok = madvise(p, size, MADV_HUGEPAGE) == 0;
    munmap(p, size);
    return ok;
}

static size_t thp_segments(void) {
    hk_stats_t s;
    REQUIRE(hkt_stats(&s));
    return s.thp_segments;
}

static int child(void) {
    const char *mode = getenv("HEAPKIT_THP");
    bool always = mode != NULL && strcmp(mode, "always") == 0, off = mode != NULL && strcmp(mode, "off") == 0;
    bool thp = kernel_has_thp();
    char **blocks = malloc(BLOCKS * sizeof *blocks);
    REQUIRE(blocks != NULL);
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        REQUIRE(blocks[i] != NULL);
        blocks[i][0] = (char)i;
    }
    const char *probe = blocks[FREED + 100]; /* in the first segment, which gives pages back below */
    size_t at_first = thp_segments();
    int hg_first = advised_huge(probe);
    printf("mode %s: kernel THP %d; after filling: %zu advised, hg %d\n", mode ? mode : "(unset)", thp, at_first,
           hg_first);
    if (always && thp) {
        CHECKF(at_first >= 3, "always: %zu segments advised at mapping, expected the 3 filled", at_first);
        CHECKF(hg_first == 1, "always: the segment's mapping has no hg flag (%d)", hg_first);
    } else {
        CHECKF(at_first == 0, "%s: %zu segments advised while they were young", mode ? mode : "auto", at_first);
        CHECKF(hg_first == 0, "%s: the young segment's mapping has the hg flag (%d)", mode ? mode : "auto", hg_first);
    }
    struct timespec wait = {1, 200000000L}; /* past the second a segment must stay dense */
    nanosleep(&wait, NULL);
    for (size_t i = 0; i < FREED; i++) { /* the first blocks: whole pages given back, the segment looked at */
        free(blocks[i]);
        blocks[i] = NULL;
    }
    size_t later = thp_segments();
    int hg_later = advised_huge(probe);
    printf("after a second dense and a page given back: %zu advised, hg %d\n", later, hg_later);
    nanosleep(&(struct timespec){0, 300000000L}, NULL); /* the purger's collapse, to see (not checked: */
    printf("anon huge pages: %ld kB\n", anon_huge_kb(probe));  /* it needs 2 MiB of free contiguous memory) */
    if (off || !thp) {
        CHECKF(later == 0, "%s: %zu segments advised", off ? "off" : "no kernel THP", later);
        CHECKF(hg_later != 1, "%s: a segment's mapping has the hg flag", off ? "off" : "no kernel THP");
    } else {
        CHECKF(later >= 1, "%s: no segment advised after staying dense for a second", mode ? mode : "auto");
        CHECKF(hg_later == 1, "%s: the dense segment's mapping has no hg flag (%d)", mode ? mode : "auto", hg_later);
    }
    for (size_t i = 0; i < BLOCKS; i++) free(blocks[i]);
    free(blocks);
    printf("child ran to the end\n");
    return hkt_failures != 0;
}

static void run_with(const char *assign, bool bad) {
    static char out[1 << 14];
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, assign, 60, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] child status %#x; output:\n%s", assign, st, out);
    CHECKF(strstr(out, "child ran to the end") != NULL, "[%s] child did not run to the end; output:\n%s", assign, out);
    bool named = strstr(out, "HEAPKIT_THP='") != NULL;
    CHECKF(named == bad, "[%s] %s; output:\n%s", assign, bad ? "no message naming HEAPKIT_THP" : "a valid value was complained about", out);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    hkt_check_running_on_heapkit();
    run_with("HEAPKIT_THP=auto", false);
    run_with("HEAPKIT_THP=always", false);
    run_with("HEAPKIT_THP=off", false);
    run_with("HEAPKIT_THP=sometimes", true); /* the default (auto) runs */
    return hkt_done();
}
