/* std_early.c — allocation outside main: in constructors (this program's and a preloaded
 * library's that runs before heapkit is initialised), in atexit handlers and destructors.
 * The test runs itself as a child and checks the child's report and exit status. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

static char *ctor_block;
static int ctor_status = -1;

__attribute__((constructor(101))) static void early_ctor(void) {
    int st = 0;
    ctor_block = malloc(256);
    if (!ctor_block) st |= 1;
    else strcpy(ctor_block, "allocated in a constructor");
    char *s = strdup("constructor strdup");
    if (!s) st |= 2;
    free(s);
    void *p = NULL;
    if (posix_memalign(&p, 4096, 10000) != 0 || ((uintptr_t)p & 4095)) st |= 4;
    free(p);
    ctor_status = st;
}

static char *atexit_block;

static void report(const char *msg) {
    ssize_t w = write(1, msg, strlen(msg));
    (void)w;
}

static void last_handler(void) {
    /* registered first, runs last: frees what an earlier handler allocated */
    if (!atexit_block || strcmp(atexit_block, "from atexit") != 0) _exit(41);
    free(atexit_block);
    void *p = malloc(100000);
    if (!p) _exit(42);
    memset(p, 1, 100000);
    free(p);
    report("atexit-last ok\n");
}

static void first_handler(void) {
    atexit_block = malloc(64);
    if (!atexit_block) _exit(43);
    strcpy(atexit_block, "from atexit");
    for (int i = 0; i < 10000; i++) {
        void *p = malloc((size_t)i % 5000 + 1);
        if (!p) _exit(44);
        free(p);
    }
    report("atexit-first ok\n");
}

__attribute__((destructor)) static void late_dtor(void) {
    char *p = calloc(10, 1000);
    if (!p) _exit(45);
    for (int i = 0; i < 10000; i++)
        if (p[i]) _exit(46);
    p = realloc(p, 200000);
    if (!p) _exit(47);
    free(p);
    report("destructor ok\n");
}

static int child_main(void) {
    hkt_check_running_on_heapkit();
    if (ctor_status != 0) {
        printf("constructor status %d\n", ctor_status);
        return 1;
    }
    if (strcmp(ctor_block, "allocated in a constructor") != 0) return 2;
    const hkt_heapkit_t *hk = hkt_heapkit();
    if (hk->present && !hk->owns(ctor_block)) {
        printf("constructor block %p not owned by heapkit\n", (void *)ctor_block);
        return 3;
    }
    free(ctor_block);
    /* the preloaded library's constructor, if it is there */
    char *(*lib_block)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "hkt_early_block");
    int (*lib_status)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "hkt_early_status");
    if (lib_block && lib_status) {
        if (lib_status() != 0) {
            printf("preloaded library constructor status %d\n", lib_status());
            return 4;
        }
        char *b = lib_block();
        if (!b || strcmp(b, "made before main") != 0) return 5;
        if (hk->present && !hk->owns(b)) return 6;
        b = realloc(b, 100000);
        if (!b || strcmp(b, "made before main") != 0) return 7;
        free(b);
        printf("early library ok\n");
    } else {
        printf("early library not loaded\n");
    }
    atexit(last_handler);
    atexit(first_handler);
    printf("main ok\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child_main();
    hkt_begin("std_early", 60);
    static char out[1 << 14];
    char child_arg[] = "child";
    char *args[] = {argv[0], child_arg, NULL};
    int st = hkt_run_self(args, NULL, 30, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x, output:\n%s", st, out);
    CHECKF(strstr(out, "main ok"), "child did not reach the end of main:\n%s", out);
    CHECKF(strstr(out, "atexit-first ok") && strstr(out, "atexit-last ok"), "atexit handlers failed:\n%s", out);
    CHECKF(strstr(out, "destructor ok"), "destructor failed:\n%s", out);
    /* the ctest registration preloads hkt_early_lib after heapkit; it must have been exercised */
    const char *want_lib = getenv("HKT_EXPECT_EARLY_LIB");
    if (want_lib && strcmp(want_lib, "1") == 0)
        CHECKF(strstr(out, "early library ok"), "preloaded early library was not exercised:\n%s", out);
    return hkt_done();
}
