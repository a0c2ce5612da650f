/* realloc_room.c — how much room realloc gives a growing block (src/core/alloc.c,
 * hk_realloc_room): a block past 2 KiB that grows by a small step (a string appended to) moves to a
 * block at least a quarter bigger than asked, so the next steps need no copy; one that grows by a
 * big step (a vector doubling its capacity) gets its size class and no more, since room on top of a
 * doubling is only memory held. Contents are kept either way. Built as api_realloc_room and
 * std_realloc_room (plain: hooks and the sampler see the size asked, with no room). */
#define _GNU_SOURCE
#include "hkt.h"

/* Grow a block of `from` bytes (a class size: a step within it needs no move) to `to`, its contents
 * checked; the bytes usable after. */
static size_t grown(size_t from, size_t to) {
    unsigned char *p = T_malloc(from);
    REQUIRE(p != NULL);
    hkt_fill(p, from, 7);
    p = T_realloc(p, to);
    REQUIRE(p != NULL);
    CHECKF(hkt_verify(p, from, 7) == (size_t)-1, "realloc from %zu to %zu lost contents", from, to);
    size_t usable = T_usable_size(p);
    T_free(p);
    return usable;
}

int main(void) {
    hkt_begin(T_FAMILY "_realloc_room", 60);
    hkt_check_running_on_heapkit();
    if (!hkt_heapkit()->present) return hkt_done(); /* HKT_ANY_MALLOC: another allocator's rules */
    static const size_t small_steps[][2] = {{4096, 4200}, {10240, 10300}, {20480, 20544}, {57344, 58000}};
    for (size_t i = 0; i < sizeof small_steps / sizeof small_steps[0]; i++) {
        size_t from = small_steps[i][0], to = small_steps[i][1], usable = grown(from, to);
        CHECKF(usable >= to + to / 4, "%zu grown by %zu bytes: %zu usable, not a quarter more than asked", from,
               to - from, usable);
    }
    static const size_t doublings[][2] = {{4096, 8192}, {8192, 16384}, {16384, 32768}, {30000, 60000}};
    for (size_t i = 0; i < sizeof doublings / sizeof doublings[0]; i++) {
        size_t from = doublings[i][0], to = doublings[i][1], usable = grown(from, to);
        /* its size class: the classes above 2 KiB are a quarter apart at most */
        CHECKF(usable >= to && usable < to + to / 4, "%zu doubled to %zu: %zu usable, room beyond its class", from,
               to, usable);
    }
    return hkt_done();
}
