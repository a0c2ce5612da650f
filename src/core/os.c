/* os.c — the only file that talks to the kernel about memory.
 * Everything comes from anonymous mmap (never brk); free memory goes back with
 * madvise(MADV_DONTNEED), so it reads back as zeros and RSS falls at once. */
#define _GNU_SOURCE
#include "core.h"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* If the kernel did not say (it always does): the page size of x86-64 and of most arm64 systems. */
#define HK_PAGE_SIZE_FALLBACK 4096
/* Pages asked of mincore per call: a 1 KiB vector on the stack, 4 MiB of 4 KiB pages. */
#define HK_MINCORE_BATCH 1024

/* First asked by whichever thread maps first, so two may race to set it: atomic (same value). */
size_t hk_os_page_size(void) {
    static size_t page_size;
    size_t ps = __atomic_load_n(&page_size, __ATOMIC_RELAXED);
    if (hk_unlikely(ps == 0)) {
        ps = (size_t)getauxval(AT_PAGESZ);
        if (ps == 0) ps = HK_PAGE_SIZE_FALLBACK;
        __atomic_store_n(&page_size, ps, __ATOMIC_RELAXED);
    }
    return ps;
}

uint64_t hk_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Every change to the reserved and committed byte counts goes through here; committed's high-water
 * mark is kept for the statistics. */
void hk_os_account(intptr_t reserved, intptr_t committed) {
    atomic_fetch_add_explicit(&hk_state.reserved, (size_t)reserved, memory_order_relaxed);
    size_t now = atomic_fetch_add_explicit(&hk_state.committed, (size_t)committed, memory_order_relaxed) +
                 (size_t)committed;
    size_t peak = atomic_load_explicit(&hk_state.committed_peak, memory_order_relaxed);
    while (committed > 0 && now > peak &&
           !atomic_compare_exchange_weak_explicit(&hk_state.committed_peak, &peak, now, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* Memory the program gets goes through the kernel's commit accounting (no MAP_NORESERVE), so that
 * the kernel can refuse what the machine cannot back and malloc returns NULL instead of memory
 * the program is killed for touching; RLIMIT_AS and RLIMIT_DATA are the kernel's to enforce. The
 * library's own sparse tables (meta.c) are reserved with MAP_NORESERVE: touched a little at a time,
 * and no caller could be told NULL for them anyway. */
static void *hk_os_mmap(void *hint, size_t size, int extra_flags, int prot) {
    void *p = mmap(hint, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Address space only: neither committed nor counted against the commit limit (PROT_NONE). */
static void *hk_os_reserve(size_t size) {
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The lowest address an aligned mapping was placed at: with top-down placement, the free address
 * space just below it is where a tight mapping still finds an aligned spot. */
static _Atomic uintptr_t hk_os_lowest;

/* Exactly [at, at+size), or NULL. */
static uint8_t *hk_os_mmap_at(uintptr_t at, size_t size, int extra_flags, int prot) {
    uint8_t *p = hk_os_mmap((void *)at, size, MAP_FIXED_NOREPLACE | extra_flags, prot);
    if (p != NULL && (uintptr_t)p != at) { /* an old kernel that took the address as a hint */
        munmap(p, size);
        p = NULL;
    }
    return p;
}

/* Under a tight RLIMIT_AS the over-mapping below can fail where size alone would fit: map size
 * alone, and if it is not aligned, try the aligned address just below it (with top-down
 * placement the gap usually goes on there), then the one below everything mapped so far (the
 * gaps between aligned mappings are too short for another). */
static uint8_t *hk_os_map_aligned_tight(size_t size, size_t align, int extra_flags, int prot) {
    uint8_t *p = hk_os_mmap(NULL, size, extra_flags, prot);
    if (p == NULL || ((uintptr_t)p & (align - 1)) == 0) return p;
    uintptr_t below = (uintptr_t)p & ~(uintptr_t)(align - 1);
    munmap(p, size);
    p = hk_os_mmap_at(below, size, extra_flags, prot);
    uintptr_t lowest = atomic_load_explicit(&hk_os_lowest, memory_order_relaxed);
    if (p == NULL && lowest > size + align)
        p = hk_os_mmap_at((lowest - size) & ~(uintptr_t)(align - 1), size, extra_flags, prot);
    return p;
}

/* Map size bytes aligned to align (a power of two >= the page size) by over-mapping and
 * trimming the ends; *mapped receives the size mapped (size rounded up to pages). */
static void *hk_os_map_aligned_prot(size_t size, size_t align, size_t *mapped, int extra_flags, int prot);

void *hk_os_map_aligned(size_t size, size_t align, size_t *mapped) {
    return hk_os_map_aligned_prot(size, align, mapped, 0, PROT_READ | PROT_WRITE);
}

/* The same, with extra mmap flags (meta.c's MAP_NORESERVE) and the protection (PROT_NONE: a
 * reservation, counted as reserved but not committed). */
static void *hk_os_map_aligned_prot(size_t size, size_t align, size_t *mapped, int extra_flags, int prot) {
    int saved_errno = errno; /* a refused hint (EEXIST) is not the caller's business */
    size_t ps = hk_os_page_size();
    if (align < ps) align = ps;
    size = hk_align_up(size, ps);
    if (size == 0 || size + align < size) return NULL;
    /* First try the address right after our last mapping: it is usually aligned already and
     * keeps the number of separate mappings low. */
    static _Atomic uintptr_t next_hint;
    uintptr_t hint = atomic_load_explicit(&next_hint, memory_order_relaxed);
    uint8_t *p = NULL;
    if (hint != 0 && (hint & (align - 1)) == 0) {
        p = hk_os_mmap((void *)hint, size, MAP_FIXED_NOREPLACE | extra_flags, prot);
        if (p != NULL && ((uintptr_t)p & (align - 1)) != 0) {
            munmap(p, size);
            p = NULL;
        }
    }
    if (p == NULL) {
        uint8_t *raw = hk_os_mmap(NULL, size + align, extra_flags, prot);
        if (raw != NULL) {
            p = (uint8_t *)hk_align_up((uintptr_t)raw, align);
            size_t head = (size_t)(p - raw), tail = align - head;
            if (head) munmap(raw, head);
            if (tail) munmap(p + size, tail);
        } else if (errno == ENOMEM) {
            p = hk_os_map_aligned_tight(size, align, extra_flags, prot);
        }
        if (p == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    atomic_store_explicit(&next_hint, (uintptr_t)p + hk_align_up(size, align), memory_order_relaxed);
    uintptr_t lowest = atomic_load_explicit(&hk_os_lowest, memory_order_relaxed);
    if (lowest == 0 || (uintptr_t)p < lowest) atomic_store_explicit(&hk_os_lowest, (uintptr_t)p, memory_order_relaxed);
    hk_os_account((intptr_t)size, prot == PROT_NONE ? 0 : (intptr_t)size);
    *mapped = size;
    errno = saved_errno;
    return p;
}

/* Address space only, aligned: PROT_NONE, so neither touched nor charged to the kernel's commit
 * accounting until hk_os_commit opens a part of it (segment.c commits a segment's pages as they
 * are first handed out). Still counted by RLIMIT_AS, like any mapping. */
void *hk_os_reserve_aligned(size_t size, size_t align, size_t *mapped) {
    return hk_os_map_aligned_prot(size, align, mapped, 0, PROT_NONE);
}

void *hk_os_map_aligned_flags(size_t size, size_t align, size_t *mapped, int extra_flags) {
    return hk_os_map_aligned_prot(size, align, mapped, extra_flags, PROT_READ | PROT_WRITE);
}

/* Open [p, p+size) of a reservation for reading and writing (the kernel charges it to the commit
 * limit now, and may refuse: false, errno ENOMEM). */
bool hk_os_commit(void *p, size_t size) {
    if (size == 0) return true;
    if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0) {
        errno = ENOMEM;
        return false;
    }
    hk_os_account(0, (intptr_t)size);
    return true;
}

void hk_os_unmap(void *p, size_t size) {
    if (p == NULL || size == 0) return;
    if (munmap(p, size) != 0) hk_error("munmap(%p, %zu) failed: %m", p, size);
    hk_os_account(-(intptr_t)size, -(intptr_t)size);
}

/* Give the pages of [p, p+size) back; the caller accounts them as committed again with
 * hk_os_recommit when it reuses them. */
void hk_os_purge(void *p, size_t size) {
    size_t ps = hk_os_page_size();
    uintptr_t start = hk_align_up((uintptr_t)p, ps);
    uintptr_t end = ((uintptr_t)p + size) & ~(uintptr_t)(ps - 1);
    if (end <= start) return;
    if (madvise((void *)start, end - start, MADV_DONTNEED) == 0) hk_os_account(0, -(intptr_t)(end - start));
}

/* Inside free blocks of a page in use: the page stays committed in the accounting (its blocks are
 * handed out again with no recommit), so unlike hk_os_purge nothing is counted. */
void hk_os_hollow(void *p, size_t size) { (void)madvise(p, size, MADV_DONTNEED); }

void hk_os_recommit(size_t size) { hk_os_account(0, (intptr_t)size); }

/* Ask for transparent huge pages in [p, p+size) (huge), or ask for none again. The kernel backs
 * the range with 2 MiB pages where it can: at the first touch of a whole untouched 2 MiB stretch,
 * and by khugepaged's collapse in the background for stretches already touched. False if the
 * kernel has no THP or refused. */
bool hk_os_advise_huge(void *p, size_t size, bool huge) {
    return madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0;
}

/* Have the kernel back [p, p+size) with huge pages now, copying what is there (MADV_COLLAPSE,
 * Linux 6.1): it may compact memory first, so only the background purger calls it. False where
 * the kernel cannot (older kernels, no THP, no 2 MiB of contiguous memory to be had). */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
bool hk_os_collapse_huge(void *p, size_t size) { return madvise(p, size, MADV_COLLAPSE) == 0; }

/* Make whole pages inaccessible (the hardened mode's guard pages): a linear overflow or underflow
 * that reaches them faults at the first byte instead of running on into the next segment or the
 * metadata. They stay counted as committed (a page each per segment), so that unmapping the
 * segment later subtracts what was added. False if the kernel refused.
 * Where the kernel has them (Linux 6.13), guard regions (MADV_GUARD_INSTALL): markers in the page
 * table, so the mapping is not cut in three as mprotect cuts it and joined again when the guard
 * comes down; a big block's guards go up at each placement and down at each free, and on `large`
 * the mprotect calls and their cuts were half of the hardened mode's system time
 * (bench/RESULTS.md, "Hardened mode: each protection's cost"). An EINVAL before any region was
 * put up (an older kernel) turns them off for the process; any other refusal falls back to
 * mprotect for that guard. A guard comes down by each means that put one up in this process. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
static int hk_os_guard_regions_off; /* the kernel has none */
static int hk_os_guard_regions_used; /* some guard is a guard region */
static int hk_os_guard_protected;    /* some guard was put up with mprotect */

hk_rare_path bool hk_os_guard(void *p, size_t size) {
    if (!__atomic_load_n(&hk_os_guard_regions_off, __ATOMIC_RELAXED)) {
        if (madvise(p, size, MADV_GUARD_INSTALL) == 0) {
            __atomic_store_n(&hk_os_guard_regions_used, 1, __ATOMIC_RELAXED);
            return true;
        }
        if (errno == EINVAL && !__atomic_load_n(&hk_os_guard_regions_used, __ATOMIC_RELAXED))
            __atomic_store_n(&hk_os_guard_regions_off, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&hk_os_guard_protected, 1, __ATOMIC_RELAXED);
    return mprotect(p, size, PROT_NONE) == 0;
}

/* Make a guard page ordinary memory again (before a huge block's mapping is resized, or goes back
 * to the cache of mappings). A guard region's page reads back as zeros afterwards. */
hk_rare_path bool hk_os_unguard(void *p, size_t size) {
    bool ok = true;
    if (__atomic_load_n(&hk_os_guard_regions_used, __ATOMIC_RELAXED)) ok = madvise(p, size, MADV_GUARD_REMOVE) == 0;
    if (__atomic_load_n(&hk_os_guard_protected, __ATOMIC_RELAXED))
        ok = mprotect(p, size, PROT_READ | PROT_WRITE) == 0 && ok;
    return ok;
}

/* Grow or shrink a mapping without moving it. */
bool hk_os_resize_in_place(void *p, size_t old_size, size_t new_size) {
    size_t ps = hk_os_page_size();
    old_size = hk_align_up(old_size, ps);
    new_size = hk_align_up(new_size, ps);
    if (new_size == old_size) return true;
    if (mremap(p, old_size, new_size, 0) == MAP_FAILED) return false;
    hk_os_account((intptr_t)new_size - (intptr_t)old_size, (intptr_t)new_size - (intptr_t)old_size);
    return true;
}

/* Move a mapping to a new place aligned to align, letting the kernel move the page tables
 * instead of copying bytes. Returns the new base or NULL. */
void *hk_os_remap_aligned(void *old, size_t old_size, size_t new_size, size_t align) {
    size_t ps = hk_os_page_size();
    old_size = hk_align_up(old_size, ps);
    new_size = hk_align_up(new_size, ps);
    if (new_size + align < new_size) return NULL;
    /* Only a place to move to: mremap commits what the mapping grows by (and may refuse it). */
    uint8_t *raw = hk_os_reserve(new_size + align);
    if (raw == NULL) return NULL;
    uint8_t *target = (uint8_t *)hk_align_up((uintptr_t)raw, align);
    void *moved = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (moved == MAP_FAILED) {
        munmap(raw, new_size + align);
        return NULL;
    }
    /* mremap replaced [target, target+new_size); drop the rest of the reservation. */
    if (target > raw) munmap(raw, (size_t)(target - raw));
    uint8_t *end = raw + new_size + align;
    if (target + new_size < end) munmap(target + new_size, (size_t)(end - (target + new_size)));
    hk_os_account((intptr_t)new_size - (intptr_t)old_size, (intptr_t)new_size - (intptr_t)old_size);
    return target;
}

/* Zero the whole pages of [p, p+size) without making them resident: resident pages are written
 * (they stay committed, as a cache of mappings wants them), the others (never touched, or
 * swapped out) are dropped, so they read back as zeros. The hardened mode's scrub of a freed big
 * block: a sparse block costs no more than the pages the program touched. */
void hk_os_zero_pages(void *p, size_t size) {
    size_t ps = hk_os_page_size();
    unsigned char vec[HK_MINCORE_BATCH];
    uintptr_t start = hk_align_up((uintptr_t)p, ps);
    uintptr_t end = ((uintptr_t)p + size) & ~(uintptr_t)(ps - 1);
    while (start < end) {
        size_t pages = (end - start) / ps;
        if (pages > sizeof vec) pages = sizeof vec;
        if (mincore((void *)start, pages * ps, vec) != 0) memset(vec, 1, pages); /* cannot tell: write them all */
        for (size_t i = 0; i < pages;) {
            size_t run = i;
            bool resident = vec[i] & 1;
            while (run < pages && (bool)(vec[run] & 1) == resident) run++;
            uint8_t *at = (uint8_t *)start + i * ps;
            size_t bytes = (run - i) * ps;
            if (resident || madvise(at, bytes, MADV_DONTNEED) != 0) hk_scrub_pages(at, bytes, ps);
            i = run;
        }
        start += pages * ps;
    }
}

/* Bytes of [p, p+size) resident in RAM, asked of the kernel page by page (slow; stats only). */
size_t hk_os_resident(const void *p, size_t size) {
    size_t ps = hk_os_page_size();
    unsigned char vec[HK_MINCORE_BATCH];
    size_t resident = 0;
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(ps - 1);
    uintptr_t end = hk_align_up((uintptr_t)p + size, ps);
    while (start < end) {
        size_t pages = (end - start) / ps;
        if (pages > sizeof vec) pages = sizeof vec;
        if (mincore((void *)start, pages * ps, vec) != 0) return resident;
        for (size_t i = 0; i < pages; i++) resident += (vec[i] & 1) ? ps : 0;
        start += pages * ps;
    }
    return resident;
}
