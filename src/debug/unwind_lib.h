/* unwind_lib.h — libunwind, loaded at run time by the modes that walk stacks with it (leak
 * tracking, the exact heap profile, heap checking, sampled guard slots): a plain heapkit process
 * does not map it (nor liblzma, which it pulls in). See unwind_lib.c. */
#ifndef HK_UNWIND_LIB_H
#define HK_UNWIND_LIB_H

#include "base.h"

/* unw_backtrace: up to max return addresses of the calling thread's stack; 0 if libunwind is not
 * loaded (a walk before the library's constructor, or libunwind missing). */
hk_internal int hk_unwind_lib_backtrace(void **frames, int max);
/* The stack of a signal's context (a ucontext_t), the interrupted instruction first: how many
 * frames were written, at most depth; 0 if libunwind is not loaded. */
hk_internal size_t hk_unwind_lib_signal_frames(void *ucontext, uintptr_t *frames, size_t depth);

#endif
