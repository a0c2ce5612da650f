/* late_dtor.c — memory that libraries free in their destructors is not a leak: a linked library
 * (late_dtor_linked.so, loaded after a preloaded heapkit) and a dlopen'ed one
 * (late_dtor_plugin.so, never closed) each keep blocks whose pointers no scan can see and free
 * them in their destructors, which run at exit after the program's. The exit check must run after
 * every destructor (Valgrind checks after all of them), so nothing is lost. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "open_beside.h"

void late_keep(size_t size); /* late_dtor_linked.so */

LK_FN void keep_in_plugin(void) {
    void *h = lk_open_beside_me("late_dtor_plugin.so");
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
