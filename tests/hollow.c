/* hollow.c — free medium blocks give back their inside when their heap carves fresh medium
 * memory (src/core/hollow.c). Blocks of 20 KiB are filled, four in five freed (the fifth keeps
 * their pages in use); then fresh 40 KiB blocks, more bytes than were freed, are carved and
 * written: the inside of the freed 20 KiB blocks must no longer be resident, but for the few at
 * the head of each page's free list. The live 20 KiB blocks must keep every byte, and the freed
 * ones, taken again through malloc and calloc, must hold what is written (calloc's zeros too:
 * a hollowed block carries a mark past its link). */
#define _GNU_SOURCE
#include "hkt.h"

#include <sys/mman.h>
#include <unistd.h>

#define SMALL_SIZE ((size_t)20 * 1024)
#define SMALL_COUNT 100 /* 4 pages of 25 blocks */
#define BIG_SIZE ((size_t)40 * 1024)
#define BIG_COUNT 60 /* 2.4 MiB carved fresh, more than the 1.6 MiB freed */

/* OS pages of the inside of [b, b+size) (past its first page) resident now. */
static size_t inside_resident(const unsigned char *b, size_t size) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b + 16 + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t hi = ((uintptr_t)b + size) & ~(uintptr_t)(ps - 1);
    if (hi <= lo) return 0;
    unsigned char vec[16];
    size_t n = (hi - lo) / ps;
    REQUIRE(n <= sizeof vec);
    REQUIRE(mincore((void *)lo, hi - lo, vec) == 0);
    size_t resident = 0;
    for (size_t i = 0; i < n; i++) resident += vec[i] & 1;
    return resident;
}

int main(void) {
    hkt_begin(T_FAMILY "_hollow", 120);
    static unsigned char *small[SMALL_COUNT], *big[BIG_COUNT];
    for (size_t i = 0; i < SMALL_COUNT; i++) {
        small[i] = T_malloc(SMALL_SIZE);
        REQUIRE(small[i] != NULL);
        memset(small[i], 0x5a, SMALL_SIZE);
    }
    size_t before = 0, freed = 0;
    for (size_t i = 0; i < SMALL_COUNT; i++) {
        if (i % 5 == 0) continue;
        before += inside_resident(small[i], SMALL_SIZE);
        T_free(small[i]);
        freed++;
    }
    for (size_t i = 0; i < BIG_COUNT; i++) {
        big[i] = T_malloc(BIG_SIZE);
        REQUIRE(big[i] != NULL);
        memset(big[i], 0xa5, BIG_SIZE);
    }
    size_t after = 0;
    for (size_t i = 0; i < SMALL_COUNT; i++)
        if (i % 5 != 0) after += inside_resident(small[i], SMALL_SIZE);
    hkt_note("inside pages of %zu freed 20 KiB blocks resident: %zu before the 40 KiB blocks, %zu after", freed, before,
             after);
    CHECKF(before >= freed * 3, "only %zu inside pages of %zu freed blocks were resident to begin with", before, freed);
    /* Four blocks per page stay whole, at most 5 inside pages each. */
    CHECKF(after <= 4 * 4 * 5, "%zu inside pages of the freed blocks still resident (of %zu)", after, before);

    for (size_t i = 0; i < SMALL_COUNT; i += 5) {
        size_t wrong = 0;
        for (size_t k = 0; k < SMALL_SIZE; k++) wrong += small[i][k] != 0x5a;
        CHECKF(wrong == 0, "live block %zu lost %zu of its bytes", i, wrong);
    }
    for (size_t i = 0; i < SMALL_COUNT; i++) {
        if (i % 5 == 0) continue;
        small[i] = i % 2 ? T_calloc(1, SMALL_SIZE) : T_malloc(SMALL_SIZE);
        REQUIRE(small[i] != NULL);
        if (i % 2) {
            size_t nonzero = 0;
            for (size_t k = 0; k < SMALL_SIZE; k++) nonzero += small[i][k] != 0;
            CHECKF(nonzero == 0, "calloc'ed block %zu has %zu bytes that are not zero", i, nonzero);
        }
        memset(small[i], (int)(i & 0xff), SMALL_SIZE);
    }
    for (size_t i = 0; i < SMALL_COUNT; i++) {
        unsigned char want = i % 5 == 0 ? 0x5a : (unsigned char)(i & 0xff);
        size_t wrong = 0;
        for (size_t k = 0; k < SMALL_SIZE; k++) wrong += small[i][k] != want;
        CHECKF(wrong == 0, "block %zu lost %zu of its bytes", i, wrong);
    }
    for (size_t i = 0; i < BIG_COUNT; i++) {
        size_t wrong = 0;
        for (size_t k = 0; k < BIG_SIZE; k++) wrong += big[i][k] != 0xa5;
        CHECKF(wrong == 0, "40 KiB block %zu lost %zu of its bytes", i, wrong);
        T_free(big[i]);
    }
    for (size_t i = 0; i < SMALL_COUNT; i++) T_free(small[i]);
    return hkt_done();
}
