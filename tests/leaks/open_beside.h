/* open_beside.h — for the leak corpus programs that load plugins: dlopen() of a shared object
 * built beside the program (a header of its own: the static corpus program must not pull in dlopen). */
#ifndef LEAK_OPEN_BESIDE_H
#define LEAK_OPEN_BESIDE_H

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "leak_util.h"

/* dlopen()s the shared object `name` found in the directory of this program (RTLD_NOW). */
LK_FN static void *lk_open_beside_me(const char *name) {
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

#endif
