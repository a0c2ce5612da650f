/* numa.h — the machine's NUMA nodes and the kernel's placement calls: the layer between the base
 * and the core (docs/architecture.md). The topology is read once from /sys (topology.c); the
 * policy, the calling thread's node and the raw mbind/move_pages/get_mempolicy calls are in
 * placement.c. The core asks here where a segment goes and tags it; nothing here knows a segment.
 * On a machine with one node (or HEAPKIT_NUMA=off) hk_numa.active is false and the core makes
 * none of these calls. */
#ifndef HK_NUMA_H
#define HK_NUMA_H

#include "base.h"

/* Node ids fit a 64-bit mask: the kernel's masks are longer, but the machines the library meets
 * have a few nodes, and a bigger id is simply not placed (treated as no node). */
#define HK_NUMA_MAX_NODES 64
/* CPUs the topology maps to nodes; a CPU beyond it counts as on node 0. */
#define HK_NUMA_MAX_CPUS 4096
/* "No node": memory nobody placed (interleaved, or NUMA off), or a node the library cannot name. */
#define HK_NUMA_ANY (-1)

typedef struct hk_numa_topology_s {
    int node_count;           /* nodes online */
    int node_limit;           /* highest online node id + 1 */
    uint64_t online;          /* bit n: node n is online */
    uint64_t with_cpus;       /* bit n: node n has CPUs (a memory-only node has none) */
    int16_t cpu_node[HK_NUMA_MAX_CPUS]; /* the node of each CPU, HK_NUMA_ANY if none said */
    uint8_t distance[HK_NUMA_MAX_NODES][HK_NUMA_MAX_NODES]; /* the kernel's relative distances (10 = local) */
} hk_numa_topology_t;

/* topology.c: read the nodes below root ("/sys", or a fake tree laid out the same way: root +
 * /devices/system/node/{online,nodeN/cpulist,nodeN/distance}). false with why set to a short
 * reason when there is no usable topology (no such files: a kernel without NUMA). Never
 * allocates. */
hk_internal bool hk_numa_topology_read(hk_numa_topology_t *t, const char *root, const char **why);
/* hk_numa_topology_read's work once the online nodes are known (process init reads them first). */
hk_internal void hk_numa_topology_fill(hk_numa_topology_t *t, const char *root, uint64_t online);
/* Only the list of online nodes (bits of *online), with the same failures: enough to know that a
 * machine has one node, for which process init reads nothing more (the whole topology is 12 KiB
 * to fill and four files to open in every process). */
hk_internal bool hk_numa_online_read(const char *root, uint64_t *online, const char **why);
extern hk_internal const char hk_sysfs_root[]; /* "/sys", in relro (hk_plain_const) */
/* Parse a kernel list like "0-3,8,10-11\n" into bits of mask (bits >= nbits ignored); false if
 * it is not one. */
hk_internal bool hk_numa_parse_list(const char *s, uint64_t *mask, size_t nbits);

/* The process's NUMA state, set once in process init (placement.c). */
typedef struct hk_numa_s {
    bool placeable;      /* more than one node, and the kernel's calls work (or fake): explicit
                            placement (hk_malloc_node, hk_migrate) works even with HEAPKIT_NUMA=off */
    bool active;         /* placeable and HEAPKIT_NUMA is not off: the core places memory itself */
    bool fake;           /* the topology came from HEAPKIT_NUMA_FAKE: no kernel calls, nodes are tags */
    bool process_policy; /* the process has a memory policy of its own (numactl, set_mempolicy):
                            the library leaves default memory to it */
    int mode;            /* HK_NUMA_MODE_* in force (OFF when not active) */
    hk_numa_topology_t topo;
} hk_numa_t;
extern hk_internal hk_numa_t hk_numa;

static inline bool hk_numa_active(void) { return hk_numa.active; }
static inline bool hk_numa_node_valid(int node) {
    return node >= 0 && node < HK_NUMA_MAX_NODES && ((hk_numa.topo.online >> node) & 1);
}

/* The node HK_ON_NODE(n) names in a pool's or arena's flags (heapkit.h), HK_NUMA_ANY without it. */
static inline int hk_flags_node(unsigned flags) {
    return (flags & 0x10000u) ? (int)((flags >> 17) & 0x3fu) : HK_NUMA_ANY;
}

/* The node of the CPU the calling thread runs on now (0 with a single node). */
hk_internal int hk_numa_current_node(void);
/* The node a thread heap draws its segments from: the current node under the local policy,
 * HK_NUMA_ANY when memory is not placed by node (interleave, the process's own policy, off). */
hk_internal int hk_numa_home_node(void);
/* Ask the kernel to put [p, p+size) (page aligned) on node, before it is touched: preferred, so a
 * full node falls back to another instead of failing. move: also move pages already there.
 * node HK_NUMA_ANY under the interleave policy interleaves it. Nothing when fake or not placeable. */
hk_internal bool hk_numa_place(void *p, size_t size, int node, bool move);
/* The node of the page holding p; HK_NUMA_ANY if it is not in RAM (or no kernel to ask). */
hk_internal int hk_numa_page_node(const void *p);
/* Count the pages of [p, p+size) in RAM by the node they are on: by_node[n] += pages.
 * Returns the pages counted. */
hk_internal size_t hk_numa_count_pages(const void *p, size_t size, size_t *by_node);
/* Move the pages of [p, p+size) that are in RAM to node: how many of them are on node
 * afterwards, or -1 with errno (ENOTSUP for a simulated topology, EINVAL for a bad node). */
hk_internal long hk_numa_move(void *p, size_t size, int node);

#endif /* HK_NUMA_H */
