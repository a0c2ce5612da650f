/* odd_roots.c — blocks whose only pointers live in memory a program may keep pointers in but the
 * leak scan once skipped: a MAP_SHARED anonymous page, a shared memfd mapping, a private mapping
 * of /dev/zero, and an anonymous mapping that sits right above a PROT_NONE page (the shape of a
 * thread stack, though no thread ever ran there). The memfd is cut short after it is mapped, so
 * its second page is past the file's end. All four are still reachable, as Valgrind says;
 * a fifth block is lost, to show the scan still finds leaks. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "leak_util.h"

#define PAGE 4096

static void *volatile g_maps[4]; /* the mappings themselves are reachable; the blocks are not in here */

LK_FN static void **map_shared_anon(void) {
    void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    LK_CHECK(m != MAP_FAILED);
    return m;
}

/* Two pages mapped, then the file cut to one: touching the second page would raise SIGBUS, so
 * a scan must read such memory in a way that survives it. */
LK_FN static void **map_memfd(void) {
    int fd = memfd_create("odd_roots", MFD_CLOEXEC);
    LK_CHECK(fd >= 0 && ftruncate(fd, 2 * PAGE) == 0);
    void *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    LK_CHECK(m != MAP_FAILED && ftruncate(fd, PAGE) == 0);
    close(fd);
    return m;
}

LK_FN static void **map_dev_zero(void) {
    int fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
    LK_CHECK(fd >= 0);
    void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    LK_CHECK(m != MAP_FAILED);
    close(fd);
    return m;
}

/* Two pages: the lower one made PROT_NONE, the upper one holds the pointer. */
LK_FN static void **map_above_guard(void) {
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    LK_CHECK(m != MAP_FAILED && mprotect(m, PAGE, PROT_NONE) == 0);
    return (void **)(m + PAGE);
}

LK_FN void keep_in_shared_anon(void) { (g_maps[0] = map_shared_anon(), ((void **)g_maps[0])[3] = lk_alloc(101)); }
LK_FN void keep_in_memfd(void) { (g_maps[1] = map_memfd(), ((void **)g_maps[1])[5] = lk_alloc(102)); }
LK_FN void keep_in_dev_zero(void) { (g_maps[2] = map_dev_zero(), ((void **)g_maps[2])[7] = lk_alloc(103)); }
LK_FN void keep_above_guard(void) { (g_maps[3] = map_above_guard(), ((void **)g_maps[3])[9] = lk_alloc(104)); }

LK_FN void lose_one(void) {
    void *volatile p = lk_alloc(105);
    (void)p;
}

int main(void) {
    keep_in_shared_anon();
    keep_in_memfd();
    keep_in_dev_zero();
    keep_above_guard();
    lose_one();
    lk_scrub_stack();
    return 0;
}
