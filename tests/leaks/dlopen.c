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

#include "open_beside.h"

LK_FN void leak_in_module(void) {
    void *h = lk_open_beside_me("leak_dso_a.so");
    void (*leak)(int) = (void (*)(int))dlsym(h, "dso_leak");
    void (*keep)(void) = (void (*)(void))dlsym(h, "dso_keep");
    LK_CHECK(leak != NULL && keep != NULL);
    leak(5);
    keep();
}

LK_FN void keep_in_closed_module(void) {
    void *h = lk_open_beside_me("leak_dso_b.so");
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
