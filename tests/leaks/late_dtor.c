/* late_dtor.c — memory that libraries free in their destructors is not a leak: a linked library
 * (late_dtor_linked.so, loaded after a preloaded heapkit) and a dlopen'ed one
 * (late_dtor_plugin.so, never closed) each keep blocks whose pointers no scan can see and free
 * them in their destructors, which run at exit after the program's. The exit check must run after
 * every destructor (Valgrind checks after all of them), so nothing is lost. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "leak_util.h"

void late_keep(size_t size); /* late_dtor_linked.so */

LK_FN static void *open_beside_me(const char *name) {
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

LK_FN void keep_in_plugin(void) {
    void *h = open_beside_me("late_dtor_plugin.so");
    void (*keep)(size_t) = (void (*)(size_t))dlsym(h, "late_keep");
    LK_CHECK(keep != NULL);
    keep(333);
    keep(444);
}

int main(void) {
    late_keep(111);
    late_keep(222);
    keep_in_plugin();
    lk_scrub_stack();
    return 0;
}
