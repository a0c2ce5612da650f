/* sample_rate.c — HEAPKIT_SAMPLE_GUARD=N samples about one allocation in N, whatever their sizes:
 * blocks of 16 bytes (which the byte countdown reaches least often) and blocks of mixed sizes up
 * to 4 KiB, each freed at once so a guard slot is always free. The count of sampled allocations
 * comes from the statistics' JSON ("check": {"sampled": n}); each phase must be within 15% of
 * calls / N (1000 expected: 15% is over 4.7 standard deviations of the binomial count). Linked
 * with heapkit. */
#include <heapkit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

static size_t sampled_so_far(void) {
    static char json[1 << 16];
    hk_stats_json(json, sizeof json);
    const char *at = strstr(json, "\"sampled\":");
    return at != NULL ? strtoull(at + strlen("\"sampled\":"), NULL, 10) : (size_t)-1;
}

static int phase(const char *what, size_t calls, size_t n, size_t (*size_of)(size_t i)) {
    size_t before = sampled_so_far();
    for (size_t i = 0; i < calls; i++) {
        char *p = ck_launder(malloc(size_of(i)));
        if (p == NULL) return 1;
        p[0] = 1;
        free(p);
    }
    size_t got = sampled_so_far() - before;
    double expected = (double)calls / (double)n;
    int ok = (double)got > 0.85 * expected && (double)got < 1.15 * expected;
    printf("%s: %zu of %zu allocations sampled, expected %.0f (1 in %zu): %s\n", what, got, calls, expected, n,
           ok ? "ok" : "FAIL");
    return !ok;
}

static size_t sixteen(size_t i) { return (void)i, 16; }
static size_t mixed(size_t i) { return 17 + (i * 2654435761u) % 4080; }

int main(void) {
    const char *env = getenv("HEAPKIT_SAMPLE_GUARD");
    size_t n = env != NULL ? strtoull(env, NULL, 10) : 0;
    if (n < 2 || sampled_so_far() == (size_t)-1) {
        printf("sample_rate: FAILED (run with heapkit and HEAPKIT_SAMPLE_GUARD=N, N >= 2)\n");
        return 1;
    }
    int failed = phase("16-byte blocks", 1000 * n, n, sixteen) + phase("17 to 4096 bytes", 1000 * n, n, mixed);
    printf("sample_rate: %s\n", failed ? "FAILED" : "passed");
    return failed;
}
