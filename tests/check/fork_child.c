/* fork_child.c — the child writes past a block and frees it; the parent is clean. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check_util.h"

CK_FN static char *make_block(void) { return malloc(72); }

CK_FN static void child_work(void) {
    char *p = ck_launder(make_block());
    p[72] = 1;
    free(p);
}

int main(void) {
    char *q = malloc(8);
    pid_t pid = fork();
    if (pid == 0) {
        child_work();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    free(q);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
