/* thread_stacks.c — every thread of a checked program gets the alternate signal stack its fault
 * handler needs to report a stack overflow (a thread that overflowed has no stack left to run the
 * handler on): pthread_create is passed through to the C library's with a start routine of ours
 * that sets the stack up first and gives it back when the thread ends. Without heap checking
 * (no fault handler) the call goes straight through. Only where heapkit stands in for the C
 * library's names (HK_OVERRIDE: the shared library and libheapkit.a). */
#define _GNU_SOURCE
#include "check.h"

#if defined(HK_OVERRIDE)

typedef struct hk_thread_start_s {
    void *(*start)(void *);
    void *arg;
} hk_thread_start_t;

static void hk_thread_stack_done(void *unused) {
    (void)unused;
    hk_guard_thread_done();
}

static void *hk_thread_begin(void *p) {
    hk_thread_start_t s = *(hk_thread_start_t *)p;
    hk_core_free(p);
    hk_guard_thread_ready();
    void *result;
    pthread_cleanup_push(hk_thread_stack_done, NULL);
    result = s.start(s.arg);
    pthread_cleanup_pop(1);
    return result;
}

hk_plain_path HK_API int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
    if (!hk_guard_handling_faults()) return hk_libc_pthread_create(thread, attr, start, arg);
    hk_thread_start_t *s = hk_core_alloc(sizeof *s, false);
    if (s == NULL) return hk_libc_pthread_create(thread, attr, start, arg);
    *s = (hk_thread_start_t){start, arg};
    int rc = hk_libc_pthread_create(thread, attr, hk_thread_begin, s);
    if (rc != 0) hk_core_free(s);
    return rc;
}
#endif
