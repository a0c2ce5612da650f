/* unit_numa_topology.c — the NUMA topology parser (src/numa/topology.c) against fake sysfs trees
 * written into a temporary directory: nodes online with gaps, CPU lists with ranges, memory-only
 * nodes, distances, and trees that are missing or malformed. Also HEAPKIT_NUMA's parsing. */
#define _GNU_SOURCE
#include "unit.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static char root[256];

static void put(const char *rel, const char *text) {
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/devices/system/node/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    for (char *s = dir + strlen(root) + 1; *s; s++) /* make every directory on the way */
        if (*s == '/') {
            *s = '\0';
            mkdir(dir, 0755);
            *s = '/';
        }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static void fresh_tree(const char *name) {
    char cmd[600];
    snprintf(root, sizeof root, "%s/%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", root, root);
    if (system(cmd) != 0) exit(2);
}

static void remove_tree(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
}

static hk_numa_topology_t topo; /* 8 KiB of CPUs and 4 KiB of distances: not on the stack */

static void check_lists(void) {
    uint64_t m[2];
    CHECK(hk_numa_parse_list("0-3,8,10-11\n", m, 128) && m[0] == 0xd0f && m[1] == 0, "ranges and singles: %llx",
          (unsigned long long)m[0]);
    CHECK(hk_numa_parse_list("64-65\n", m, 128) && m[0] == 0 && m[1] == 3, "second word: %llx", (unsigned long long)m[1]);
    CHECK(hk_numa_parse_list("\n", m, 64) && m[0] == 0, "an empty list is no CPUs");
    CHECK(hk_numa_parse_list("60-70", m, 64) && m[0] == 0xf000000000000000ull, "bits beyond nbits are dropped");
    const char *bad[] = {"3-1", "a", "1,,2", "1-", "-1", "1 2", "0-3x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!hk_numa_parse_list(bad[i], m, 64), "'%s' is not a list", bad[i]);
}

static void check_two_nodes(void) {
    fresh_tree("hk-numa-two");
    put("online", "0-1\n");
    put("node0/cpulist", "0-3,8-11\n");
    put("node1/cpulist", "4-7,12-15\n");
    put("node0/distance", "10 21\n");
    put("node1/distance", "21 10\n");
    const char *why = "unset";
    CHECK(hk_numa_topology_read(&topo, root, &why), "two nodes: %s", why ? why : "");
    CHECK(topo.node_count == 2 && topo.node_limit == 2 && topo.online == 3 && topo.with_cpus == 3,
          "count %d limit %d online %llx", topo.node_count, topo.node_limit, (unsigned long long)topo.online);
    for (int cpu = 0; cpu < 16; cpu++) {
        int want = (cpu / 4) % 2;
        CHECK(topo.cpu_node[cpu] == want, "cpu %d on node %d, not %d", cpu, topo.cpu_node[cpu], want);
    }
    CHECK(topo.cpu_node[16] == HK_NUMA_ANY, "a CPU no list names has no node");
    CHECK(topo.distance[0][0] == 10 && topo.distance[0][1] == 21 && topo.distance[1][0] == 21 &&
              topo.distance[1][1] == 10,
          "distances %d %d %d %d", topo.distance[0][0], topo.distance[0][1], topo.distance[1][0], topo.distance[1][1]);
    remove_tree();
}

/* Node 1 offline (a gap in the ids), node 3 with memory only: distances are listed per online node. */
static void check_gaps(void) {
    fresh_tree("hk-numa-gaps");
    put("online", "0,2-3\n");
    put("node0/cpulist", "0\n");
    put("node2/cpulist", "1\n");
    put("node3/cpulist", "\n");
    put("node0/distance", "10 20 30\n");
    put("node2/distance", "20 10 30\n");
    put("node3/distance", "30 30 10\n");
    const char *why;
    CHECK(hk_numa_topology_read(&topo, root, &why), "gaps: %s", why ? why : "");
    CHECK(topo.node_count == 3 && topo.node_limit == 4 && topo.online == 0xd && topo.with_cpus == 0x5,
          "count %d limit %d online %llx cpus %llx", topo.node_count, topo.node_limit, (unsigned long long)topo.online,
          (unsigned long long)topo.with_cpus);
    CHECK(topo.cpu_node[0] == 0 && topo.cpu_node[1] == 2, "cpus %d %d", topo.cpu_node[0], topo.cpu_node[1]);
    CHECK(topo.distance[0][2] == 20 && topo.distance[0][3] == 30 && topo.distance[3][3] == 10 && topo.distance[0][1] == 0,
          "distances follow the online ids: %d %d %d %d", topo.distance[0][2], topo.distance[0][3], topo.distance[3][3],
          topo.distance[0][1]);
    remove_tree();
}

/* Missing or unreadable trees: no topology, with a reason; a node whose files are missing is still online. */
static void check_broken(void) {
    const char *why = NULL;
    CHECK(!hk_numa_topology_read(&topo, "/nonexistent-hk-sysfs", &why) && why != NULL, "no tree: no topology");
    fresh_tree("hk-numa-bad");
    put("online", "zero\n");
    CHECK(!hk_numa_topology_read(&topo, root, &why) && why != NULL, "a malformed online list is refused");
    put("online", "\n");
    CHECK(!hk_numa_topology_read(&topo, root, &why), "no node online is no topology");
    put("online", "0-1\n");
    put("node0/cpulist", "0-1\n"); /* node1 has no files at all */
    CHECK(hk_numa_topology_read(&topo, root, &why) && topo.node_count == 2 && topo.with_cpus == 1,
          "node1 without files: count %d cpus %llx", topo.node_count, (unsigned long long)topo.with_cpus);
    put("node1/cpulist", "99999999999\n"); /* nonsense: ignored, not fatal */
    CHECK(hk_numa_topology_read(&topo, root, &why) && topo.with_cpus == 1, "a bad cpulist gives no CPUs");
    remove_tree();
}

/* The online list alone (what process init reads first, and all it reads on a one-node machine):
 * the same mask as the whole read, the same refusals. */
static void check_online_only(void) {
    const char *why = NULL;
    uint64_t online = 1;
    CHECK(!hk_numa_online_read("/nonexistent-hk-sysfs", &online, &why) && why != NULL && online == 0,
          "no tree: no online list");
    fresh_tree("hk-numa-online");
    put("online", "3\n");
    why = NULL;
    CHECK(hk_numa_online_read(root, &online, &why) && online == 8 && why == NULL, "one node, node 3: %llx",
          (unsigned long long)online);
    put("online", "0,2-3\n");
    CHECK(hk_numa_online_read(root, &online, &why) && online == 0xd, "three nodes: %llx", (unsigned long long)online);
    CHECK(hk_numa_topology_read(&topo, root, &why) && topo.online == online, "the whole read agrees");
    put("online", "\n");
    CHECK(!hk_numa_online_read(root, &online, &why) && why != NULL, "no node online is refused");
    remove_tree();
}

/* The machine's own tree, whatever it is: at least one node, every CPU this process may run on
 * has a node. */
static void check_this_machine(void) {
    const char *why;
    if (!hk_numa_topology_read(&topo, "/sys", &why)) {
        fprintf(stderr, "this machine: no NUMA topology in /sys (%s)\n", why);
        return;
    }
    CHECK(topo.node_count >= 1 && (topo.online & 1), "this machine: %d nodes", topo.node_count);
    int cpu = sched_getcpu();
    CHECK(cpu < 0 || cpu >= HK_NUMA_MAX_CPUS || topo.cpu_node[cpu] >= 0, "cpu %d has no node", cpu);
}

static hk_options_t parse(char **env) {
    char **saved = environ;
    environ = env;
    hk_options_t o;
    hk_options_init(&o);
    environ = saved;
    return o;
}

static void check_option(void) {
    CHECK(parse((char *[]){NULL}).numa == HK_NUMA_MODE_LOCAL, "local is the default");
    CHECK(parse((char *[]){"HEAPKIT_NUMA=interleave", NULL}).numa == HK_NUMA_MODE_INTERLEAVE, "interleave");
    CHECK(parse((char *[]){"HEAPKIT_NUMA=off", NULL}).numa == HK_NUMA_MODE_OFF, "off");
    CHECK(parse((char *[]){"HEAPKIT_NUMA=remote", NULL}).numa == HK_NUMA_MODE_LOCAL, "a bad value keeps local");
    hk_options_t o = parse((char *[]){"HEAPKIT_NUMA_FAKE=/some/dir", NULL});
    CHECK(o.numa_fake != NULL && !strcmp(o.numa_fake, "/some/dir"), "HEAPKIT_NUMA_FAKE is a path");
}

int main(void) {
    check_lists();
    check_two_nodes();
    check_gaps();
    check_broken();
    check_online_only();
    check_this_machine();
    check_option();
    return unit_done("unit_numa_topology");
}
