/* xalloc.h — the command's allocations that cannot fail: out of memory, it says so and exits 1
 * (a report tool has nothing to fall back on). */
#ifndef HK_XALLOC_H
#define HK_XALLOC_H

#include <stddef.h>

void *xcalloc(size_t n, size_t size); /* zeroed; never NULL, not even for 0 bytes */
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
