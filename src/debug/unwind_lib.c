/* unwind_lib.c — libunwind loaded at run time, only by the modes that walk stacks with it.
 * Linked, libunwind and liblzma (its dependency, for compressed debug sections) were mapped into
 * every process that loads heapkit, ~110-200 KiB of resident pages in each, though only leak
 * tracking, the exact profile and heap checking ever call it (for stacks the cached walker of
 * unwind_cached.c cannot take, and a guard-page fault's stack). So it is opened with dlopen when
 * one of those modes starts: in the library's constructor, before the program's own start-up
 * code and its threads, never from inside an allocation (the loader allocates, and a dlopen from
 * a stack walk would run in the middle of the tracker) nor from a signal handler. */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include "unwind_lib.h"
#include "parse.h" /* HK_PROFILE_* */

#include <dlfcn.h>
#include <libunwind.h>
#include <sys/auxv.h>

/* libunwind's names are macros for its target-prefixed symbols (_ULx86_64_step ...): spell them. */
#define HK_SYMBOL_NAME(fn) HK_SYMBOL_NAME_(fn)
#define HK_SYMBOL_NAME_(fn) #fn
/* The soname Debian's libunwind-dev links against (the package that ships the header). */
#define HK_LIBUNWIND_SONAME "libunwind.so.8"

/* Set once, in the constructor, before any thread of the program's: then only read. */
static struct {
    int (*backtrace)(void **frames, int max);
    int (*init_local2)(unw_cursor_t *cursor, unw_context_t *context, int flags);
    int (*get_reg)(unw_cursor_t *cursor, unw_regnum_t reg, unw_word_t *value);
    int (*step)(unw_cursor_t *cursor);
    _Atomic bool ready;
} hk_unw;

static bool hk_unwind_lib_wanted(void) {
    const hk_options_t *o = &hk_state.options;
    return o->leaks || o->profile != HK_PROFILE_OFF || o->check != HK_CHECK_OFF || o->sample_guard != 0;
}

/* The constructor's part (a `start` subsystem): dlopen and look the four functions up. Without
 * libunwind the modes still run; stacks the cached walker cannot take are then not kept. */
hk_plain_path static void hk_unwind_lib_load(void) {
    if (!hk_unwind_lib_wanted()) return;
#if defined(HK_STATIC_ARCHIVE)
    /* A program linked -static (started with no dynamic loader: no AT_BASE) can dlopen, but
     * libunwind's thread-local variables then fault in the program's threads. */
    if (getauxval(AT_BASE) == 0) return;
#endif
    void *lib = dlopen(HK_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (lib == NULL) {
        hk_message("cannot load " HK_LIBUNWIND_SONAME ": some stacks will not be kept");
        return;
    }
    *(void **)&hk_unw.backtrace = dlsym(lib, HK_SYMBOL_NAME(unw_backtrace));
    *(void **)&hk_unw.init_local2 = dlsym(lib, HK_SYMBOL_NAME(unw_init_local2));
    *(void **)&hk_unw.get_reg = dlsym(lib, HK_SYMBOL_NAME(unw_get_reg));
    *(void **)&hk_unw.step = dlsym(lib, HK_SYMBOL_NAME(unw_step));
    bool all = hk_unw.backtrace != NULL && hk_unw.init_local2 != NULL && hk_unw.get_reg != NULL && hk_unw.step != NULL;
    if (!all) hk_message(HK_LIBUNWIND_SONAME " lacks a function heapkit calls: some stacks will not be kept");
    atomic_store_explicit(&hk_unw.ready, all, memory_order_release);
}

int hk_unwind_lib_backtrace(void **frames, int max) {
    if (!atomic_load_explicit(&hk_unw.ready, memory_order_acquire)) return 0;
    return hk_unw.backtrace(frames, max);
}

size_t hk_unwind_lib_signal_frames(void *ucontext, uintptr_t *frames, size_t depth) {
    if (!atomic_load_explicit(&hk_unw.ready, memory_order_acquire)) return 0;
    unw_cursor_t c;
    size_t n = 0;
    if (hk_unw.init_local2(&c, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) < 0) return 0;
    do {
        unw_word_t ip;
        if (hk_unw.get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0) break;
        frames[n] = (uintptr_t)ip + (n == 0 ? 1 : 0); /* the faulting instruction, stored as a return address */
        n++;
    } while (n < depth && hk_unw.step(&c) > 0);
    return n;
}

HK_SUBSYSTEM(unwind_lib, HK_SUBSYSTEM_LEAK, .start = hk_unwind_lib_load);
