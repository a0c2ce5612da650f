/* check_util.h — what the heap-bug corpus programs share: functions kept out of line so each
 * stack names the function the .expect file names, and pointers the compiler cannot see through
 * (a store to a block just freed, or one past its end, would otherwise be dropped). */
#ifndef CHECK_UTIL_H
#define CHECK_UTIL_H

#include <stddef.h>

#define CK_FN __attribute__((noinline, noclone, used))

/* Hides a pointer from the optimizer: what it points to may be read or written anywhere. */
static inline void *ck_launder(void *p) {
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

#endif
