/* arena_errors.c — arena misuse and debug mode, each case in a child process: rewinding to a mark
 * from before a reset or past where an earlier rewind left the arena (one message, ignored, the
 * arena still works); with HEAPKIT_LEAKS=1, an unlocked arena used from a thread that does not own
 * it (reported, refused) and handed over with hk_arena_set_owner (accepted), memory taken back by
 * reset and rewind filled with 0xdd, and an arena never destroyed reported by name at exit. In an
 * AddressSanitizer build, a use after reset, after rewind, and of a freed pool object must be
 * caught by ASan itself (the child dies with its report). */
#define _GNU_SOURCE
#include "pool_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define PT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PT_ASAN 1
#endif
#endif
#ifdef PT_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* After the misuse: the arena hands out intact, distinct memory. */
static int still_works(hk_arena_t *a) {
    char *s[200];
    for (int i = 0; i < 200; i++) {
        s[i] = hk_arena_printf(a, "string %d", i);
        if (s[i] == NULL) return 40;
    }
    for (int i = 0; i < 200; i++) {
        char want[32];
        snprintf(want, sizeof want, "string %d", i);
        if (strcmp(s[i], want) != 0) return 41;
    }
    return 0;
}

typedef struct handoff_s {
    hk_arena_t *arena;
    void *got_alloc, *got_strdup;
    bool adopt;
} handoff_t;

static void *other_thread_main(void *arg) {
    handoff_t *h = arg;
    if (h->adopt) hk_arena_set_owner(h->arena);
    h->got_alloc = hk_arena_alloc(h->arena, 32);
    h->got_strdup = hk_arena_strdup(h->arena, "from another thread");
    return NULL;
}

static hk_arena_t *volatile g_kept_arena; /* volatile: the store must not be optimised away */

/* The arena is made and lost in a thread that then exits: no stale copy of its address can stay
 * in a live stack or register (the leak scan skips the stacks of threads that are gone). */
static void *lose_arena_main(void *arg) {
    (void)arg;
    hk_arena_t *a = hk_arena_create("forgotten-arena", NULL, 0);
    for (int i = 0; i < 100; i++) memset(hk_arena_alloc(a, 200), 0x5a, 200);
    return NULL;
}

/* Memory the arena took back: filled with v (in an ASan build also poisoned; looked at through
 * an unpoisoned window, poisoned again after). */
static bool all_bytes(const uint8_t *p, size_t n, uint8_t v) {
#ifdef PT_ASAN
    if (__asan_region_is_poisoned((void *)(uintptr_t)p, n) != p) return false;
    __asan_unpoison_memory_region(p, n);
    bool same = true;
    for (size_t i = 0; i < n; i++) same = same && p[i] == v;
    __asan_poison_memory_region(p, n);
    return same;
#endif
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return false;
    return true;
}

static int child(const char *name) {
    hk_arena_t *a = hk_arena_create("marks", NULL, 0);
    if (a == NULL) return 30;
    if (strcmp(name, "dead_mark_reset") == 0) {
        hk_arena_mark_t m = hk_arena_mark(a);
        memset(hk_arena_alloc(a, 100), 1, 100);
        hk_arena_reset(a);
        hk_arena_rewind(a, m);
        return still_works(a);
    }
    if (strcmp(name, "dead_mark_ahead") == 0) {
        hk_arena_mark_t m1 = hk_arena_mark(a);
        for (int i = 0; i < 200; i++) memset(hk_arena_alloc(a, 100), 1, 100); /* into a later chunk */
        hk_arena_mark_t m2 = hk_arena_mark(a);
        hk_arena_rewind(a, m1);
        hk_arena_rewind(a, m2); /* the arena no longer reaches m2's chunk */
        return still_works(a);
    }
    if (strcmp(name, "wrong_thread") == 0 || strcmp(name, "handed_over") == 0) {
        handoff_t h = {a, NULL, NULL, strcmp(name, "handed_over") == 0};
        pthread_t t;
        pthread_create(&t, NULL, other_thread_main, &h);
        pthread_join(t, NULL);
        if (h.adopt) {
            if (h.got_alloc == NULL || h.got_strdup == NULL) return 42;
            hk_arena_set_owner(a); /* and back */
        } else if (h.got_alloc != NULL || h.got_strdup != NULL) {
            return 43; /* refused */
        }
        return still_works(a);
    }
    if (strcmp(name, "fill_on_reset") == 0) {
        /* laundered: the compiler may not assume the memory is the program's alone (malloc attribute) */
        uint8_t *p = hkt_launder(hk_arena_alloc(a, 64));
        memset(p, 0x11, 64);
        hk_arena_reset(a); /* the first chunk stays: p is still mapped, and filled */
        if (!all_bytes(p, 64, 0xdd)) return 44;
        hk_arena_mark_t m = hk_arena_mark(a);
        uint8_t *q = hkt_launder(hk_arena_alloc(a, 100));
        memset(q, 0x22, 100);
        hk_arena_rewind(a, m);
        if (!all_bytes(q, 100, 0xdd)) return 45;
        return still_works(a);
    }
    if (strcmp(name, "forgotten") == 0) {
        g_kept_arena = a; /* reachable: not reported */
        pthread_t t;
        pthread_create(&t, NULL, lose_arena_main, NULL);
        pthread_join(t, NULL);
        return 0;
    }
#ifdef PT_ASAN
    if (strcmp(name, "asan_after_reset") == 0) {
        volatile uint8_t *p = hk_arena_alloc(a, 64);
        p[0] = 1;
        hk_arena_reset(a);
        return p[8]; /* ASan must stop the program here */
    }
    if (strcmp(name, "asan_after_rewind") == 0) {
        hk_arena_mark_t m = hk_arena_mark(a);
        volatile char *s = hk_arena_strdup(a, "rewound away");
        hk_arena_rewind(a, m);
        return s[3];
    }
    if (strcmp(name, "asan_pool_after_free") == 0) {
        hk_pool_t *pool = hk_pool_create("poisoned", 64, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
        volatile uint8_t *o = hk_pool_alloc(pool);
        o[20] = 5;
        hk_pool_free(pool, (void *)o);
        return o[20];
    }
#endif
    return 99;
}

#define LEAKS "HEAPKIT_LEAKS=1"

static const pt_case_t k_cases[] = {
    {"dead_mark_reset", NULL, {"the mark is dead", "hk_arena_rewind(arena 'marks')", "ignored"}, NULL, 0, false, false},
    {"dead_mark_ahead", NULL, {"the mark is dead", "hk_arena_rewind(arena 'marks')"}, NULL, 0, false, false},
    {"wrong_thread", LEAKS, {"hk_arena_alloc(arena 'marks'): called from a thread that does not own", "ignored"},
     "hk_arena_strdup(arena 'marks'): called from a thread that does not own", 0, false, false},
    {"handed_over", LEAKS, {NULL}, NULL, 0, false, false},
    {"fill_on_reset", LEAKS, {NULL}, NULL, 0, false, false},
    {"forgotten", LEAKS, {NULL}, "definitely lost in 'forgotten-arena'", 0, false, false},
#ifdef PT_ASAN
    {"asan_after_reset", NULL, {NULL}, "AddressSanitizer: use-after-poison", 0, false, true},
    {"asan_after_rewind", NULL, {NULL}, "AddressSanitizer: use-after-poison", 0, false, true},
    {"asan_pool_after_free", NULL, {NULL}, "AddressSanitizer: use-after-poison", 0, false, true},
#endif
};

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
    hkt_begin("arena_errors", 300);
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        hkt_note("case %s%s%s", k_cases[i].name, k_cases[i].env ? " with " : "", k_cases[i].env ? k_cases[i].env : "");
        pt_run(&k_cases[i]);
    }
    /* without debug mode nothing checks the owner: no message, the call works */
    static char out[16384];
    char *argv2[] = {(char *)"self", (char *)"child", (char *)"handed_over", NULL};
    int status = hkt_run_self(argv2, NULL, 60, out, sizeof out);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "heapkit:") == NULL,
           "handed_over without debug mode: status %#x, output:\n%s", (unsigned)status, out);
    return hkt_done();
}
