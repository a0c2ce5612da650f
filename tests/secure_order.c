/* secure_order.c — the hardened mode's randomized allocation order (HEAPKIT_SECURE=1): blocks
 * carved from a fresh page come out in an order that says nothing of where they lie, and that
 * differs from one process to the next (the shuffle's generator is seeded from getrandom, not
 * from anything two runs share). A child allocates blocks of one size class no one used before
 * and prints where each lies (its index among them by address); the parent runs it hardened
 * twice and in the default mode once. The default must come out in address order (which shows
 * the test sees the carving order at all); each hardened run must hand out few address
 * neighbours one after the other (a uniform shuffle of ~50 blocks per 4 KiB batch: ~2 in 50),
 * repeat no address step often (a fixed stride would be as predictable), and the two hardened
 * runs must differ. */
#define _GNU_SOURCE
#include "hkt.h"

#include <unistd.h>

#define BLOCKS 256
#define BLOCK_SIZE 80

static int child(void) {
    uintptr_t at[BLOCKS], low = UINTPTR_MAX;
    for (int i = 0; i < BLOCKS; i++) {
        at[i] = (uintptr_t)T_malloc(BLOCK_SIZE);
        if (at[i] == 0) return 1;
        if (at[i] < low) low = at[i];
    }
    size_t stride = T_usable_size((void *)at[0]);
    for (int i = 0; i < BLOCKS; i++) printf("%zu ", (size_t)((at[i] - low) / stride));
    printf("\n");
    return 0;
}

/* Run the child with `env` (NAME=VALUE) and read the order it printed into `order`. */
static bool run_child(const char *self, const char *env, size_t order[BLOCKS]) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "env %s '%s' child", env, self);
    FILE *f = popen(cmd, "r");
    if (f == NULL) return false;
    static char line[BLOCKS * 8];
    int got = 0;
    if (fgets(line, sizeof line, f) != NULL) {
        char *at = line, *end;
        for (unsigned long v; got < BLOCKS && (v = strtoul(at, &end, 10), end != at); at = end) order[got++] = v;
    }
    return pclose(f) == 0 && got == BLOCKS;
}

/* How many blocks came right after their address neighbour (the block just below or above). */
static int neighbours_in_turn(const size_t order[BLOCKS]) {
    int n = 0;
    for (int i = 1; i < BLOCKS; i++) n += order[i] == order[i - 1] + 1 || order[i] + 1 == order[i - 1];
    return n;
}

/* How often the commonest address step between blocks handed out in turn occurs: a fixed stride
 * (block k+1 always s blocks after block k) would make the next address as predictable as
 * neighbours do. The carving shuffles each batch uniformly, so no step should be frequent. */
static int commonest_step(const size_t order[BLOCKS]) {
    int count[2 * BLOCKS] = {0}, most = 0;
    for (int i = 1; i < BLOCKS; i++) {
        int step = (int)order[i] - (int)order[i - 1] + BLOCKS;
        if (++count[step] > most) most = count[step];
    }
    return most;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "child") == 0) return child();
    hkt_begin("secure_order", 120);
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(len > 0);
    self[len] = '\0';
    size_t plain[BLOCKS], first[BLOCKS], second[BLOCKS];
    REQUIRE(run_child(self, "HEAPKIT_SECURE=0", plain));
    REQUIRE(run_child(self, "HEAPKIT_SECURE=1", first));
    REQUIRE(run_child(self, "HEAPKIT_SECURE=1", second));
    bool in_address_order = true;
    for (int i = 0; i < BLOCKS; i++) in_address_order &= plain[i] == (size_t)i;
    CHECKF(in_address_order, "the default mode carved %d blocks out of address order: the test cannot see the order",
           BLOCKS);
    int n1 = neighbours_in_turn(first), n2 = neighbours_in_turn(second);
    hkt_note("address neighbours handed out in turn: default %d, hardened %d and %d of %d", neighbours_in_turn(plain),
             n1, n2, BLOCKS - 1);
    CHECKF(n1 < BLOCKS / 4 && n2 < BLOCKS / 4, "hardened runs handed out %d and %d address neighbours in turn of %d", n1,
           n2, BLOCKS - 1);
    int s1 = commonest_step(first), s2 = commonest_step(second);
    hkt_note("the commonest address step between blocks in turn: default %d (a stride), hardened %d and %d of %d",
             commonest_step(plain), s1, s2, BLOCKS - 1);
    CHECKF(s1 < BLOCKS / 4 && s2 < BLOCKS / 4, "hardened runs repeated one address step %d and %d times of %d", s1, s2,
           BLOCKS - 1);
    CHECKF(memcmp(first, second, sizeof first) != 0, "two hardened processes carved their blocks in the same order");
    return hkt_done();
}
