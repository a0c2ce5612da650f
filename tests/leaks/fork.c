/* fork.c — a program that forks: each process gets its own report. Before fork, one 64-byte
 * block is lost (so it is lost in both processes). The child loses three 40-byte blocks and
 * leaves with exit(0), running its exit handlers; the parent loses two 48-byte blocks, waits
 * for the child and returns 0. */
#include <sys/wait.h>
#include <unistd.h>

#include "leak_util.h"

LK_FN void leak_before_fork(void) {
    void *volatile p = lk_alloc(64);
    p = NULL;
    (void)p;
}

LK_FN void leak_in_child(void) {
    for (int i = 0; i < 3; i++) {
        void *volatile p = lk_alloc(40);
        (void)p;
    }
}

LK_FN void leak_in_parent(void) {
    for (int i = 0; i < 2; i++) {
        void *volatile p = lk_alloc(48);
        (void)p;
    }
}

LK_FN pid_t start_child(void) {
    pid_t pid = fork();
    LK_CHECK(pid >= 0);
    if (pid == 0) {
        leak_in_child();
        lk_scrub_stack();
        exit(0);
    }
    return pid;
}

int main(void) {
    leak_before_fork();
    lk_scrub_stack();
    pid_t pid = start_child();
    leak_in_parent();
    lk_scrub_stack();
    int status;
    LK_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}
