/* topology.c — the machine's NUMA nodes, their CPUs and distances, read from sysfs:
 * /sys/devices/system/node/online ("0-1"), nodeN/cpulist ("0-3,8-11"), nodeN/distance ("10 21").
 * The root is a parameter so that tests can hand it a fake tree (and HEAPKIT_NUMA_FAKE can run a
 * program on a simulated machine). Runs in process init: files are read into stack buffers, never
 * allocating, and no libnuma is needed. */
#define _GNU_SOURCE
#include "numa.h"

#include <fcntl.h>
#include <unistd.h>

/* The kernel writes CPU lists as ranges ("0-63,128-191"), a few dozen bytes; a list longer than
 * this is read as far as it goes. */
#define HK_SYSFS_TEXT 2048
#define HK_SYSFS_PATH 512

/* The names every process reads (hk_plain_const, base.h): its start reads the online list. */
static const char hk_sysfs_nodes[] hk_plain_const = "/devices/system/node/";
static const char hk_sysfs_node[] hk_plain_const = "node";
hk_internal const char hk_sysfs_root[] hk_plain_const = "/sys";
static const char hk_sysfs_online[] hk_plain_const = "online";
static const char hk_sysfs_cpulist[] hk_plain_const = "cpulist";
static const char hk_sysfs_distance[] hk_plain_const = "distance";

/* Append s to the path at *len; false if it does not fit. */
static bool hk_sysfs_append(char *path, size_t *len, const char *s) {
    size_t n = strlen(s);
    if (*len + n >= HK_SYSFS_PATH) return false;
    memcpy(path + *len, s, n + 1);
    *len += n;
    return true;
}

/* The file's text, NUL-terminated, or false if it cannot be read. The path is put together by
 * hand: the formatter's tables are in .rodata, which a plain process never reads. */
static bool hk_sysfs_read(const char *root, const char *rel, int node, char *out, size_t cap) {
    char path[HK_SYSFS_PATH], number[12];
    size_t at_path = 0;
    if (!hk_sysfs_append(path, &at_path, root) || !hk_sysfs_append(path, &at_path, hk_sysfs_nodes)) return false;
    if (node >= 0) {
        size_t at = sizeof number;
        number[--at] = '\0';
        number[--at] = '/';
        unsigned v = (unsigned)node;
        do number[--at] = (char)('0' + v % 10); while ((v /= 10) != 0);
        if (!hk_sysfs_append(path, &at_path, hk_sysfs_node) || !hk_sysfs_append(path, &at_path, number + at)) return false;
    }
    if (!hk_sysfs_append(path, &at_path, rel)) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = read(fd, out + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (len == cap - 1) /* cut short: drop the last element, which may be a number cut in two */
        while (len > 0 && out[len - 1] != ',') len--;
    if (len > 0 && out[len - 1] == ',') len--;
    out[len] = '\0';
    return true;
}

static bool hk_is_digit(char c) { return c >= '0' && c <= '9'; }

/* A decimal number at *s, advancing *s; false if there is none or it is absurdly big. */
static bool hk_parse_uint(const char **s, unsigned long *out) {
    const char *p = *s;
    if (!hk_is_digit(*p)) return false;
    unsigned long v = 0;
    while (hk_is_digit(*p)) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > (1ul << 30)) return false;
        p++;
    }
    *s = p;
    *out = v;
    return true;
}

bool hk_numa_parse_list(const char *s, uint64_t *mask, size_t nbits) {
    size_t words = (nbits + 63) / 64;
    for (size_t i = 0; i < words; i++) mask[i] = 0;
    const char *p = s;
    while (*p == ' ') p++;
    if (*p == '\n' || *p == '\0') return true; /* an empty list: a node with no CPUs */
    for (;;) {
        unsigned long lo, hi;
        if (!hk_parse_uint(&p, &lo)) return false;
        hi = lo;
        if (*p == '-') {
            p++;
            if (!hk_parse_uint(&p, &hi) || hi < lo) return false;
        }
        for (unsigned long i = lo; i <= hi && i < nbits; i++) mask[i / 64] |= 1ull << (i % 64);
        if (*p == ',') {
            p++;
            continue;
        }
        while (*p == ' ' || *p == '\n') p++;
        return *p == '\0';
    }
}

/* The distances of node from a line "10 21 21": the i-th number is to the i-th online node. */
static void hk_parse_distances(hk_numa_topology_t *t, int node, const char *s) {
    int to = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        unsigned long d;
        if (!hk_parse_uint(&p, &d)) break;
        while (to < HK_NUMA_MAX_NODES && !((t->online >> to) & 1)) to++;
        if (to >= HK_NUMA_MAX_NODES) break;
        t->distance[node][to++] = (uint8_t)(d > 255 ? 255 : d);
    }
}

/* process init runs once, on one thread: not on the stack */
static char hk_sysfs_text[HK_SYSFS_TEXT];

bool hk_numa_online_read(const char *root, uint64_t *online, const char **why) {
    *online = 0;
    if (!hk_sysfs_read(root, hk_sysfs_online, -1, hk_sysfs_text, sizeof hk_sysfs_text)) {
        *why = "no list of online nodes (a kernel without NUMA)";
        return false;
    }
    if (!hk_numa_parse_list(hk_sysfs_text, online, HK_NUMA_MAX_NODES) || *online == 0) {
        *why = "the list of online nodes cannot be read";
        return false;
    }
    return true;
}

void hk_numa_topology_fill(hk_numa_topology_t *t, const char *root, uint64_t online) {
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < HK_NUMA_MAX_CPUS; i++) t->cpu_node[i] = HK_NUMA_ANY;
    t->online = online;
    for (int node = 0; node < HK_NUMA_MAX_NODES; node++) {
        if (!((online >> node) & 1)) continue;
        t->node_count++;
        t->node_limit = node + 1;
        uint64_t cpus[HK_NUMA_MAX_CPUS / 64];
        if (hk_sysfs_read(root, hk_sysfs_cpulist, node, hk_sysfs_text, sizeof hk_sysfs_text) &&
            hk_numa_parse_list(hk_sysfs_text, cpus, HK_NUMA_MAX_CPUS)) {
            for (size_t cpu = 0; cpu < HK_NUMA_MAX_CPUS; cpu++)
                if ((cpus[cpu / 64] >> (cpu % 64)) & 1) {
                    t->cpu_node[cpu] = (int16_t)node;
                    t->with_cpus |= 1ull << node;
                }
        }
        if (hk_sysfs_read(root, hk_sysfs_distance, node, hk_sysfs_text, sizeof hk_sysfs_text))
            hk_parse_distances(t, node, hk_sysfs_text);
    }
}

bool hk_numa_topology_read(hk_numa_topology_t *t, const char *root, const char **why) {
    uint64_t online = 0;
    bool ok = hk_numa_online_read(root, &online, why);
    hk_numa_topology_fill(t, root, ok ? online : 0); /* no node: an empty topology */
    if (ok) *why = NULL;
    return ok;
}
