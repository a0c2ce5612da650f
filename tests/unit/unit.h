/* unit.h — a minimal check harness for the white-box tests of heapkit's internal layers.
 * CHECK records a failure and goes on; a test's exit status is the number of failures. */
#ifndef HK_UNIT_H
#define HK_UNIT_H
#include "core.h"

#include <stdio.h>

static int unit_failures;

#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            unit_failures++;                                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                                                             \
            fputc('\n', stderr);                                                                                      \
        }                                                                                                             \
    } while (0)

static inline int unit_done(const char *name) {
    fprintf(stderr, "%s: %s (%d failed checks)\n", name, unit_failures ? "FAILED" : "passed", unit_failures);
    return unit_failures ? 1 : 0;
}
#endif
