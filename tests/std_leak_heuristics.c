/* std_leak_heuristics.c — hk_leak_set_heuristics() switches memcheck's interior-pointer heuristics
 * one by one: with them on (the default) a block held only by a pointer of its shape is still
 * reachable; with its heuristic off the same block is possibly lost. Run with HEAPKIT_LEAKS=1. */
#include "hkt.h"

#include <dlfcn.h>

static int (*leak_check)(hk_leak_summary_t *);
static unsigned (*set_heuristics)(unsigned);

char *volatile g_string;   /* into a std::string-shaped block */
char *volatile g_newarray; /* into a new[]-shaped block */

static __attribute__((noinline)) void keep_blocks(void) {
    size_t *rep = malloc(3 * sizeof(size_t) + 15 + 1);
    rep[0] = 11;
    rep[1] = 15;
    rep[2] = 0;
    g_string = (char *)(rep + 3);
    size_t *array = malloc(sizeof(size_t) + 3 * 40);
    array[0] = 3;
    g_newarray = (char *)(array + 1);
}

static hk_leak_summary_t check(void) {
    hk_leak_summary_t s;
    memset(&s, 0, sizeof s);
    CHECK(leak_check(&s) == 0);
    return s;
}

int main(void) {
    hkt_begin("std_leak_heuristics", 60);
    hkt_check_running_on_heapkit();
    leak_check = (int (*)(hk_leak_summary_t *))dlsym(RTLD_DEFAULT, "hk_leak_check");
    set_heuristics = (unsigned (*)(unsigned))dlsym(RTLD_DEFAULT, "hk_leak_set_heuristics");
    REQUIRE(leak_check != NULL && set_heuristics != NULL);
    keep_blocks();

    hk_leak_summary_t s = check();
    CHECKF(s.possible.blocks == 0, "heuristics on: %zu blocks possibly lost, expected none", s.possible.blocks);

    CHECK(set_heuristics(HK_LEAK_HEURISTICS_ALL & ~HK_LEAK_HEURISTIC_STDSTRING) == HK_LEAK_HEURISTICS_ALL);
    s = check();
    CHECKF(s.possible.blocks == 1 && s.possible.bytes == 40,
           "stdstring off: %zu blocks / %zu bytes possibly lost, expected the 40-byte string", s.possible.blocks,
           s.possible.bytes);

    CHECK(set_heuristics(0) == (HK_LEAK_HEURISTICS_ALL & ~HK_LEAK_HEURISTIC_STDSTRING));
    s = check();
    CHECKF(s.possible.blocks == 1 && s.possible.bytes == 128,
           "all off: %zu blocks / %zu bytes newly possibly lost, expected the 128-byte array", s.possible.blocks,
           s.possible.bytes);

    errno = 0;
    CHECK(set_heuristics(16) == (unsigned)-1 && errno == EINVAL);
    CHECK(set_heuristics(HK_LEAK_HEURISTICS_ALL) == 0);
    return hkt_done();
}
