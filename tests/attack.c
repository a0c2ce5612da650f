/* attack.c — the classic heap attacks and heap bugs, each run in a child against heapkit in its
 * default mode and hardened (HEAPKIT_SECURE=1): an overflow of 40 bytes into a neighbour, a write
 * after free, free-list poisoning (a chosen pointer written into a freed block), a double free
 * into immediate reuse, an overlapping chunk from a partly overwritten link, a use-after-free
 * heap spray, and frees of fake and interior pointers. Each child allocates on until heapkit
 * stops it; it exits 3 if heapkit ever hands out the attacker's pointer (or one block twice), 0
 * if it survives. The parent checks the verdict: SIGABRT and one "heapkit: ..." line naming the
 * block and the likely cause where the mode promises it, never SIGSEGV (a fault inside heapkit).
 * Hardened, a linear overflow off a segment's last block, or back from its first one toward the
 * page records, must fault on a guard page (in the program's own loop, where it belongs); so must
 * an overflow off a huge block (over 128 KiB, a mapping of its own), an underflow toward its
 * header, even in a reused mapping bigger than the block; a huge block read after free, or
 * allocated again (after a shrinking realloc too), holds none of the old bytes. */
#define _GNU_SOURCE
#include "pool_test.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHURN_ROUNDS 20000
#define CHURN_LIVE 128

/* A target an attacker would like malloc to return: a global, where a function pointer might be. */
static _Alignas(64) uint8_t g_target[256];

static void attacker_won(const char *how, const void *p) {
    printf("ATTACK SUCCEEDED: %s (%p)\n", how, p);
    fflush(stdout);
    _exit(3);
}

/* The program goes on allocating and freeing blocks of `size` (as a program would after the bug);
 * a block inside [avoid, avoid + avoid_len) or equal to `target` is the attacker's win. */
static void churn(size_t size, const void *target, const uint8_t *avoid, size_t avoid_len) {
    static void *live[CHURN_LIVE];
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        int slot = i % CHURN_LIVE;
        if (live[slot] != NULL) T_free(live[slot]);
        uint8_t *q = T_malloc(size);
        if (q == NULL) attacker_won("malloc failed", q);
        if (q == target) attacker_won("malloc returned the chosen pointer", q);
        if (avoid != NULL && q + size > avoid && q < avoid + avoid_len) attacker_won("overlapping block", q);
        memset(q, 0x5a, size);
        live[slot] = q;
    }
}

static bool in_list(uint8_t **list, size_t n, const uint8_t *p) {
    for (size_t i = 0; i < n; i++)
        if (list[i] == p) return true;
    return false;
}

/* Hardened: a linear overflow or underflow reaches a guard page. The handler names the page
 * the fault hit, as an offset in its 4 MiB segment, and ends the child with status 4. */
#define SEGMENT_SIZE ((uintptr_t)4 << 20)

static void on_guard_fault(int sig, siginfo_t *info, void *ctx) {
    (void)sig;
    (void)ctx;
    char line[64];
    uintptr_t offset = (uintptr_t)info->si_addr & (SEGMENT_SIZE - 1) & ~(uintptr_t)4095;
    int n = snprintf(line, sizeof line, "GUARD HIT %#lx\n", (unsigned long)offset);
    if (write(1, line, (size_t)n) < 0) _exit(5);
    _exit(4);
}

static void catch_guard_faults(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_guard_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
}

/* Hardened huge blocks: the handler says where the fault hit relative to the block under attack
 * (its first byte g_huge, its usable size g_huge_usable): right after its end, right before its
 * start (the first byte an underflow writes: the header, which shares the block's page unless a
 * guard page separates them, takes the default's underflow without a fault), or elsewhere. */
static uint8_t *volatile g_huge;
static volatile size_t g_huge_usable;

static void on_huge_fault(int sig, siginfo_t *info, void *ctx) {
    (void)sig;
    (void)ctx;
    uintptr_t at = (uintptr_t)info->si_addr, start = (uintptr_t)g_huge, end = start + g_huge_usable;
    const char *where = at == end                          ? "HUGE GUARD HIT AT BLOCK END\n"
                        : at == start - 1                  ? "HUGE GUARD HIT BEFORE BLOCK\n"
                        : at >= start && at < end          ? "HUGE FAULT INSIDE BLOCK\n"
                                                           : "HUGE FAULT ELSEWHERE\n";
    if (write(1, where, strlen(where)) < 0) _exit(5);
    _exit(4);
}

static void catch_huge_faults(uint8_t *block) {
    g_huge = block;
    g_huge_usable = T_usable_size(block);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_huge_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
}

/* Write forward from p, one page at a time after its usable end has been reached byte by byte:
 * a linear overflow that goes on until something stops it. */
static void overflow_forward(uint8_t *p) {
    volatile uint8_t *w = hkt_launder(p);
    size_t usable = T_usable_size(p);
    /* A guard is a page of the block's own mapping: not merely the end of the address space mapped */
    unsigned char resident;
    uintptr_t after = ((uintptr_t)p + usable + 4095) & ~(uintptr_t)4095;
    if (mincore((void *)after, 4096, &resident) != 0) {
        printf("NOTHING MAPPED AFTER THE BLOCK\n");
        fflush(stdout);
        _exit(6);
    }
    for (size_t i = 0; i < usable + ((size_t)64 << 20); i++) w[i] = 0x41;
}

static int child_huge(const char *name) {
    if (strcmp(name, "huge_guard_end") == 0) { /* 300 KiB: a mapping of its own */
        uint8_t *p = T_malloc((size_t)300 * 1024);
        catch_huge_faults(p);
        overflow_forward(p);
        return 0;
    }
    if (strcmp(name, "huge_guard_locked") == 0) { /* in locked memory, where the kernel refuses guard regions */
        if (mlockall(MCL_FUTURE) != 0) {
            printf("MLOCKALL REFUSED (errno %d)\n", errno);
            fflush(stdout);
            _exit(7);
        }
        uint8_t *p = T_malloc((size_t)300 * 1024);
        catch_huge_faults(p);
        overflow_forward(p);
        return 0;
    }
    if (strcmp(name, "huge_guard_front") == 0) { /* backward toward its header (the segment record) */
        uint8_t *p = T_malloc((size_t)300 * 1024);
        catch_huge_faults(p);
        volatile uint8_t *w = hkt_launder(p);
        for (size_t i = 1; i < (size_t)64 * 1024; i++) w[-(ptrdiff_t)i] = 0x41;
        return 0;
    }
    if (strcmp(name, "huge_guard_aligned") == 0) { /* aligned to a page, and to 4 MiB (no front guard there) */
        uint8_t *p = T_aligned_alloc(4096, (size_t)200 * 1024);
        uint8_t *q = T_aligned_alloc((size_t)4 << 20, (size_t)5 << 20);
        if (p == NULL || q == NULL || ((uintptr_t)p & 4095) != 0 || ((uintptr_t)q & (((size_t)4 << 20) - 1)) != 0) return 21;
        T_free(p);
        catch_huge_faults(q);
        overflow_forward(q);
        return 0;
    }
    if (strcmp(name, "huge_guard_realloc") == 0) { /* grown and shrunk by mremap: the guards follow */
        uint8_t *p = T_malloc((size_t)300 * 1024);
        memset(p, 0x33, (size_t)300 * 1024);
        p = T_realloc(p, (size_t)3 << 20);
        if (p == NULL || p[0] != 0x33 || p[(size_t)300 * 1024 - 1] != 0x33) return 22;
        memset(p, 0x44, (size_t)3 << 20);
        p = T_realloc(p, (size_t)600 * 1024);
        if (p == NULL || p[0] != 0x44 || p[(size_t)600 * 1024 - 1] != 0x44) return 23;
        catch_huge_faults(p);
        overflow_forward(p);
        return 0;
    }
    if (strcmp(name, "huge_guard_reused") == 0) { /* in a reused extent bigger than it: the guard right after it */
        uint8_t *big = T_malloc((size_t)3 << 20);
        memset(big, 0x55, (size_t)3 << 20);
        T_free(big);
        uint8_t *p = T_malloc((size_t)2 << 20); /* the 3 MiB extent fits it (less than twice its size) */
        size_t usable = T_usable_size(p);
        printf("HUGE REUSED USABLE %zu KiB\n", usable >> 10); /* its own size to the page, not the extent's */
        fflush(stdout);
        catch_huge_faults(p);
        overflow_forward(p);
        return 0;
    }
    if (strcmp(name, "huge_realloc_shrink_zero") == 0) { /* what a shrink cut off is not handed out again */
        uint8_t *p = T_malloc((size_t)3 << 20);
        memset(p, 0x66, (size_t)3 << 20);
        p = T_realloc(p, (size_t)600 * 1024); /* in place: the new tail guard lies on the old bytes */
        if (p == NULL || p[0] != 0x66) return 22;
        T_free(p);
        for (int round = 0; round < 4; round++) {
            uint8_t *q = T_malloc((size_t)3 << 20);
            for (size_t i = 0; i < (size_t)3 << 20; i++)
                if (q[i] != 0) {
                    printf("STALE byte %zu after a shrinking realloc\n", i);
                    return 4;
                }
            T_free(q);
        }
        printf("HUGE ZERO AFTER SHRINK\n");
        return 0;
    }
    if (strcmp(name, "huge_read_after_free") == 0) { /* zeroed at free: a dangling read finds no old byte */
        uint8_t *p = T_malloc((size_t)400 * 1024);
        memset(p, 0x77, (size_t)400 * 1024);
        uint8_t *sparse = T_malloc((size_t)8 << 20); /* most of its pages never touched */
        sparse[5 * 4096] = 0x77;
        catch_huge_faults(p);
        T_free(p);
        T_free(sparse);
        /* Cached, they are mapped and read as zeros; a mapping given back (the cache full) holds nothing at all. */
        const volatile uint8_t *r = hkt_launder(p), *rs = hkt_launder(sparse);
        unsigned char resident;
        size_t mapped = 0;
        bool readable = false;
        for (size_t i = 0; i < (size_t)400 * 1024; i++) {
            uintptr_t at = (uintptr_t)(r + i);
            if (i == 0 || (at & 4095) == 0) { /* a new page: is it still mapped? (unmapped: nothing to read) */
                readable = mincore((void *)(at & ~(uintptr_t)4095), 4096, &resident) == 0;
                mapped += readable;
            }
            if (readable && r[i] != 0) {
                printf("STALE byte %zu of a freed huge block\n", i);
                return 4;
            }
        }
        uintptr_t sparse_page = (uintptr_t)(rs + 5 * 4096) & ~(uintptr_t)4095, sparse_mid = (uintptr_t)(rs + ((size_t)8 << 19)) & ~(uintptr_t)4095;
        int left = (mincore((void *)sparse_page, 4096, &resident) == 0 ? rs[5 * 4096] : 0) +
                   (mincore((void *)sparse_mid, 4096, &resident) == 0 ? rs[(size_t)8 << 19] : 0);
        printf("HUGE READ ZERO AFTER FREE %d (%zu of 100 pages still mapped)\n", left, mapped);
        return 0;
    }
    if (strcmp(name, "huge_reuse_zero") == 0) { /* a huge block of the same size again: none of the old bytes */
        for (int round = 0; round < 8; round++) {
            uint8_t *p = T_malloc((size_t)500 * 1024);
            for (size_t i = 0; i < (size_t)500 * 1024; i++)
                if (p[i] != 0) {
                    printf("STALE byte %zu of a reused huge block\n", i);
                    return 4;
                }
            memset(p, 0x77, (size_t)500 * 1024);
            T_free(p);
        }
        printf("HUGE ZERO\n");
        return 0;
    }
    if (strcmp(name, "huge_calloc_reuse_zero") == 0) {
        /* calloc of big blocks cut from cached extents of every shape (bigger, smaller, merged
         * with a neighbour): hardened, calloc does not zero them again (the cache holds only
         * memory zeroed at free), so this reads what the free's zeroing left. */
        static const size_t kib[] = {500, 300, 1200, 260, 800, 500, 2048, 140, 640, 1000};
        uint8_t *kept[2] = {NULL, NULL};
        for (int round = 0; round < 40; round++) {
            size_t size = kib[round % 10] * 1024 + (size_t)(round % 3) * 1000;
            uint8_t *p = T_calloc(1, size);
            if (p == NULL) return 3;
            for (size_t i = 0; i < size; i++)
                if (p[i] != 0) {
                    printf("STALE byte %zu of a %zu-byte calloc'd huge block (round %d)\n", i, size, round);
                    return 4;
                }
            memset(p, 0x77, size);
            /* Keep one block of two alive a round longer, so extents split and merge. */
            uint8_t *old = kept[round & 1];
            kept[round & 1] = p;
            if (old != NULL) T_free(old);
        }
        T_free(kept[0]);
        T_free(kept[1]);
        printf("HUGE CALLOC ZERO\n");
        return 0;
    }
    return 99;
}

static int child(const char *name) {
    if (strncmp(name, "huge_", 5) == 0) return child_huge(name);
    if (strcmp(name, "guard_end") == 0) {
        /* An 8 KiB block in the last page of a segment, overflowed forward byte by byte. */
        uint8_t *p = NULL;
        for (int i = 0; i < 2000 && p == NULL; i++) {
            uint8_t *q = T_malloc(8192);
            if (((uintptr_t)q & (SEGMENT_SIZE - 1)) >= SEGMENT_SIZE - 64 * 1024) p = q;
        }
        if (p == NULL) return 20;
        catch_guard_faults();
        volatile uint8_t *w = hkt_launder(p);
        for (size_t i = 0; i < 64 * 1024; i++) w[i] = 0x41;
        return 0;
    }
    if (strcmp(name, "guard_header") == 0) {
        /* The first block of a segment's first page, underflowed backward toward the page records. */
        uint8_t *first = NULL;
        for (int i = 0; i < 300; i++) {
            uint8_t *q = T_malloc(16);
            if (first == NULL || ((uintptr_t)q & (SEGMENT_SIZE - 1)) < ((uintptr_t)first & (SEGMENT_SIZE - 1))) first = q;
        }
        catch_guard_faults();
        volatile uint8_t *w = hkt_launder(first);
        for (size_t i = 1; i < 64 * 1024; i++) w[-(ptrdiff_t)i] = 0x41;
        return 0;
    }
    if (strcmp(name, "overflow40") == 0) {
        /* Write 40 bytes past a 24-byte block (32-byte class) whose neighbour is free, then malloc
         * more. The neighbour is found among carved blocks not handed out (in either mode). */
        enum { N = 16 };
        uint8_t *b[N];
        for (int i = 0; i < N; i++) b[i] = T_malloc(24);
        T_free(b[3]);
        b[3] = NULL;
        uint8_t *victim_owner = NULL;
        for (int i = 0; i < N && victim_owner == NULL; i++) {
            if (b[i] == NULL || in_list(b, N, b[i] + 32)) continue;
            for (int j = 0; j < N; j++)
                if (b[j] != NULL && b[j] > b[i] + 32) victim_owner = b[i];
        }
        if (victim_owner == NULL) return 20;
        pt_addr(victim_owner + 32);
        memset(hkt_launder(victim_owner), 'A', 24 + 40);
        churn(24, (void *)0x4141414141414141ull, NULL, 0);
        return 0;
    }
    if (strcmp(name, "write_after_free") == 0) {
        uint8_t *a = T_malloc(64);
        T_free(a);
        pt_addr(a);
        memset(hkt_launder(a), 'B', 64);
        churn(64, (void *)0x4242424242424242ull, NULL, 0);
        return 0;
    }
    if (strcmp(name, "write_after_free_inside") == 0) {
        /* A write through a dangling pointer that leaves the link word alone: one word inside the
         * first 64 bytes of a 256-byte block, where the quarantine's check on leaving looks. */
        uint8_t *a = T_malloc(256);
        T_free(a);
        pt_addr(a);
        ((uint64_t *)hkt_launder(a))[5] = 0x4343434343434343ull;
        churn(256, NULL, NULL, 0);
        return 0;
    }
    if (strcmp(name, "zeroed_on_free") == 0) {
        /* Hardened: a freed block is zeroed whole at once (its link word aside), in the sizes
         * zeroed by inline stores and those whose tail goes to memset; read through the dangling
         * pointer while the block waits in the quarantine. */
        static const size_t sizes[] = {16, 48, 64, 80, 256, 1024, 8192};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            uint8_t *a = T_malloc(sizes[k]);
            memset(a, 0x77, sizes[k]);
            T_free(a);
            const volatile uint8_t *r = hkt_launder(a);
            for (size_t i = sizeof(void *); i < sizes[k]; i++)
                if (r[i] != 0) {
                    printf("STALE byte %zu of a freed %zu-byte block\n", i, sizes[k]);
                    return 4;
                }
        }
        printf("ZEROED ALL\n");
        return 0;
    }
    if (strcmp(name, "double_free_at_once") == 0) {
        /* The plainest double free: the same block twice in a row (hardened: it is in the quarantine). */
        uint8_t *a = T_malloc(64);
        pt_addr(a);
        T_free(a);
        T_free(hkt_launder(a));
        churn(64, NULL, NULL, 0);
        return 0;
    }
    if (strcmp(name, "poison") == 0) {
        /* tcache/fastbin poisoning: a chosen pointer written over a freed block's link. */
        uint8_t *a = T_malloc(48);
        T_free(a);
        pt_addr(a);
        *(void **)hkt_launder(a) = g_target;
        churn(48, g_target, g_target, sizeof g_target);
        return 0;
    }
    if (strcmp(name, "poison_after_churn") == 0) {
        /* The same, with the block freed among others, so it is deep in a list (or quarantine). */
        uint8_t *keep[40];
        for (int i = 0; i < 40; i++) keep[i] = T_malloc(48);
        for (int i = 0; i < 40; i++) T_free(keep[i]);
        *(void **)hkt_launder(keep[20]) = g_target;
        churn(48, g_target, g_target, sizeof g_target);
        return 0;
    }
    if (strcmp(name, "double_free") == 0) {
        /* The fastbin dup: free a, free b, free a, then three mallocs; two equal ones win. */
        uint8_t *a = T_malloc(32), *b = T_malloc(32);
        pt_addr(a);
        T_free(a);
        T_free(b);
        T_free(hkt_launder(a));
        uint8_t *x = T_malloc(32), *y = T_malloc(32), *z = T_malloc(32);
        if (x == y || y == z || x == z) attacker_won("one block handed out twice", x);
        churn(32, NULL, NULL, 0);
        return 0;
    }
    if (strcmp(name, "overlap") == 0) {
        /* An overlapping chunk: the low byte of a freed block's link flipped by 32, so the list
         * leads into the middle of a block. */
        uint8_t *a = T_malloc(64);
        uint8_t *b = T_malloc(64);
        T_free(b);
        pt_addr(b);
        ((uint8_t *)hkt_launder(b))[0] ^= 0x20;
        for (int i = 0; i < CHURN_ROUNDS; i++) {
            uint8_t *q = T_malloc(64);
            if (((uintptr_t)q & 63) != ((uintptr_t)a & 63)) attacker_won("a block that overlaps two", q);
            if (i % 2) T_free(q);
        }
        return 0;
    }
    if (strcmp(name, "uaf_spray") == 0) {
        /* Many objects freed while pointers to them live on, then sprayed through those pointers. */
        enum { N = 200 };
        uint8_t *p[N];
        for (int i = 0; i < N; i++) p[i] = T_malloc(128);
        for (int i = 0; i < N; i++) T_free(p[i]);
        for (int i = 0; i < N; i++) memset(hkt_launder(p[i]), 0x41, 128);
        churn(128, (void *)0x4141414141414141ull, NULL, 0);
        return 0;
    }
    if (strcmp(name, "realloc_after_free") == 0) {
        /* A dangling pointer handed to realloc: it must not copy from, or free, a free block. */
        uint8_t *a = T_malloc(40);
        T_free(a);
        pt_addr(a);
        void *q = T_realloc(hkt_launder(a), 80);
        if (q != NULL) attacker_won("realloc took a freed block", q);
        churn(40, NULL, NULL, 0);
        return 0;
    }
    if (strcmp(name, "fake_free") == 0) {
        /* House of spirit: free a fake block in the program's data, then hope malloc returns it. */
        T_free(hkt_launder(g_target + 64));
        churn(48, g_target + 64, g_target, sizeof g_target);
        return 0;
    }
    if (strcmp(name, "interior_free") == 0) {
        uint8_t *a = T_malloc(64);
        pt_addr(a + 16);
        T_free(hkt_launder(a + 16));
        churn(64, a + 16, NULL, 0);
        return 0;
    }
    return 99;
}

#define ABORTED SIGABRT
#define SECURE "HEAPKIT_SECURE=1"
#define DEFAULT "HEAPKIT_SECURE=0"

static const pt_case_t k_cases[] = {
    /* The default mode: a corrupt link is found before it is followed. */
    {"overflow40", DEFAULT, {"heap corruption", "free block of 32 bytes", "the block before it"}, NULL, ABORTED, true, false},
    {"write_after_free", DEFAULT, {"heap corruption", "free block of 64 bytes", "written after it was freed"}, NULL, ABORTED, true, false},
    {"poison", DEFAULT, {"heap corruption", "free-list link", "48 bytes"}, NULL, ABORTED, true, false},
    {"poison_after_churn", DEFAULT, {"heap corruption", "free-list link"}, NULL, ABORTED, false, false},
    {"overlap", DEFAULT, {"heap corruption", "free-list link"}, NULL, ABORTED, false, false},
    {"uaf_spray", DEFAULT, {"heap corruption", "128 bytes"}, NULL, ABORTED, false, false},
    /* The default reports a double or invalid free and survives it (HEAPKIT_ON_ERROR=continue),
     * leaving the lists intact: no block is handed out twice. */
    {"double_free", DEFAULT, {"double free"}, NULL, 0, true, false},
    {"realloc_after_free", DEFAULT, {"realloc(", "already free"}, NULL, 0, true, false},
    {"fake_free", DEFAULT, {"not allocated by heapkit"}, NULL, 0, false, false},
    {"interior_free", DEFAULT, {"pointer into the middle", "64-byte block"}, NULL, 0, true, false},
    /* Hardened: every one of them ends the program. */
    {"overflow40", SECURE, {"heap corruption", "32 bytes", "the block before it"}, NULL, ABORTED, true, false},
    {"write_after_free", SECURE, {"heap corruption", "64 bytes", "quarantine"}, NULL, ABORTED, true, false},
    {"poison", SECURE, {"heap corruption", "48 bytes"}, NULL, ABORTED, true, false},
    {"poison_after_churn", SECURE, {"heap corruption"}, NULL, ABORTED, false, false},
    {"overlap", SECURE, {"heap corruption", "64 bytes"}, NULL, ABORTED, true, false},
    {"uaf_spray", SECURE, {"heap corruption", "128 bytes"}, NULL, ABORTED, false, false},
    {"double_free", SECURE, {"double free"}, NULL, ABORTED, true, false},
    {"realloc_after_free", SECURE, {"realloc(", "already free"}, NULL, ABORTED, true, false},
    {"fake_free", SECURE, {"not allocated by heapkit"}, NULL, ABORTED, false, false},
    {"interior_free", SECURE, {"pointer into the middle", "64-byte block"}, NULL, ABORTED, true, false},
    {"write_after_free_inside", SECURE, {"heap corruption", "256 bytes", "quarantine"}, NULL, ABORTED, true, false},
    {"zeroed_on_free", SECURE, {NULL}, "ZEROED ALL", 0, false, false},
    {"double_free_at_once", SECURE, {"double free", "64-byte block", "quarantine"}, NULL, ABORTED, true, false},
    {"double_free_at_once", DEFAULT, {"double free"}, NULL, 0, true, false},
    /* Hardened: guard pages at a segment's end and between its page records and its blocks. */
    {"guard_end", SECURE, {NULL}, "GUARD HIT 0x3ff000", 0, false, true},
    {"guard_header", SECURE, {NULL}, "GUARD HIT 0x3000", 0, false, true},
    /* Hardened: huge blocks have guard pages after their mapping and before the block, and are
     * zeroed when freed (touched pages written, untouched ones dropped): never read back or
     * reused with their old bytes. */
    {"huge_guard_end", SECURE, {NULL}, "HUGE GUARD HIT AT BLOCK END", 0, false, true},
    {"huge_guard_front", SECURE, {NULL}, "HUGE GUARD HIT BEFORE BLOCK", 0, false, true},
    {"huge_guard_aligned", SECURE, {NULL}, "HUGE GUARD HIT AT BLOCK END", 0, false, true},
    {"huge_guard_realloc", SECURE, {NULL}, "HUGE GUARD HIT AT BLOCK END", 0, false, true},
    /* Guard pages are guard regions (MADV_GUARD_INSTALL) where the kernel has them; in memory
     * locked by mlockall it refuses them, and mprotect puts the guard up instead. */
    {"huge_guard_locked", SECURE, {NULL}, "HUGE GUARD HIT AT BLOCK END", 0, false, true},
    {"huge_read_after_free", SECURE, {NULL}, "HUGE READ ZERO AFTER FREE 0 (100 of 100 pages still mapped)", 0, false,
     false},
    {"huge_reuse_zero", SECURE, {NULL}, "HUGE ZERO", 0, false, false},
    {"huge_calloc_reuse_zero", SECURE, {NULL}, "HUGE CALLOC ZERO", 0, false, false},
    /* The block ends at its own last page, guarded, even in a reused mapping bigger than it (its
     * free zeroes only it); a shrinking realloc leaves nothing of the old bytes in the mapping. */
    {"huge_guard_reused", SECURE, {NULL}, "HUGE REUSED USABLE 2048 KiB\nHUGE GUARD HIT AT BLOCK END", 0, false, true},
    {"huge_realloc_shrink_zero", SECURE, {NULL}, "HUGE ZERO AFTER SHRINK", 0, false, false},
    /* With leak tracking on, the report carries the stack of the block that overflowed. */
    {"overflow40", "HEAPKIT_LEAKS=1", {"heap corruption", "32 bytes"}, "allocated by thread 1 at:", ABORTED, true, false},
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("attack", 600);
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        hkt_note("case %s with %s", k_cases[i].name, k_cases[i].env);
        pt_run(&k_cases[i]);
    }
    return hkt_done();
}
