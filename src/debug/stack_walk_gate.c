/* stack_walk_gate.c — keeps fork from splitting a stack walk. A tracked allocation walks its
 * stack with libunwind or libgcc's unwinder and notes the loaded objects (module_history.c):
 * both go through dl_iterate_phdr, whose lock glibc (2.36 at least) does not reset in a forked
 * child, and libunwind has locks of its own. A fork while another thread was inside left the
 * child with the loader's lock held by a thread it does not have: the child's first stack walk
 * waited on it for ever. So walks go through this gate, which fork closes (it is in the lock
 * table) and waits for the walks under way to leave before the process is copied.
 * A walk that finds the gate closed does not wait for it: it is skipped (the block is recorded
 * with no stack). Waiting could deadlock: a program thread inside its own dl_iterate_phdr callback
 * that allocates would wait for the fork, which waits for a walk, which waits for the loader's
 * lock that thread holds. Only allocations racing a fork lose their stack. */
#define _GNU_SOURCE
#include "track.h"
#include "unwind_cached.h"

#include <errno.h>
#include <sched.h>
#if defined(HK_STATIC_ARCHIVE)
#include <sys/auxv.h>
#endif

static struct {
    pthread_mutex_t forker;   /* one fork at a time closes the gate */
    _Atomic bool closed;      /* a fork is under way: no walk may start */
    _Atomic uint32_t walkers; /* walks under way (and walks about to find the gate closed) */
} hk_gate = {.forker = PTHREAD_MUTEX_INITIALIZER};

#if defined(HK_STATIC_ARCHIVE)
/* In a program linked -static, libgcc finds the unwind tables only while they are registered, by
 * the program's first constructor (crtbeginT's frame_dummy) to its last destructor
 * (__do_global_dtors_aux, which frees with libgcc's lock held: a walk there waited on that lock
 * for ever); there is no PT_GNU_EH_FRAME for dl_iterate_phdr or _dl_find_object to find. Before,
 * libgcc's FDE search must not even be asked until the C library's start has made
 * _dl_find_object's tables (_dl_non_dynamic_init, whose allocations reach us first: asked then, it
 * faults); that start then sets program_invocation_name, "" until then, to argv[0]. Walks outside
 * that span are skipped, as those racing a fork are: the C library's own allocations at start,
 * and frees in the destructors that run after heapkit's (those of files linked before
 * libheapkit.a), keep no stack, and libgcc's unwinder never aborts for want of frame data. */
enum { HK_STATIC_UNWIND_NOT_YET, HK_STATIC_UNWIND_READY, HK_STATIC_UNWIND_OVER };
static _Atomic int hk_static_unwind = HK_STATIC_UNWIND_NOT_YET;

static bool hk_stack_walk_possible(void) {
    int state = atomic_load_explicit(&hk_static_unwind, memory_order_relaxed);
    if (hk_likely(state == HK_STATIC_UNWIND_READY)) return true;
    if (state == HK_STATIC_UNWIND_OVER) return false;
    if (program_invocation_name == NULL || program_invocation_name[0] == '\0') return false;
    struct hk_dwarf_eh_bases bases;
    if (_Unwind_Find_FDE((void *)(uintptr_t)hk_stack_walk_possible, &bases) == NULL) return false;
    int expected = HK_STATIC_UNWIND_NOT_YET;
    atomic_compare_exchange_strong(&hk_static_unwind, &expected, HK_STATIC_UNWIND_READY);
    return expected == HK_STATIC_UNWIND_NOT_YET;
}

/* Only in a program started with no dynamic loader (no AT_BASE): a dynamic one linking
 * libheapkit.a finds its tables through PT_GNU_EH_FRAME to the end. */
__attribute__((destructor)) static void hk_static_unwind_over(void) {
    if (getauxval(AT_BASE) == 0) atomic_store_explicit(&hk_static_unwind, HK_STATIC_UNWIND_OVER, memory_order_relaxed);
}
#else
static inline bool hk_stack_walk_possible(void) { return true; }
#endif

bool hk_stack_walk_enter(void) {
    if (!hk_stack_walk_possible()) return false;
    if (atomic_load_explicit(&hk_gate.closed, memory_order_seq_cst)) return false;
    atomic_fetch_add_explicit(&hk_gate.walkers, 1, memory_order_seq_cst);
    /* Sequentially consistent with the fork's store of `closed` then load of `walkers`: either
     * the fork sees this walker counted, or this walker sees the gate closed. */
    if (hk_likely(!atomic_load_explicit(&hk_gate.closed, memory_order_seq_cst))) return true;
    atomic_fetch_sub_explicit(&hk_gate.walkers, 1, memory_order_release);
    return false;
}

void hk_stack_walk_leave(void) { atomic_fetch_sub_explicit(&hk_gate.walkers, 1, memory_order_release); }

/* Fork prepare: close the gate and wait for the walks inside to finish. They take only locks of
 * later ranks (the depot's; when the unwinder allocates, as libunwind does on a thread's first use
 * of its TLS, the heap checker's and the core's), which the fork takes after this, and the
 * loader's, which no thread waiting on us can hold (see above). */
hk_plain_path static void hk_stack_walk_gate_close(void) {
    pthread_mutex_lock(&hk_gate.forker);
    atomic_store_explicit(&hk_gate.closed, true, memory_order_seq_cst);
    while (atomic_load_explicit(&hk_gate.walkers, memory_order_seq_cst) != 0) sched_yield();
}

/* Fork release, in parent and child alike. */
hk_plain_path static void hk_stack_walk_gate_open(void) {
    atomic_store_explicit(&hk_gate.closed, false, memory_order_release);
    pthread_mutex_unlock(&hk_gate.forker);
}

/* In the child: a thread that counted itself in just as the gate closed, and was copied before
 * it counted itself out again, does not exist here; its count must not make the child's own next
 * fork wait for it. The child's one thread is walking nothing. */
hk_plain_path static void hk_stack_walk_gate_after_fork_child(void) {
    atomic_store_explicit(&hk_gate.walkers, 0, memory_order_relaxed);
}

HK_LOCK_SET(stack_walks, HK_LOCK_STACK_WALKS, hk_stack_walk_gate_close, hk_stack_walk_gate_open);
HK_SUBSYSTEM(stack_walks, HK_SUBSYSTEM_LEAK, .fork_child = hk_stack_walk_gate_after_fork_child);
