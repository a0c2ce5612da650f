/* cxx_new.c — C++'s replaceable operator new and delete (every standard form: plain, nothrow,
 * sized, aligned, array), exported under their Itanium ABI names in the builds that replace malloc,
 * so C++ programs allocate straight from heapkit instead of through libstdc++'s operator new.
 * C, not C++: the library links no C++ runtime. What only the runtime can do — call the program's
 * new-handler and throw std::bad_alloc — is left to the next definition of the same operator
 * (libstdc++'s, found with dlsym(RTLD_NEXT)) once heapkit has failed: it retries through malloc,
 * which is heapkit again, and so keeps the standard's semantics exactly. The fast paths of malloc
 * and free are inlined into the operators (alloc_fast.h): no call through the PLT per new or delete.
 * Behind the text (hk_rare_path) go only the forms a program seldom calls: nothrow delete (run
 * when a constructor throws) and the aligned nothrow forms; aligned new and delete serve every
 * over-aligned type, nothrow new std::get_temporary_buffer (stable_sort and its kin). Each
 * operator's misses tell heap checking its family (new, new[]), for the mismatched free report. */
#include "alloc_fast.h"
#include "hooks.h"

#include <dlfcn.h>
#include <stdlib.h>

/* hooks.h: the family of the call under way (0 outside the C++ operators' observed misses). */
hk_internal __thread uint8_t hk_api_family __attribute__((tls_model("initial-exec")));

#if HK_OVERRIDE

/* ------------------------------------------------------------ the family of a call
 * Heap checking's front is set only with hk_state.observed, which keeps every allocation and
 * free off the fast paths: only the operators' misses ask for it, and tell it the operator. */

void *hk_malloc_missed_as(size_t size, hk_heap_t *heap, uint8_t family) {
    if (hk_likely(hk_front() == NULL)) return hk_malloc_generic(size, heap, false);
    hk_api_family = family;
    void *p = hk_malloc_generic(size, heap, false);
    hk_api_family = 0; /* the front took it, unless it was not reached */
    return p;
}

/* The misses of hk_free_in_segment (p's segment is in the heap's table) and of hk_free_inline. */
static inline __attribute__((always_inline)) void hk_free_missed_as(void *p, hk_segment_t *seg, hk_heap_t *heap,
                                                                     uint8_t family) {
    bool front = hk_front() != NULL;
    if (hk_unlikely(front)) hk_api_family = family;
    if (seg != NULL) hk_free_slow(p, seg, heap);
    else hk_free_not_owned(p, heap);
    if (hk_unlikely(front)) hk_api_family = 0;
}
void hk_free_slow_delete(void *p, hk_segment_t *seg, hk_heap_t *heap) {
    hk_free_missed_as(p, seg, heap, HK_FAMILY_NEW);
}
void hk_free_slow_delete_array(void *p, hk_segment_t *seg, hk_heap_t *heap) {
    hk_free_missed_as(p, seg, heap, HK_FAMILY_NEW_ARRAY);
}
void hk_free_not_owned_delete(void *p, hk_heap_t *heap) { hk_free_missed_as(p, NULL, heap, HK_FAMILY_NEW); }
void hk_free_not_owned_delete_array(void *p, hk_heap_t *heap) {
    hk_free_missed_as(p, NULL, heap, HK_FAMILY_NEW_ARRAY);
}

/* The mangled names are the ABI; declared here because nothing else declares them. */
#define HK_CXX __attribute__((visibility("default"), used))

/* std::align_val_t and std::nothrow_t as the ABI passes them: a size_t, and a reference. */
typedef size_t hk_align_val_t;
typedef const struct hk_nothrow_s hk_nothrow_t;

/* Alignments the size classes already give (new's default is __STDCPP_DEFAULT_NEW_ALIGNMENT__, 16). */
#define HK_CXX_FREE_ALIGN HK_BLOCK_ALIGN

/* ------------------------------------------------------------ the runtime's part */

/* The next definition of an operator (the C++ runtime's), or NULL when there is none: a program
 * that calls operator new has a runtime, but a static link may put it before heapkit. */
static void *hk_cxx_next(const char *mangled) { return dlsym(RTLD_NEXT, mangled); }

/* A throwing new that heapkit could not serve and no runtime can finish: the standard wants an
 * exception only a C++ runtime can throw, so say what happened and stop, as a runtime built
 * without exceptions does. */
static hk_cold _Noreturn void hk_cxx_no_runtime(const char *what, size_t size) {
    hk_error("%s(%zu): out of memory, and no C++ runtime after heapkit to throw std::bad_alloc; aborting", what, size);
    abort();
}

typedef void *(*hk_cxx_new_t)(size_t);
typedef void *(*hk_cxx_new_nothrow_t)(size_t, hk_nothrow_t *);
typedef void *(*hk_cxx_new_aligned_t)(size_t, hk_align_val_t);
typedef void *(*hk_cxx_new_aligned_nothrow_t)(size_t, hk_align_val_t, hk_nothrow_t *);

/* heapkit failed: the runtime's operator runs the new-handler loop (through malloc, so heapkit
 * serves any retry) and throws std::bad_alloc (or returns NULL, for the nothrow forms). */
/* The runtime's retry through malloc allocates for this operator: heap checking is told so (its
 * first try only; a new-handler's later ones count as malloc's). */
static inline void hk_cxx_retry_family(const char *mangled) {
    if (hk_front() != NULL) hk_api_family = mangled[3] == 'a' ? HK_FAMILY_NEW_ARRAY : HK_FAMILY_NEW; /* _Zna / _Znw */
}

static hk_noinline hk_rare_path void *hk_cxx_new_failed(const char *mangled, const char *what, size_t size) {
    hk_cxx_new_t next = (hk_cxx_new_t)hk_cxx_next(mangled);
    if (next == NULL) hk_cxx_no_runtime(what, size);
    hk_cxx_retry_family(mangled);
    void *p = next(size);
    hk_api_family = 0;
    return p;
}

static hk_noinline hk_rare_path void *hk_cxx_new_nothrow_failed(const char *mangled, size_t size, hk_nothrow_t *tag) {
    hk_cxx_new_nothrow_t next = (hk_cxx_new_nothrow_t)hk_cxx_next(mangled);
    if (next == NULL) return NULL; /* errno is ENOMEM */
    hk_cxx_retry_family(mangled);
    void *p = next(size, tag);
    hk_api_family = 0;
    return p;
}

static hk_noinline hk_rare_path void *hk_cxx_new_aligned_failed(const char *mangled, const char *what, size_t size,
                                                   hk_align_val_t align) {
    hk_cxx_new_aligned_t next = (hk_cxx_new_aligned_t)hk_cxx_next(mangled);
    if (next == NULL) hk_cxx_no_runtime(what, size);
    hk_cxx_retry_family(mangled);
    void *p = next(size, align);
    hk_api_family = 0;
    return p;
}

static hk_noinline hk_rare_path void *hk_cxx_new_aligned_nothrow_failed(const char *mangled, size_t size,
                                                                        hk_align_val_t align, hk_nothrow_t *tag) {
    hk_cxx_new_aligned_nothrow_t next = (hk_cxx_new_aligned_nothrow_t)hk_cxx_next(mangled);
    if (next == NULL) return NULL;
    hk_cxx_retry_family(mangled);
    void *p = next(size, align, tag);
    hk_api_family = 0;
    return p;
}

/* An aligned block for the aligned forms; NULL on failure (a bad alignment included: the runtime's
 * operator then decides, as the standard leaves it undefined). */
static hk_noinline void *hk_cxx_aligned_big(size_t size, hk_align_val_t align, uint8_t family) {
    if (hk_likely(hk_front() == NULL)) return hk_aligned_alloc(align, size);
    hk_api_family = family;
    void *p = hk_aligned_alloc(align, size);
    hk_api_family = 0;
    return p;
}

static inline void *hk_cxx_aligned(size_t size, hk_align_val_t align, uint8_t family) {
    if (align <= HK_CXX_FREE_ALIGN) return hk_malloc_inline_as(size, family);
    return hk_cxx_aligned_big(size, align, family);
}

/* -------------------------------------------------------------------- new */

/* operator new(size_t) */
HK_CXX void *_Znwm(size_t size);
void *_Znwm(size_t size) {
    void *p = hk_malloc_inline_as(size, HK_FAMILY_NEW);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_failed("_Znwm", "operator new", size);
}

/* operator new[](size_t) */
HK_CXX void *_Znam(size_t size);
void *_Znam(size_t size) {
    void *p = hk_malloc_inline_as(size, HK_FAMILY_NEW_ARRAY);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_failed("_Znam", "operator new[]", size);
}

/* operator new(size_t, const std::nothrow_t &) */
HK_CXX void *_ZnwmRKSt9nothrow_t(size_t size, hk_nothrow_t *tag);
void *_ZnwmRKSt9nothrow_t(size_t size, hk_nothrow_t *tag) {
    void *p = hk_malloc_inline_as(size, HK_FAMILY_NEW);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_nothrow_failed("_ZnwmRKSt9nothrow_t", size, tag);
}

/* operator new[](size_t, const std::nothrow_t &) */
HK_CXX void *_ZnamRKSt9nothrow_t(size_t size, hk_nothrow_t *tag);
void *_ZnamRKSt9nothrow_t(size_t size, hk_nothrow_t *tag) {
    void *p = hk_malloc_inline_as(size, HK_FAMILY_NEW_ARRAY);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_nothrow_failed("_ZnamRKSt9nothrow_t", size, tag);
}

/* operator new(size_t, std::align_val_t) */
HK_CXX void *_ZnwmSt11align_val_t(size_t size, hk_align_val_t align);
void *_ZnwmSt11align_val_t(size_t size, hk_align_val_t align) {
    void *p = hk_cxx_aligned(size, align, HK_FAMILY_NEW);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_aligned_failed("_ZnwmSt11align_val_t", "operator new", size, align);
}

/* operator new[](size_t, std::align_val_t) */
HK_CXX void *_ZnamSt11align_val_t(size_t size, hk_align_val_t align);
void *_ZnamSt11align_val_t(size_t size, hk_align_val_t align) {
    void *p = hk_cxx_aligned(size, align, HK_FAMILY_NEW_ARRAY);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_aligned_failed("_ZnamSt11align_val_t", "operator new[]", size, align);
}

/* operator new(size_t, std::align_val_t, const std::nothrow_t &) */
HK_CXX void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, hk_align_val_t align, hk_nothrow_t *tag);
hk_rare_path void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, hk_align_val_t align, hk_nothrow_t *tag) {
    void *p = hk_cxx_aligned(size, align, HK_FAMILY_NEW);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_aligned_nothrow_failed("_ZnwmSt11align_val_tRKSt9nothrow_t", size, align, tag);
}

/* operator new[](size_t, std::align_val_t, const std::nothrow_t &) */
HK_CXX void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, hk_align_val_t align, hk_nothrow_t *tag);
hk_rare_path void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, hk_align_val_t align, hk_nothrow_t *tag) {
    void *p = hk_cxx_aligned(size, align, HK_FAMILY_NEW_ARRAY);
    if (hk_likely(p != NULL)) return p;
    return hk_cxx_new_aligned_nothrow_failed("_ZnamSt11align_val_tRKSt9nothrow_t", size, align, tag);
}

/* ----------------------------------------------------------------- delete
 * The sized forms pass the size on as free_sized does, so heap checking reports a delete whose
 * size is not the block's; the aligned ones need nothing more, as heapkit's free finds the block
 * start of an aligned pointer itself. Each tells its family on its misses (hk_free_inline_as). */

#define HK_DELETE HK_FAMILY_NEW
#define HK_DELETE_ARRAY HK_FAMILY_NEW_ARRAY

HK_CXX void _ZdlPv(void *p);
void _ZdlPv(void *p) { hk_free_inline_as(p, HK_DELETE); } /* operator delete(void *) */
HK_CXX void _ZdaPv(void *p);
void _ZdaPv(void *p) { hk_free_inline_as(p, HK_DELETE_ARRAY); } /* operator delete[](void *) */
/* The size matters only to heap checking's front, which observes every page, so that the free
 * fast path never serves a block under it: the front is asked first, one load and compare. */
static hk_noinline hk_rare_path void hk_cxx_delete_checked(void *p, size_t size, uint8_t family) {
    hk_api_family = family;
    hk_free_sized(p, size);
    hk_api_family = 0;
}
/* The aligned forms (over-aligned types, seldom deleted) share one copy of delete's path, out of
 * line: a whole copy each, now that the array forms differ from the others by their family,
 * would not fit a plain process's text in its 64 KiB (std_plain_text). */
static hk_noinline void hk_cxx_delete_aligned(void *p, size_t size, bool sized, uint8_t family) {
    if (hk_unlikely(hk_front() != NULL)) {
        hk_api_family = family;
        if (sized) hk_free_sized(p, size);
        else hk_free(p);
        hk_api_family = 0;
        return;
    }
    hk_free_inline(p);
}
static inline __attribute__((always_inline)) void hk_cxx_delete_sized(void *p, size_t size, uint8_t family) {
    if (hk_unlikely(hk_front() != NULL)) hk_cxx_delete_checked(p, size, family);
    else hk_free_inline(p);
}
HK_CXX void _ZdlPvm(void *p, size_t size);
void _ZdlPvm(void *p, size_t size) { hk_cxx_delete_sized(p, size, HK_DELETE); } /* operator delete(void *, size_t) */
HK_CXX void _ZdaPvm(void *p, size_t size);
/* operator delete[](void *, size_t) */
void _ZdaPvm(void *p, size_t size) { hk_cxx_delete_sized(p, size, HK_DELETE_ARRAY); }
HK_CXX void _ZdlPvRKSt9nothrow_t(void *p, hk_nothrow_t *tag);
hk_rare_path void _ZdlPvRKSt9nothrow_t(void *p, hk_nothrow_t *tag) {
    (void)tag;
    hk_free_inline_as(p, HK_DELETE);
}
HK_CXX void _ZdaPvRKSt9nothrow_t(void *p, hk_nothrow_t *tag);
hk_rare_path void _ZdaPvRKSt9nothrow_t(void *p, hk_nothrow_t *tag) {
    (void)tag;
    hk_free_inline_as(p, HK_DELETE_ARRAY);
}

HK_CXX void _ZdlPvSt11align_val_t(void *p, hk_align_val_t align);
void _ZdlPvSt11align_val_t(void *p, hk_align_val_t align) {
    (void)align;
    hk_cxx_delete_aligned(p, 0, false, HK_DELETE);
}
HK_CXX void _ZdaPvSt11align_val_t(void *p, hk_align_val_t align);
void _ZdaPvSt11align_val_t(void *p, hk_align_val_t align) {
    (void)align;
    hk_cxx_delete_aligned(p, 0, false, HK_DELETE_ARRAY);
}
HK_CXX void _ZdlPvmSt11align_val_t(void *p, size_t size, hk_align_val_t align);
void _ZdlPvmSt11align_val_t(void *p, size_t size, hk_align_val_t align) {
    (void)align;
    hk_cxx_delete_aligned(p, size, true, HK_DELETE);
}
HK_CXX void _ZdaPvmSt11align_val_t(void *p, size_t size, hk_align_val_t align);
void _ZdaPvmSt11align_val_t(void *p, size_t size, hk_align_val_t align) {
    (void)align;
    hk_cxx_delete_aligned(p, size, true, HK_DELETE_ARRAY);
}
HK_CXX void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, hk_align_val_t align, hk_nothrow_t *tag);
hk_rare_path void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, hk_align_val_t align, hk_nothrow_t *tag) {
    (void)align;
    (void)tag;
    hk_free_inline_as(p, HK_DELETE);
}
HK_CXX void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, hk_align_val_t align, hk_nothrow_t *tag);
hk_rare_path void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, hk_align_val_t align, hk_nothrow_t *tag) {
    (void)align;
    (void)tag;
    hk_free_inline_as(p, HK_DELETE_ARRAY);
}

#endif /* HK_OVERRIDE */
