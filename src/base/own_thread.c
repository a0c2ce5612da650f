/* own_thread.c — the library's own threads (the background purger, the leak-signal checker):
 * started detached and named, taking no signal meant for the program, but pausable by the leak
 * scan; the memory their start-up allocates is the library's, not the program function's that
 * happened to cause it, so the tracker records it without a stack. */
#define _GNU_SOURCE
#include "base.h"

#include <dlfcn.h>
#include <signal.h>
#if defined(HK_STATIC_ARCHIVE)
#include <threads.h>
#endif

/* Programs take real-time signals counting up from SIGRTMIN (glibc keeps the two below it for
 * itself) or use SIGRTMAX as "the" real-time signal; three below the top is rarely anyone's. */
#define HK_STOP_SIGNAL_FROM_TOP 3

int hk_stop_signal(void) { return SIGRTMAX - HK_STOP_SIGNAL_FROM_TOP; }

typedef void *(*hk_thread_main_t)(void *);

__thread bool hk_own_thread __attribute__((tls_model("initial-exec")));

static void *hk_own_thread_main(void *arg) {
    hk_own_thread = true;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, hk_stop_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    hk_thread_main_t main = (hk_thread_main_t)arg;
    return main(NULL);
}

#if defined(HK_STATIC_ARCHIVE)
/* A program linked with -static has no dynamic symbols for dlsym to find. glibc's libc.a defines
 * the function as __pthread_create, with pthread_create a weak alias that heapkit's overrides; a
 * weak reference does not make the linker take that archive member, but a reference to
 * thrd_create (which calls __pthread_create) does. In a dynamic program libc.so exports only
 * pthread_create: __pthread_create stays NULL and dlsym finds the function. */
extern int __pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) __attribute__((weak));
__attribute__((used)) static int (*const hk_static_pulls_pthread_create)(thrd_t *, thrd_start_t, void *) = thrd_create;
#endif

/* The C library's pthread_create: where heapkit stands in for the C library's names
 * (HK_OVERRIDE), its own pthread_create (debug/thread_stacks.c) is for the program's threads. */
int hk_libc_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
#if defined(HK_OVERRIDE)
    typedef int (*create_t)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    static _Atomic(create_t) next;
    create_t create = atomic_load_explicit(&next, memory_order_acquire);
    if (create == NULL) {
        static const char name[] hk_plain_const = "pthread_create";
        create = (create_t)dlsym(RTLD_NEXT, name);
#if defined(HK_STATIC_ARCHIVE)
        if (create == NULL) create = __pthread_create;
#endif
        if (create == NULL) return EAGAIN;
        atomic_store_explicit(&next, create, memory_order_release);
    }
    return create(thread, attr, start, arg);
#else
    return pthread_create(thread, attr, start, arg);
#endif
}

int hk_own_thread_start(const char *name, void *(*main)(void *), size_t stack_size) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack_size != 0) pthread_attr_setstacksize(&attr, stack_size);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits "block everything" */
    bool own_was = hk_own_work;
    hk_own_work = true; /* its thread descriptor and TLS are ours */
    pthread_t thread;
    int err = hk_libc_pthread_create(&thread, &attr, hk_own_thread_main, (void *)main);
    hk_own_work = own_was;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err == 0) pthread_setname_np(thread, name);
    pthread_attr_destroy(&attr);
    return err;
}
