/* fit.c — where a medium block goes when the address space is capped (`ulimit -v`: RLIMIT_AS, or
 * RLIMIT_DATA, which anonymous private mappings count against). There every byte reserved counts,
 * touched or not, and a size class's rounding is memory the program cannot have: a 100,000-byte
 * block in its 104,848-byte class (a 512 KiB page split in 5), where glibc's heap gives it
 * 100,016. A block of HK_FIT_OWN_MIN or more then gets a mapping of its own (a huge segment,
 * huge.c) whenever that, its header and the OS page rounding included, takes fewer bytes than its
 * class: 102,400 for the 100,000 bytes, and no page or segment around it left unused at the
 * limit. Without a cap nothing changes: a mapping per block costs system calls and page faults
 * that the pages save. The cap is read once, at the first medium block that could go either way. */
#include "core.h"

#include <sys/resource.h>

enum { HK_FIT_UNKNOWN = 0, HK_FIT_UNCAPPED = 1, HK_FIT_CAPPED = 2 };
static _Atomic int hk_fit_cap_state;

static bool hk_fit_limited(int resource) {
    struct rlimit rl;
    return getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

/* Is the address space capped? Two threads may both ask the kernel the first time: same answer. */
static bool hk_fit_capped(void) {
    int state = atomic_load_explicit(&hk_fit_cap_state, memory_order_relaxed);
    if (hk_unlikely(state == HK_FIT_UNKNOWN)) {
        state = hk_fit_limited(RLIMIT_AS) || hk_fit_limited(RLIMIT_DATA) ? HK_FIT_CAPPED : HK_FIT_UNCAPPED;
        atomic_store_explicit(&hk_fit_cap_state, state, memory_order_relaxed);
    }
    return state == HK_FIT_CAPPED;
}

bool hk_fit_own_mapping(size_t size) {
    if (size < HK_FIT_OWN_MIN || size > HK_MEDIUM_MAX || hk_secure() || !hk_fit_capped()) return false;
    return hk_align_up(size + hk_huge_header_size(), hk_os_page_size()) < hk_bin_size(hk_bin_of(size));
}
