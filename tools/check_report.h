/* check_report.h — the heap-error report of the `heapkit` command: the raw reports
 * (check.<pid>.<n>.raw, docs/check-report-format.md) that heap checking left in a directory, read,
 * symbolized and printed on stderr in Valgrind's manner, and written as JSON if asked. */
#ifndef HK_TOOLS_CHECK_REPORT_H
#define HK_TOOLS_CHECK_REPORT_H

#include <stdbool.h>
#include <stdio.h>

/* Reports every heap error in `dir` on stderr (and as the JSON array's elements into json if not
 * NULL: `"heap_errors": [...]` is written, without braces around it), then a summary per process,
 * or one line under main_pid's name when there were none. Returns how many errors it found, or
 * -1 if a file could not be read (a message says so). */
long check_report_dir(const char *dir, FILE *json, long main_pid);

#endif
