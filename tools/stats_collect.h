/* stats_collect.h — the statistics reports a `heapkit run --stats` left (stats_collect.c). */
#ifndef HK_TOOLS_STATS_COLLECT_H
#define HK_TOOLS_STATS_COLLECT_H

#include <stdio.h>

/* Copies every statistics report (stats.PID.N.txt) the processes of the run wrote in `dir` to
 * `out`, in the order they were written (the order of the processes' exits), and removes them.
 * Returns how many there were. */
int stats_collect(const char *dir, FILE *out);

#endif
