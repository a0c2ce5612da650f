/* leak.c — the leak check: a conservative mark-and-sweep over the tracked blocks, the way
 * LeakSanitizer and kmemleak do it, with Valgrind memcheck's four outcomes.
 *
 * 1. The other threads are stopped (stop_world.c) while the allocator's segments and huge-cache
 *    locks are held, so nobody unmaps a segment under the scan.
 * 2. Roots: every readable, writable mapping in /proc/self/maps (module data and bss, including
 *    dlopen'ed ones; the loader's and libc's memory; TLS; the program's own mmaps, shared ones
 *    and private /dev/zero ones too; not device memory), minus the library's own memory
 *    (segments, metadata granules, cached huge extents, our data). Thread stacks, told by the
 *    threads (a stack pointer in them, or a thread descriptor at the top of a mapping right above
 *    a guard page), count only from each live thread's stack pointer up, which also covers its
 *    saved registers and, for threads other than the first, its TLS; of a stack of no live thread
 *    (glibc caches them) only the descriptor counts; the library's own threads hold no roots.
 * 3. Every word that points into a live block marks it: reachable through block starts only,
 *    possibly reachable through a pointer into its middle; marked blocks are scanned in turn.
 * 4. The unmarked blocks are walked segment by segment: each not yet reached becomes a
 *    definitely lost "leader", and what it reaches is indirectly lost (a cycle has one leader).
 * 5. Blocks are grouped by kind and allocation stack while the world is still stopped; the
 *    report is written after the threads go on (leak_report.c).
 * Checks run from hk_leak_check(), at exit, and on HEAPKIT_LEAK_SIGNAL in a thread of their own;
 * this file also installs the tracker at process init (the leak subsystem, base.h). */
#define _GNU_SOURCE
#include "check.h"
#include "leak.h"
#include "stop_world.h"

#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define HK_NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))
/* Loaded objects a check lists: a big program has a few hundred. */
#define HK_MODULES_MAX 4096
/* Ranges of our own memory left out of the roots: our writable segments (at most HK_OWN_DATA_MAX)
 * or our biggest tables, and the huge cache's extents (HK_HUGE_CACHE_EXTENTS), with room. */
#define HK_EXCLUDED_MAX 64
/* A shared object has one or two writable segments (data and bss, relro); room for more. */
#define HK_OWN_DATA_MAX 8
/* Mappings this big (a sanitizer's shadow, a VM's heap reservation) are not read as roots: no
 * program keeps its pointers in 64 GiB of anonymous memory, and reading it all would be slow. */
#define HK_ROOT_MAX ((uintptr_t)64 << 30)
/* Nothing is mapped in the first page: smaller words are counts and flags, not pointers (rejected
 * before the segment map is read). */
#define HK_LOW_ADDRESS 4096
/* The mark stack's first size, in entries (1.5 MiB: it fits the first metadata granule); it
 * doubles as needed. */
#define HK_MARK_STACK_FIRST ((size_t)1 << 16)
/* /proc/self/maps is read whole into a buffer this big at first (a line per mapping, 1 MiB holds
 * ten thousand), four times bigger each time it does not fit, up to a size no process needs (the
 * kernel allows 65530 mappings by default). */
#define HK_MAPS_FIRST_BYTES ((size_t)1 << 20)
#define HK_MAPS_MAX_BYTES ((size_t)64 << 20)
#define HK_MAPS_GROWTH 4
/* How long the check waits for a thread counted as stopped to note its stack pointer: it has
 * taken its slot and is a few instructions from done, so this bounds only a thread descheduled
 * in between. */
#define HK_STOP_READY_WAIT_MS 100
/* Under leak tracking alone, a check whose stop found a page's lists halfway through a change
 * (leak_free.c) lets the threads go on for HK_SETTLE_PAUSE_US times the tries so far and stops
 * them again, up to this many stops: the change is a few instructions long. */
#define HK_SETTLE_TRIES 16
#define HK_SETTLE_PAUSE_US 50

typedef struct hk_mark_entry_s {
    uintptr_t user;
    size_t size;
    hk_track_rec_t *rec;
} hk_mark_entry_t;

typedef struct hk_range_s {
    uintptr_t lo, hi;
} hk_range_t;

static struct {
    pthread_mutex_t lock; /* one check at a time */
    unsigned checks;
    hk_mark_entry_t *stack; /* the mark stack, grown by remapping */
    size_t stack_cap, stack_len;
    hk_track_rec_t *leader; /* the clique being walked, or NULL while marking from roots */
    hk_range_t excluded[HK_EXCLUDED_MAX];
    size_t excluded_count;
    hk_range_t own_data[HK_OWN_DATA_MAX]; /* our library's writable segments, when it is a shared object */
    size_t own_data_count;
    hk_module_t *modules;
    size_t module_count;
    /* guard blocks (HEAPKIT_CHECK=guard, HEAPKIT_SAMPLE_GUARD): mappings of their own, outside
     * every segment; sorted by address, within [guard_lo, guard_hi) */
    hk_guard_block_t *guard;
    size_t guard_count;
    uintptr_t guard_lo, guard_hi;
    sem_t signal_sem; /* HEAPKIT_LEAK_SIGNAL: the handler posts, the checker thread checks */
} hk_leak = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------- finding blocks */

/* The first guard block whose pages end above a. */
static size_t hk_leak_guard_from(uintptr_t a) {
    size_t lo = 0, hi = hk_leak.guard_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hk_leak.guard[mid].data_hi <= a) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The live guard block that word w points into, as hk_leak_block_of tells it. */
static hk_track_rec_t *hk_leak_guard_block_of(uintptr_t w, uintptr_t *user, size_t *size) {
    if (w < hk_leak.guard_lo || w >= hk_leak.guard_hi) return NULL;
    size_t i = hk_leak_guard_from(w);
    if (i == hk_leak.guard_count) return NULL;
    hk_guard_block_t *b = &hk_leak.guard[i];
    if (w < b->user || w >= b->user + (b->size ? b->size : 1)) return NULL;
    *user = b->user;
    *size = b->size;
    return &b->rec;
}

/* Where a page's block `index` was handed out and the bytes asked for, as its record says, kept
 * within the block: under leak tracking alone, a block a stopped thread just took from a free
 * list has the record of its last life until its malloc writes it (of another size class, if the
 * page was carved for one), and the scan must not read past the block. */
static inline void hk_leak_span(const hk_page_t *page, uint64_t index, const hk_track_rec_t *rec, uintptr_t *user,
                                size_t *size) {
    size_t offset = (size_t)rec->offset << HK_BLOCK_ALIGN_SHIFT;
    if (offset >= page->block_size) offset = 0;
    *user = (uintptr_t)page->start + index * page->block_size + offset;
    *size = rec->size < page->block_size - offset ? rec->size : page->block_size - offset;
}

/* The live block that word w points into: its record, start and size; NULL if none. */
HK_NO_SANITIZE static hk_track_rec_t *hk_leak_block_of(uintptr_t w, uintptr_t *user, size_t *size) {
    uint8_t tag = hk_segmap_get(w);
    if (tag == HK_MAP_NONE) return hk_leak_guard_block_of(w, user, size);
    if (tag == HK_MAP_META) return NULL;
    hk_segment_t *seg = tag == HK_MAP_SEGMENT ? hk_ptr_segment((void *)w) : NULL;
    hk_track_rec_t *rec;
    if (seg == NULL || seg->kind == HK_SEGMENT_HUGE) {
        seg = hk_huge_segment_of(w);
        if (seg == NULL || seg->track == NULL) return NULL;
        rec = seg->track;
        *user = (uintptr_t)seg + seg->block_offset;
        *size = seg->huge_size;
    } else {
        if (seg->track == NULL) return NULL;
        hk_page_t *page = hk_segment_page_of(seg, (void *)w);
        if (!page->in_use || w < (uintptr_t)page->start) return NULL;
        uint64_t index = hk_page_block_index(page, (void *)w);
        if (index >= page->capacity) return NULL;
        rec = hk_track_record(seg, page, index);
        hk_leak_span(page, index, rec, user, size);
    }
    if (rec->stack == 0) return NULL;
    if (w < *user || w >= *user + (*size ? *size : 1)) return NULL; /* slack past the size asked for */
    return rec;
}

/* Call fn for every live block, segment by segment (the caller holds the segments lock). */
HK_NO_SANITIZE static void hk_leak_each_block(void (*fn)(hk_track_rec_t *rec, uintptr_t user, size_t size)) {
    for (hk_segment_t *seg = hk_state.all_segments; seg != NULL; seg = seg->all_next) {
        if (seg->track == NULL) continue;
        if (seg->kind == HK_SEGMENT_HUGE) {
            if (seg->track->stack != 0) fn(seg->track, (uintptr_t)seg + seg->block_offset, seg->huge_size);
            continue;
        }
        for (uint32_t p = 0; p < seg->page_count; p++) {
            hk_page_t *page = &seg->pages[p];
            if (!page->in_use) continue;
            hk_track_rec_t *recs = hk_track_record(seg, page, 0);
            for (uint32_t b = 0; b < page->capacity; b++)
                if (recs[b].stack != 0) {
                    uintptr_t user;
                    size_t size;
                    hk_leak_span(page, b, &recs[b], &user, &size);
                    fn(&recs[b], user, size);
                }
        }
    }
    for (size_t i = 0; i < hk_leak.guard_count; i++)
        fn(&hk_leak.guard[i].rec, hk_leak.guard[i].user, hk_leak.guard[i].size);
}

/* ------------------------------------------------------------------ marking */

static bool hk_mark_push(uintptr_t user, size_t size, hk_track_rec_t *rec) {
    if (hk_leak.stack_len == hk_leak.stack_cap) {
        size_t cap = hk_leak.stack_cap ? hk_leak.stack_cap * 2 : HK_MARK_STACK_FIRST;
        hk_mark_entry_t *grown = hk_meta_map(cap * sizeof *grown);
        if (grown == NULL) return false;
        if (hk_leak.stack != NULL) {
            memcpy(grown, hk_leak.stack, hk_leak.stack_len * sizeof *grown);
            hk_meta_unmap(hk_leak.stack, hk_leak.stack_cap * sizeof *grown);
        }
        hk_leak.stack = grown;
        hk_leak.stack_cap = cap;
    }
    hk_leak.stack[hk_leak.stack_len++] = (hk_mark_entry_t){user, size, rec};
    return true;
}

/* Memcheck's interior-pointer heuristics (its --leak-check-heuristics, all on by default there and
 * here): a pointer into a block's middle that C++ programs keep as the only handle on the block
 * makes it still reachable, not possibly lost. One bit each, so each can be switched off. */
#define HK_HEURISTIC_STDSTRING HK_LEAK_HEURISTIC_STDSTRING  /* length, capacity, refcount, then the chars */
#define HK_HEURISTIC_LENGTH64 HK_LEAK_HEURISTIC_LENGTH64    /* a 64-bit length, then that many bytes */
#define HK_HEURISTIC_NEWARRAY HK_LEAK_HEURISTIC_NEWARRAY    /* the element count, then the array */
#define HK_HEURISTIC_MULTIPLE_INHERITANCE HK_LEAK_HEURISTIC_MULTIPLE_INHERITANCE /* vtable pointers */
static _Atomic unsigned hk_leak_heuristics = HK_LEAK_HEURISTICS_ALL;

HK_API unsigned hk_leak_set_heuristics(unsigned mask) {
    if (mask & ~HK_LEAK_HEURISTICS_ALL) {
        errno = EINVAL;
        return (unsigned)-1;
    }
    return atomic_exchange(&hk_leak_heuristics, mask);
}

/* Whether a word looks like a vtable pointer: aligned, inside a loaded object. */
static bool hk_maybe_vtable(uintptr_t v) {
    if ((v & (sizeof(uintptr_t) - 1)) != 0 || v < HK_LOW_ADDRESS) return false;
    for (size_t i = 0; i < hk_leak.module_count; i++)
        if (v >= hk_leak.modules[i].lo && v < hk_leak.modules[i].hi) return true;
    return false;
}

/* Whether interior pointer w into the live block [user, user + size) is one of the heuristics'
 * shapes (as memcheck tests them). */
HK_NO_SANITIZE static bool hk_heuristic_start(uintptr_t w, uintptr_t user, size_t size) {
    const size_t word = sizeof(size_t);
    const size_t *head = (const size_t *)user;
    unsigned on = atomic_load_explicit(&hk_leak_heuristics, memory_order_relaxed);
    if ((on & HK_HEURISTIC_STDSTRING) && w == user + 3 * word && size >= 3 * word &&
        3 * word + head[1] + 1 == size && head[0] <= head[1])
        return true;
    if ((on & HK_HEURISTIC_LENGTH64) && w == user + sizeof(uint64_t) && size >= sizeof(uint64_t) &&
        *(const uint64_t *)user + sizeof(uint64_t) == size)
        return true;
    if ((on & HK_HEURISTIC_NEWARRAY) && w == user + word && size >= word && head[0] > 0 &&
        (size - word) % head[0] == 0)
        return true;
    if ((on & HK_HEURISTIC_MULTIPLE_INHERITANCE) && (w & (word - 1)) == 0 && w >= user + word &&
        w + word <= user + size && hk_maybe_vtable(head[0]) && hk_maybe_vtable(*(const uintptr_t *)w))
        return true;
    return false;
}

/* Whether the words interior pointer w leads to hold the block's own start: a block aligned by
 * hand (malloc'd with room, the pointer rounded up) that keeps what malloc returned, to free it
 * by. glibc's loader keeps its table for _dl_find_object so (the `to_free` word right after the
 * aligned header's first); its only pointers are to the aligned place, and the first dlopen of a
 * process makes one, which must not be "possibly lost" whenever malloc's block was not aligned
 * already (always, under heap checking's redzones). Not switchable: no program's own pointer
 * is taken for a start by it unless the block names itself. */
#define HK_OWN_START_WORDS 2
HK_NO_SANITIZE static bool hk_holds_own_start(uintptr_t w, uintptr_t user, size_t size) {
    w &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (size_t i = 0; i < HK_OWN_START_WORDS; i++) {
        uintptr_t at = w + i * sizeof(uintptr_t);
        if (at + sizeof(uintptr_t) > user + size) return false;
        if (*(const uintptr_t *)at == user) return true;
    }
    return false;
}

/* A word found in memory whose own standing is `from` (REACHABLE for roots). */
HK_NO_SANITIZE static void hk_mark_word(uintptr_t w, unsigned from) {
    uintptr_t user;
    size_t size;
    hk_track_rec_t *rec = hk_leak_block_of(w, &user, &size);
    if (rec == NULL || rec->mark == HK_MARK_FREE) return;
    if (hk_leak.leader != NULL) { /* walking a clique: everything unreached it finds is indirect */
        if (rec == hk_leak.leader) return;
        if (rec->mark == HK_MARK_UNREACHED) {
            rec->mark = HK_MARK_INDIRECT;
            hk_mark_push(user, size, rec);
        } else if (rec->mark == HK_MARK_DEFINITE) {
            rec->mark = HK_MARK_INDIRECT; /* an earlier leader, reached from this one */
        }
        return;
    }
    bool start = w == user || hk_heuristic_start(w, user, size) || hk_holds_own_start(w, user, size);
    unsigned via = from == HK_MARK_DOUBTFUL                ? HK_MARK_DOUBTFUL
                   : from == HK_MARK_REACHABLE && start ? HK_MARK_REACHABLE
                                                        : HK_MARK_POSSIBLE;
    /* A doubtful block reached from the roots is live, whatever its page says. */
    if (rec->mark == HK_MARK_UNREACHED || (rec->mark == HK_MARK_DOUBTFUL && via != HK_MARK_DOUBTFUL) ||
        (rec->mark == HK_MARK_POSSIBLE && via == HK_MARK_REACHABLE)) {
        rec->mark = via & 7;
        hk_mark_push(user, size, rec);
    }
}

HK_NO_SANITIZE static void hk_scan_words(uintptr_t lo, uintptr_t hi, unsigned from) {
    lo = hk_align_up(lo, sizeof(uintptr_t));
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t w = *(const uintptr_t *)a;
        if ((w >> HK_ADDRESS_BITS) != 0 || w < HK_LOW_ADDRESS) continue;
        uint8_t tag = hk_segmap_get(w);
        if ((tag != HK_MAP_NONE && tag != HK_MAP_META) ||
            (tag == HK_MAP_NONE && w >= hk_leak.guard_lo && w < hk_leak.guard_hi)) {
            hk_mark_word(w, from);
        }
    }
}

static void hk_mark_drain(void) {
    while (hk_leak.stack_len > 0) {
        hk_mark_entry_t e = hk_leak.stack[--hk_leak.stack_len];
        unsigned from = hk_leak.leader != NULL ? HK_MARK_INDIRECT : e.rec->mark;
        hk_scan_words(e.user, e.user + e.size, from);
    }
}

/* --------------------------------------------------------------------- roots */

/* Scan [lo, hi) as a root minus the guard blocks' pages: they are heap blocks, scanned when
 * something reaches them, not roots (else a leaked one would hide what it points to). */
static void hk_scan_minus_guard(uintptr_t lo, uintptr_t hi) {
    for (size_t i = hk_leak_guard_from(lo); i < hk_leak.guard_count && lo < hi; i++) {
        const hk_guard_block_t *b = &hk_leak.guard[i];
        if (b->data_lo >= hi) break;
        if (b->data_lo > lo) hk_scan_words(lo, b->data_lo, HK_MARK_REACHABLE);
        if (b->data_hi > lo) lo = b->data_hi;
    }
    if (lo < hi) hk_scan_words(lo, hi, HK_MARK_REACHABLE);
}

/* Scan [lo, hi) minus the ranges in hk_leak.excluded (sorted, disjoint). */
static void hk_scan_minus_excluded(uintptr_t lo, uintptr_t hi) {
    for (size_t i = 0; i < hk_leak.excluded_count && lo < hi; i++) {
        hk_range_t x = hk_leak.excluded[i];
        if (x.hi <= lo || x.lo >= hi) continue;
        if (x.lo > lo) hk_scan_minus_guard(lo, x.lo);
        lo = x.hi;
    }
    if (lo < hi) hk_scan_minus_guard(lo, hi);
    hk_mark_drain();
}

/* Scan [lo, hi) as a root, skipping the granules that hold the library's own memory. */
HK_NO_SANITIZE static void hk_scan_root(uintptr_t lo, uintptr_t hi) {
    while (lo < hi) {
        uintptr_t granule_end = (lo | HK_SEGMENT_MASK) + 1, end = granule_end < hi ? granule_end : hi;
        uint8_t tag = hk_segmap_get(lo);
        uintptr_t skip_to = lo; /* end of our object covering lo, if any */
        if (tag == HK_MAP_META) {
            skip_to = granule_end;
        } else if (tag != HK_MAP_NONE) {
            hk_segment_t *seg = tag == HK_MAP_SEGMENT ? hk_ptr_segment((void *)lo) : hk_huge_segment_of(lo);
            if (seg != NULL) skip_to = (uintptr_t)seg + seg->size;
        }
        if (skip_to > lo) {
            lo = skip_to;
            continue;
        }
        hk_scan_minus_excluded(lo, end);
        lo = end;
    }
}

typedef struct hk_mapping_s {
    uintptr_t lo, hi;
    char perms[5];
    bool anonymous; /* no file behind it */
    const char *path;
} hk_mapping_t;

/* Parse one line of /proc/self/maps; the path is NUL-terminated in place. */
static bool hk_parse_mapping(char *line, hk_mapping_t *m) {
    char *c = line;
    uintptr_t v[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        for (; (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'); c++)
            v[k] = v[k] * 16 + (uintptr_t)(*c <= '9' ? *c - '0' : *c - 'a' + 10);
        if (k == 0 && *c++ != '-') return false;
    }
    if (*c++ != ' ') return false;
    for (int i = 0; i < 4; i++) {
        char flag = '-';
        if (*c != '\0') flag = *c++;
        m->perms[i] = flag;
    }
    m->perms[4] = '\0';
    for (int field = 0; field < 3 && *c; field++) { /* offset, device, inode */
        while (*c == ' ') c++;
        while (*c && *c != ' ') c++;
    }
    while (*c == ' ') c++;
    m->lo = v[0];
    m->hi = v[1];
    m->path = c;
    m->anonymous = *c == '\0' || *c == '[';
    return true;
}

/* /proc/self/maps, whole, into scratch memory (read with plain system calls: no stdio). */
static char *hk_read_maps(void) {
    for (size_t cap = HK_MAPS_FIRST_BYTES; cap <= HK_MAPS_MAX_BYTES; cap *= HK_MAPS_GROWTH) {
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return NULL;
        char *text = hk_leak_scratch(cap);
        size_t len = 0;
        ssize_t n = 0;
        while (text != NULL && len + 1 < cap && (n = read(fd, text + len, cap - 1 - len)) > 0) len += (size_t)n;
        close(fd);
        if (text == NULL || n < 0) return NULL;
        if (len + 1 < cap) { /* all of it */
            text[len] = '\0';
            return text;
        }
    }
    return NULL;
}

static bool hk_is_stack_mapping(const hk_mapping_t *m, const hk_mapping_t *prev) {
    if (!strcmp(m->path, "[stack]")) return true;
    return prev != NULL && prev->hi == m->lo && !strcmp(prev->perms, "---p") && prev->path[0] == '\0' &&
           m->path[0] == '\0';
}

/* glibc's thread descriptor on x86-64 (its tcbhead_t) starts with three words: tcb and self point
 * to the descriptor itself, dtv to the thread's TLS vector, one 16-byte entry past the start of
 * its block: a pointer into the middle that would make every thread's vector "possibly lost".
 * Count it as a start. The descriptor is 64-byte aligned, at the top of the thread's stack under
 * its static TLS (a few KiB). */
enum { HK_TCB_TCB, HK_TCB_DTV, HK_TCB_SELF };
#define HK_DTV_ENTRY 16
#define HK_TCB_ALIGN 64
#define HK_TCB_SEARCH 65536 /* bytes at the top of a dead stack searched for its descriptor */

HK_NO_SANITIZE static bool hk_mark_thread_descriptor(uintptr_t tp) {
#if defined(__x86_64__)
    const uintptr_t *w = (const uintptr_t *)tp;
    if (tp == 0 || w[HK_TCB_TCB] != tp || w[HK_TCB_SELF] != tp) return false;
    hk_mark_word(w[HK_TCB_DTV] - HK_DTV_ENTRY, HK_MARK_REACHABLE);
    hk_mark_drain();
    return true;
#else
    (void)tp;
    return false;
#endif
}

/* A stack of no live thread: glibc keeps the stacks of exited threads for reuse, with the
 * thread's descriptor still at the top. Its frames are dead, but the descriptor still points to
 * the thread's TLS vector and key data, which glibc frees only when the stack is reused: scan the
 * descriptor alone. On x86-64 it starts with two words pointing to itself (tcb and self). */
HK_NO_SANITIZE static bool hk_scan_dead_stack(uintptr_t lo, uintptr_t hi) {
#if defined(__x86_64__)
    uintptr_t floor = hi - lo > HK_TCB_SEARCH ? hi - HK_TCB_SEARCH : lo;
    for (uintptr_t a = (hi - HK_TCB_ALIGN) & ~(uintptr_t)(HK_TCB_ALIGN - 1); a >= floor; a -= HK_TCB_ALIGN) {
        if (hk_mark_thread_descriptor(a)) {
            hk_scan_root(a, hi);
            return true;
        }
    }
#else
    (void)lo;
    (void)hi;
#endif
    return false;
}

/* Shared mappings are read through process_vm_readv, a chunk at a time: a page of a shared file
 * (a memfd, a file another process truncated) past its end would kill us with SIGBUS if touched,
 * and the system call says EFAULT instead. */
#define HK_SHARED_CHUNK 65536

HK_NO_SANITIZE static void hk_scan_shared(uintptr_t lo, uintptr_t hi) {
    /* the copy lives in the check's scratch (metadata: never a root), not in the library's static
     * data, where it would cost every program 64 KiB of address space; a page on the stack will do
     * if the scratch is full */
    uintptr_t page[512];
    uintptr_t *copy = hk_leak_scratch(HK_SHARED_CHUNK);
    size_t chunk = copy != NULL ? HK_SHARED_CHUNK : sizeof page;
    if (copy == NULL) copy = page;
    for (uintptr_t a = lo; a < hi; a += chunk) {
        size_t n = hi - a < chunk ? hi - a : chunk;
        struct iovec local = {copy, n}, remote = {(void *)a, n};
        ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (got <= 0) return; /* past the end of the file (or not allowed): nothing more to read */
        hk_scan_words((uintptr_t)copy, (uintptr_t)copy + (size_t)got, HK_MARK_REACHABLE);
        hk_mark_drain();
        memset(copy, 0, (size_t)got); /* no stale copy may stay behind to be read as a root */
        if ((size_t)got < n) return;
    }
}

/* Device memory, whose reads may have side effects (a GPU's, a frame buffer), is no root; of
 * /dev only /dev/zero (anonymous memory by another name) and /dev/shm (files in RAM) are read. */
static bool hk_is_device(const char *path) {
    if (strncmp(path, "/dev/", sizeof "/dev/" - 1) != 0) return false;
    return strncmp(path, "/dev/zero", sizeof "/dev/zero" - 1) != 0 && strncmp(path, "/dev/shm/", sizeof "/dev/shm/" - 1) != 0;
}

static void hk_scan_roots(char *maps, const hk_stopped_thread_t *threads, size_t stopped, size_t not_stopped,
                          uintptr_t self_sp) {
    hk_mapping_t prev_storage, *prev = NULL;
    for (char *line = maps; *line;) {
        char *eol = strchr(line, '\n');
        if (eol != NULL) *eol = '\0';
        hk_mapping_t m;
        bool ok = hk_parse_mapping(line, &m);
        line = eol ? eol + 1 : line + strlen(line);
        if (!ok) continue;
        /* Readable and writable, private or shared (a MAP_SHARED anonymous page, a memfd, SysV or
         * POSIX shared memory): any of them may hold the program's pointers, as Valgrind says. */
        bool readable = m.perms[0] == 'r' && m.perms[1] == 'w';
        bool shared = m.perms[3] == 's';
        bool special = !strncmp(m.path, "[v", sizeof "[v" - 1) || hk_is_device(m.path);
        if (readable && !special && m.hi - m.lo > HK_ROOT_MAX) {
            hk_message("leak check: skipping a %zu GiB mapping at %p as a root", (size_t)((m.hi - m.lo) >> 30),
                       (void *)m.lo);
            special = true;
        }
        if (readable && !special && shared) {
            hk_scan_shared(m.lo, m.hi); /* never a stack, nor our memory (ours is all private) */
        } else if (readable && !special) {
            bool is_stack = hk_is_stack_mapping(&m, prev);
            bool has_thread = false;
            if (self_sp >= m.lo && self_sp < m.hi) {
                hk_scan_root(self_sp, m.hi);
                has_thread = true;
            }
            /* The library's own threads (the purger, the leak-signal checker) hold no pointer of the
             * program's: their stacks count as no live thread's, and the stale words of an earlier
             * check the checker's signal frame sits on are not roots. */
            for (size_t i = 0; i < stopped; i++)
                if (!threads[i].own && threads[i].sp >= m.lo && threads[i].sp < m.hi) {
                    hk_scan_root(threads[i].sp, m.hi);
                    has_thread = true;
                }
            /* A stack of no live thread holds only dead frames, unless some thread did not answer
             * and this may be its stack. A mapping is taken for a dead thread's stack only if it
             * has a thread descriptor at its top (glibc's cache of exited threads' stacks); one
             * that merely sits above a PROT_NONE page is ordinary memory, read whole. */
            bool whole = !has_thread && (!is_stack || not_stopped > 0 ||
                                         (!hk_scan_dead_stack(m.lo, m.hi) && strcmp(m.path, "[stack]") != 0));
            if (whole) hk_scan_root(m.lo, m.hi);
        }
        prev_storage = m;
        prev = &prev_storage;
    }
}

/* ------------------------------------------------------------------ modules */

static int hk_collect_module(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    if (hk_leak.module_count == HK_MODULES_MAX) return 1;
    uintptr_t lo, hi;
    hk_module_span(info, &lo, &hi);
    if (lo >= hi) return 0;
    bool ours = (uintptr_t)&hk_leak >= lo && (uintptr_t)&hk_leak < hi;
    const char *path = info->dlpi_name;
    static char exe[PATH_MAX];
    if (path == NULL || path[0] == '\0') {
        if (hk_leak.module_count != 0) return 0; /* the vDSO has no name either */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        path = exe;
    } else if (ours) {
        /* Our own data and bss: never roots (they hold only the allocator's bookkeeping). */
        for (int i = 0; i < info->dlpi_phnum && hk_leak.own_data_count < HK_OWN_DATA_MAX; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
                hk_leak.own_data[hk_leak.own_data_count++] =
                    (hk_range_t){info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz};
        }
    }
    size_t len = strlen(path);
    char *copy = hk_leak_scratch(len + 1);
    if (copy == NULL) return 1;
    memcpy(copy, path, len + 1);
    hk_leak.modules[hk_leak.module_count++] = (hk_module_t){lo, hi, info->dlpi_addr, copy};
    return 0;
}

/* Objects unloaded since a stack was recorded in them (module_history.c): listed after the loaded
 * ones, so a frame is put in the object that is there now when there is one. */
static void hk_add_unloaded_modules(void) {
    size_t count;
    const hk_module_t *history = hk_module_history(&count);
    size_t loaded = hk_leak.module_count;
    for (size_t i = 0; i < count && hk_leak.modules != NULL && hk_leak.module_count < HK_MODULES_MAX; i++) {
        bool still = false;
        for (size_t j = 0; j < loaded && !still; j++)
            still = hk_leak.modules[j].bias == history[i].bias && strcmp(hk_leak.modules[j].path, history[i].path) == 0;
        if (!still) hk_leak.modules[hk_leak.module_count++] = history[i];
    }
}

static void hk_exclude(uintptr_t lo, uintptr_t hi) {
    if (hk_leak.excluded_count == HK_EXCLUDED_MAX || lo >= hi) return;
    size_t i = hk_leak.excluded_count++;
    for (; i > 0 && hk_leak.excluded[i - 1].lo > lo; i--) hk_leak.excluded[i] = hk_leak.excluded[i - 1];
    hk_leak.excluded[i] = (hk_range_t){lo, hi};
}

/* The library's own memory that may lie in mappings the scan reads. */
static void hk_collect_exclusions(void) {
    hk_leak.excluded_count = 0;
    for (size_t i = 0; i < hk_leak.own_data_count; i++) hk_exclude(hk_leak.own_data[i].lo, hk_leak.own_data[i].hi);
    if (hk_leak.own_data_count == 0) { /* linked into the program: at least our biggest tables */
        uintptr_t map_lo, map_hi;
        hk_segmap_extent(&map_lo, &map_hi);
        hk_exclude(map_lo, map_hi);
        hk_exclude((uintptr_t)&hk_state, (uintptr_t)(&hk_state + 1));
        hk_exclude((uintptr_t)&hk_leak, (uintptr_t)(&hk_leak + 1));
    }
    uintptr_t bases[HK_HUGE_CACHE_EXTENTS];
    size_t sizes[HK_HUGE_CACHE_EXTENTS];
    size_t n = hk_huge_cache_extents(bases, sizes, HK_HUGE_CACHE_EXTENTS);
    for (size_t i = 0; i < n; i++) hk_exclude(bases[i], bases[i] + sizes[i]);
}

/* ------------------------------------------------------------------- checks */

static void hk_clear_mark(hk_track_rec_t *rec, uintptr_t user, size_t size) {
    (void)user;
    (void)size;
    rec->mark = HK_MARK_UNREACHED;
}

/* A doubtful block not reached from the roots (leak_free.c): what it reaches is doubtful too, so
 * the check errs on the side of missing a leak, for this check only. */
static void hk_walk_doubtful(hk_track_rec_t *rec, uintptr_t user, size_t size) {
    if (rec->mark != HK_MARK_DOUBTFUL) return;
    hk_mark_push(user, size, rec);
    hk_mark_drain();
}

static void hk_walk_clique(hk_track_rec_t *rec, uintptr_t user, size_t size) {
    if (rec->mark != HK_MARK_UNREACHED) return;
    rec->mark = HK_MARK_DEFINITE;
    hk_leak.leader = rec;
    hk_mark_push(user, size, rec);
    hk_mark_drain();
    hk_leak.leader = NULL;
}

static hk_leak_result_t *hk_result_in_progress;

static void hk_group_block(hk_track_rec_t *rec, uintptr_t user, size_t size) {
    static const hk_leak_kind_t kind_of_mark[] = {
        [HK_MARK_UNREACHED] = HK_LEAK_DEFINITE, [HK_MARK_POSSIBLE] = HK_LEAK_POSSIBLE,
        [HK_MARK_REACHABLE] = HK_LEAK_REACHABLE, [HK_MARK_INDIRECT] = HK_LEAK_INDIRECT,
        [HK_MARK_DEFINITE] = HK_LEAK_DEFINITE};
    if (rec->mark == HK_MARK_FREE || rec->mark == HK_MARK_DOUBTFUL) return; /* leak_free.c */
    hk_leak_kind_t kind = kind_of_mark[rec->mark];
    if (kind != HK_LEAK_REACHABLE) {
        if (rec->reported) return; /* listed by an earlier check */
        rec->reported = 1;
    }
    hk_leak_group_add(hk_result_in_progress, kind, rec, user, size);
}

/* The check proper. self_sp: where the live part of this thread's stack starts (the caller's
 * frames and the registers it spilled), 0 to leave this thread's stack out. */
/* The calling thread's registers, snapshot at the check's entry: only those the ABI keeps across
 * a call (x86-64: rbx, rbp, r12-r15) can hold the program's pointers there; the others hold what
 * the library's own code left in them (a block it just walked, say), which would keep a lost
 * block reachable. Elsewhere the whole context is scanned. */
static void hk_scan_own_registers(const ucontext_t *regs) {
#if defined(__x86_64__)
    static const int kept[] = {REG_RBX, REG_RBP, REG_R12, REG_R13, REG_R14, REG_R15};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        const greg_t *r = &regs->uc_mcontext.gregs[kept[i]];
        hk_scan_root((uintptr_t)r, (uintptr_t)(r + 1));
    }
#else
    hk_scan_root((uintptr_t)regs, (uintptr_t)(regs + 1));
#endif
}

/* The live guard blocks, into the check's scratch (the other threads are stopped). */
static void hk_collect_guard_blocks(void) {
    hk_leak.guard_count = 0;
    hk_leak.guard_lo = hk_leak.guard_hi = 0;
    size_t n = hk_guard_leak_count();
    hk_leak.guard = n > 0 ? hk_leak_scratch(n * sizeof *hk_leak.guard) : NULL;
    if (hk_leak.guard == NULL) return;
    hk_leak.guard_count = hk_guard_leak_blocks(hk_leak.guard, n);
    for (size_t i = 0; i < hk_leak.guard_count; i++) {
        if (i == 0 || hk_leak.guard[i].data_lo < hk_leak.guard_lo) hk_leak.guard_lo = hk_leak.guard[i].data_lo;
        if (hk_leak.guard[i].data_hi > hk_leak.guard_hi) hk_leak.guard_hi = hk_leak.guard[i].data_hi;
    }
}

/* Stop the other threads and wait until each stopped one noted where its stack is. */
static size_t hk_leak_stop(hk_stopped_thread_t **threads, size_t *not_stopped) {
    size_t stopped = hk_stop_world(threads, not_stopped);
    for (size_t i = 0; i < stopped; i++) {
        uint64_t deadline = hk_clock_ms() + HK_STOP_READY_WAIT_MS;
        while (!atomic_load_explicit(&(*threads)[i].ready, memory_order_acquire) && hk_clock_ms() < deadline) {
        }
    }
    return stopped;
}

static hk_noinline int hk_leak_run(const char *reason, uintptr_t self_sp, const ucontext_t *regs,
                                   hk_leak_summary_t *out) {
    pthread_mutex_lock(&hk_leak.lock);
    hk_leak_result_t result = {.reason = reason, .check = ++hk_leak.checks};
    hk_leak.modules = hk_leak_scratch(HK_MODULES_MAX * sizeof(hk_module_t));
    hk_leak.module_count = hk_leak.own_data_count = 0;
    if (hk_leak.modules != NULL) dl_iterate_phdr(hk_collect_module, NULL);
    hk_add_unloaded_modules();
    result.modules = hk_leak.modules;
    result.module_count = hk_leak.module_count;

    /* No thread may hold these while stopped: the segments lock (segments are unmapped under it) and
     * the huge cache. The order is the one fork uses. */
    pthread_mutex_lock(&hk_state.segments_lock);
    pthread_mutex_lock(&hk_state.huge_lock);
    hk_guard_leak_lock();
    hk_stopped_thread_t *threads;
    size_t stopped = hk_leak_stop(&threads, &result.not_stopped);
    /* Leak tracking alone: the marks are cleared and the free blocks coloured now (leak_free.c).
     * A page a stopped thread was changing does not add up: the threads go on for a moment and are
     * stopped again; with no other thread, nobody will finish the change (a forked child's copy). */
    bool cleared = false;
    for (unsigned tries = 1; hk_state.frees_plain; tries++) {
        hk_leak_each_block(hk_clear_mark);
        cleared = true;
        if (hk_leak_colour_free() == 0 || tries == HK_SETTLE_TRIES || stopped == 0) break;
        hk_start_world(stopped);
        struct timespec pause = {0, (long)tries * HK_SETTLE_PAUSE_US * 1000L};
        nanosleep(&pause, NULL);
        stopped = hk_leak_stop(&threads, &result.not_stopped);
    }
    char *maps = hk_read_maps();
    int rc = 0;
    if (maps == NULL) {
        hk_message("leak check skipped: /proc/self/maps cannot be read (is /proc mounted?)");
        rc = -1;
    } else {
        hk_collect_guard_blocks();
        hk_collect_exclusions();
        if (!cleared) hk_leak_each_block(hk_clear_mark); /* (no guard blocks under frees_plain) */
        if (regs != NULL) hk_scan_own_registers(regs);
        hk_mark_thread_descriptor((uintptr_t)__builtin_thread_pointer());
        for (size_t i = 0; i < stopped; i++) hk_mark_thread_descriptor(threads[i].tp);
        hk_scan_roots(maps, threads, stopped, result.not_stopped, self_sp);
        if (cleared) hk_leak_each_block(hk_walk_doubtful);
        hk_leak_each_block(hk_walk_clique);
        hk_result_in_progress = &result;
        hk_leak_each_block(hk_group_block);
        hk_result_in_progress = NULL;
        hk_guard_leak_done(hk_leak.guard, hk_leak.guard_count);
    }
    hk_leak.guard_count = 0;
    hk_leak.guard_lo = hk_leak.guard_hi = 0;
    /* The report counts the program's threads only, not the library's own. */
    result.stopped = stopped;
    for (size_t i = 0; i < stopped; i++) result.stopped -= threads[i].own;
    hk_start_world(stopped);
    hk_guard_leak_unlock();
    pthread_mutex_unlock(&hk_state.huge_lock);
    pthread_mutex_unlock(&hk_state.segments_lock);
    if (rc == 0) {
        hk_leak_groups_sort(&result);
        hk_leak_report(&result);
        hk_leak.checks = result.check;
        if (out != NULL) *out = result.summary;
    }
    hk_leak_scratch(0); /* its pages back: a program that checks now and then keeps none between */
    pthread_mutex_unlock(&hk_leak.lock);
    return rc;
}

/* The entry of every check. This thread's stack counts from `self_sp` up: the frame of the
 * program's call into the library (our own frames below it hold stale words, of the scan itself
 * or of whatever ran there before). Its registers come from a snapshot taken here: a pointer the
 * caller keeps only in a callee-saved register is still seen. self_sp 0: leave this thread out. */
static hk_noinline int hk_leak_enter(const char *reason, uintptr_t self_sp, hk_leak_summary_t *out) {
    ucontext_t regs;
    getcontext(&regs);
    return hk_leak_run(reason, self_sp, self_sp ? &regs : NULL, out);
}

HK_API hk_noinline int hk_leak_check(hk_leak_summary_t *out) {
    if (!hk_tracking()) {
        errno = ENOTSUP;
        return -1;
    }
    return hk_leak_enter("call", HK_CALLER_SP(), out);
}

/* caller_sp: the stack pointer of the destructor's caller: this thread's stack is scanned from there. */
hk_plain_path static void hk_leak_at_exit(uintptr_t caller_sp) {
    if (hk_tracking() && hk_process_ready())
        hk_leak_enter("exit", caller_sp, NULL);
}

/* -------------------------------------------------------- HEAPKIT_LEAK_SIGNAL */

static void hk_leak_signal_handler(int sig) {
    (void)sig;
    int saved = errno;
    sem_post(&hk_leak.signal_sem); /* async-signal-safe; the checker thread does the work */
    errno = saved;
}

static void *hk_leak_signal_main(void *arg) {
    (void)arg;
    for (;;) {
        while (sem_wait(&hk_leak.signal_sem) != 0) {
        }
        hk_leak_enter("signal", 0, NULL);
    }
    return NULL;
}

/* Called once the process is up (constructor): start the checker thread, then take the signal. */
hk_plain_path static void hk_leak_signal_setup(void) {
    int sig = (int)hk_state.options.leak_signal;
    if (!hk_tracking() || sig == 0) return;
    sem_init(&hk_leak.signal_sem, 0, 0);
    int err = hk_own_thread_start("heapkit-leaks", hk_leak_signal_main, 0); /* it takes no signal itself */
    if (err != 0) {
        hk_message("HEAPKIT_LEAK_SIGNAL: cannot start the checker thread (error %d); no checks on signal", err);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hk_leak_signal_handler;
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, NULL);
}

/* Tracking on, and the check's scratch reserved while address space is still to be had. */
hk_plain_path static void hk_leak_install(void) {
    hk_track_install();
    if (hk_state.options.leaks && !hk_leak_scratch_reserve())
        hk_message("cannot reserve memory for the leak check: there will be no leak report");
}

HK_SUBSYSTEM(leak, HK_SUBSYSTEM_LEAK, .init = hk_leak_install, .start = hk_leak_signal_setup, .at_exit = hk_leak_at_exit);
HK_LOCK(leak_check, HK_LOCK_LEAK_CHECK, &hk_leak.lock);
