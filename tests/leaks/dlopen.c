/* dlopen.c — leaks in a dlopen'ed shared object: leak_dso_a.so (next to this program) loses five
 * 64-byte blocks and keeps a 512-byte one in its .bss (still reachable: the object stays loaded).
 * leak_dso_b.so does the same keeping and is then dlclose'd: its .bss is gone, so that block is
 * definitely lost. heapkit names its frames in the unloaded object too (it keeps the object's path
 * and load address: std_leak_unloaded checks that); memcheck does not, so the expectation names
 * this program's frame only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "leak_util.h"

static void *open_beside_me(const char *name) {
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    LK_CHECK(n > 0);
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    LK_CHECK(slash != NULL && (size_t)(slash + 1 - path) + strlen(name) < sizeof path);
    strcpy(slash + 1, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        exit(99);
    }
    return h;
}

LK_FN void leak_in_module(void) {
    void *h = open_beside_me("leak_dso_a.so");
    void (*leak)(int) = (void (*)(int))dlsym(h, "dso_leak");
    void (*keep)(void) = (void (*)(void))dlsym(h, "dso_keep");
    LK_CHECK(leak != NULL && keep != NULL);
    leak(5);
    keep();
}

LK_FN void keep_in_closed_module(void) {
    void *h = open_beside_me("leak_dso_b.so");
    void (*keep)(void) = (void (*)(void))dlsym(h, "dso_keep");
    LK_CHECK(keep != NULL);
    keep();
    LK_CHECK(dlclose(h) == 0);
}

int main(void) {
    leak_in_module();
    keep_in_closed_module();
    lk_scrub_stack();
    return 0;
}
