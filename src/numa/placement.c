/* placement.c — the NUMA policy in force, the calling thread's node, and the kernel's placement
 * calls (mbind, move_pages, get_mempolicy, made with syscall(2): no libnuma in the library).
 * The process's state is decided once in process init: active only with more than one node and
 * HEAPKIT_NUMA not off, so a one-node machine makes no call here at all. */
#define _GNU_SOURCE
#include "numa.h"

#include <linux/mempolicy.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

hk_internal hk_numa_t hk_numa;

/* Pages per move_pages call: the arrays live on the stack (4 KiB of addresses, 2 KiB of status). */
#define HK_MOVE_BATCH 512

/* The kernel reads maxnode - 1 bits of a node mask (a long-standing off-by-one that libnuma also
 * pays): two words and 65 cover node ids 0 to 63. */
#define HK_MASK_WORDS 2
#define HK_MASK_MAXNODE (HK_NUMA_MAX_NODES + 1)

static long hk_sys_mbind(void *p, size_t size, int mode, const unsigned long *mask, unsigned long maxnode,
                         unsigned flags) {
    return syscall(SYS_mbind, p, size, mode, mask, maxnode, flags);
}

static long hk_sys_get_mempolicy(int *mode, unsigned long *mask, unsigned long maxnode, const void *addr,
                                 unsigned long flags) {
    return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static long hk_sys_move_pages(unsigned long count, void **pages, const int *nodes, int *status, int flags) {
    return syscall(SYS_move_pages, 0, count, pages, nodes, status, flags);
}

static void hk_numa_init(void) {
    const char *fake = hk_state.options.numa_fake;
    const char *why = NULL;
    const char *root = fake != NULL ? fake : hk_sysfs_root;
    uint64_t online = 0;
    /* One node online (most machines): nothing is placed, so the CPU lists and distances are not
     * read; the topology says that node and no more (no CPU is looked up when nothing is placed). */
    if (hk_numa_online_read(root, &online, &why) && (online & (online - 1)) == 0) {
        hk_numa.fake = fake != NULL;
        hk_numa.topo.online = online;
        hk_numa.topo.with_cpus = online;
        hk_numa.topo.node_count = 1;
        hk_numa.topo.node_limit = __builtin_ctzll(online) + 1;
        return;
    }
    if (why != NULL) {
        if (fake != NULL) hk_message("HEAPKIT_NUMA_FAKE=%s: %s; memory is not placed by node", fake, why);
        hk_numa.topo.node_count = 1;
        hk_numa.topo.node_limit = 1;
        hk_numa.topo.online = 1;
        return;
    }
    hk_numa_topology_fill(&hk_numa.topo, root, online);
    hk_numa.fake = fake != NULL;
    if (!hk_numa.fake) {
        int mode = MPOL_DEFAULT;
        if (hk_sys_get_mempolicy(&mode, NULL, 0, NULL, 0) != 0) {
            /* No NUMA calls allowed (a seccomp filter, a kernel built without them): first touch. */
            if (hk_state.options.verbose) hk_message("get_mempolicy failed (errno %d): memory is not placed by node", errno);
            return;
        }
        hk_numa.process_policy = mode != MPOL_DEFAULT;
    }
    hk_numa.placeable = true;
    if (hk_state.options.numa == HK_NUMA_MODE_OFF) return;
    hk_numa.mode = hk_state.options.numa;
    hk_numa.active = true;
}

HK_SUBSYSTEM(numa, HK_SUBSYSTEM_NUMA, .init = hk_numa_init);

static int hk_numa_first_node(void) {
    return hk_numa.topo.online != 0 ? __builtin_ctzll(hk_numa.topo.online) : 0;
}

int hk_numa_current_node(void) {
    if (!hk_numa.placeable) return hk_numa_first_node();
    int cpu = sched_getcpu(); /* the vDSO or rseq's cpu id: no system call on current kernels */
    if (cpu < 0 || cpu >= HK_NUMA_MAX_CPUS || hk_numa.topo.cpu_node[cpu] == HK_NUMA_ANY) return hk_numa_first_node();
    return hk_numa.topo.cpu_node[cpu];
}

int hk_numa_home_node(void) {
    if (!hk_numa.active || hk_numa.mode != HK_NUMA_MODE_LOCAL || hk_numa.process_policy) return HK_NUMA_ANY;
    return hk_numa_current_node();
}

bool hk_numa_place(void *p, size_t size, int node, bool move) {
    if (!hk_numa.placeable || hk_numa.fake) return true;
    unsigned long mask[HK_MASK_WORDS] = {0};
    int mode;
    if (node == HK_NUMA_ANY) {
        if (!hk_numa.active || hk_numa.mode != HK_NUMA_MODE_INTERLEAVE || hk_numa.process_policy) return true;
        mask[0] = (unsigned long)hk_numa.topo.online;
        mode = MPOL_INTERLEAVE;
    } else {
        if (!hk_numa_node_valid(node)) return false;
        mask[0] = 1ul << node;
        mode = MPOL_PREFERRED;
    }
    return hk_sys_mbind(p, size, mode, mask, HK_MASK_MAXNODE, move ? MPOL_MF_MOVE : 0) == 0;
}

hk_rare_path int hk_numa_page_node(const void *p) {
    if (hk_numa.fake) return HK_NUMA_ANY;
    void *page = (void *)((uintptr_t)p & ~(uintptr_t)(getpagesize() - 1));
    int status = -1;
    if (hk_sys_move_pages(1, &page, NULL, &status, 0) != 0 || status < 0) return HK_NUMA_ANY;
    return status;
}

hk_rare_path size_t hk_numa_count_pages(const void *p, size_t size, size_t *by_node) {
    if (hk_numa.fake) return 0;
    size_t ps = (size_t)getpagesize(), counted = 0;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(ps - 1), end = (uintptr_t)p + size;
    void *pages[HK_MOVE_BATCH];
    int status[HK_MOVE_BATCH];
    while (a < end) {
        unsigned long n = 0;
        for (; n < HK_MOVE_BATCH && a < end; n++, a += ps) pages[n] = (void *)a;
        if (hk_sys_move_pages(n, pages, NULL, status, 0) != 0) return counted;
        for (unsigned long i = 0; i < n; i++)
            if (status[i] >= 0 && status[i] < HK_NUMA_MAX_NODES) {
                by_node[status[i]]++;
                counted++;
            }
    }
    return counted;
}

hk_rare_path long hk_numa_move(void *p, size_t size, int node) {
    if (!hk_numa_node_valid(node)) {
        errno = EINVAL;
        return -1;
    }
    if (hk_numa.fake) { /* simulated nodes: there is nowhere to move to */
        errno = ENOTSUP;
        return -1;
    }
    size_t ps = (size_t)getpagesize();
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(ps - 1), end = (uintptr_t)p + size;
    void *pages[HK_MOVE_BATCH];
    int nodes[HK_MOVE_BATCH], status[HK_MOVE_BATCH];
    long on_node = 0;
    while (a < end) {
        unsigned long n = 0;
        for (; n < HK_MOVE_BATCH && a < end; n++, a += ps) {
            pages[n] = (void *)a;
            nodes[n] = node;
        }
        if (hk_sys_move_pages(n, pages, nodes, status, MPOL_MF_MOVE) < 0) return -1;
        for (unsigned long i = 0; i < n; i++) on_node += status[i] == node;
    }
    return on_node;
}
