/* std_kept_tail.c — an empty page that its heap keeps (the last page of its size class) gives its
 * memory back while its thread sleeps. The thread fills one small and one medium page, frees every
 * block and sleeps: the purger, once the program is idle, must give back all of each page but the
 * first carving (its owner never runs its own pass while asleep). Then the same blocks are taken
 * again, through malloc and calloc, and must hold what is written into them (and calloc's zeros):
 * the owner took the page's tail back before carving there. */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 50
#define POLL_MAX 200 /* 10 s at most: the purge delay is 50 ms, going idle takes at most two */

/* OS pages of [lo, hi) resident now. */
static size_t resident_pages(uintptr_t lo, uintptr_t hi) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    lo &= ~(uintptr_t)(ps - 1);
    size_t n = (hi - lo + ps - 1) / ps;
    unsigned char vec[1024];
    REQUIRE(n <= sizeof vec);
    REQUIRE(mincore((void *)lo, n * ps, vec) == 0);
    size_t resident = 0;
    for (size_t i = 0; i < n; i++) resident += vec[i] & 1;
    return resident;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

typedef struct {
    const char *name;
    size_t size, count; /* count blocks of size fill most of one page of their class */
    size_t kept_max;    /* OS pages the first carving may keep resident */
} shape_t;

static void check_shape(const shape_t *s) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char **b = malloc(s->count * sizeof *b); /* in another class: its page stays busy */
    REQUIRE(b != NULL);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (size_t i = 0; i < s->count; i++) {
        b[i] = T_malloc(s->size);
        REQUIRE(b[i] != NULL);
        memset(b[i], 0x5a, s->size);
        if ((uintptr_t)b[i] < lo) lo = (uintptr_t)b[i];
        if ((uintptr_t)b[i] + s->size > hi) hi = (uintptr_t)b[i] + s->size;
    }
    size_t full = resident_pages(lo, hi);
    CHECKF(full * ps >= s->count * s->size, "%s: %zu pages resident while %zu blocks of %zu bytes are live", s->name,
           full, s->count, s->size);
    for (size_t i = 0; i < s->count; i++) T_free(b[i]);
    /* This thread now sleeps: only the purger can give the page back. */
    size_t now = full;
    for (int i = 0; i < POLL_MAX && (now = resident_pages(lo, hi)) > s->kept_max; i++) sleep_ms(POLL_MS);
    CHECKF(now <= s->kept_max, "%s: %zu of %zu pages still resident %d ms after every block was freed (at most %zu)",
           s->name, now, full, POLL_MS * POLL_MAX, s->kept_max);
    hkt_note("%s: %zu pages resident with the blocks live, %zu after the frees and a sleep", s->name, full, now);

    /* The page carves again, into memory that may have been given back. */
    for (size_t i = 0; i < s->count; i++) {
        b[i] = i % 2 ? T_calloc(1, s->size) : T_malloc(s->size);
        REQUIRE(b[i] != NULL);
        if (i % 2) {
            size_t nonzero = 0;
            for (size_t k = 0; k < s->size; k++) nonzero += b[i][k] != 0;
            CHECKF(nonzero == 0, "%s: calloc'ed block %zu has %zu bytes that are not zero", s->name, i, nonzero);
        }
        memset(b[i], (int)(i & 0xff), s->size);
    }
    for (size_t i = 0; i < s->count; i++) {
        size_t wrong = 0;
        for (size_t k = 0; k < s->size; k++) wrong += b[i][k] != (unsigned char)(i & 0xff);
        CHECKF(wrong == 0, "%s: block %zu lost %zu of its bytes", s->name, i, wrong);
    }
    for (size_t i = 0; i < s->count; i++) T_free(b[i]);
    free(b);
}

int main(void) {
    hkt_begin("std_kept_tail", 120);
    /* 224-byte blocks: 64 KiB pages, one carving is 4 KiB (18 blocks), so at most 2 OS pages;
     * 20 KiB blocks: 512 KiB pages, one carving is one block, at most 6 OS pages. */
    static const shape_t shapes[] = {
        {"small (224 B)", 224, 250, 2},
        {"medium (20 KiB)", 20480, 20, 6},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i]);
    return hkt_done();
}
