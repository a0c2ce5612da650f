/* child_end.c — how the program's own children ended, for `heapkit run`. A process killed by
 * SIGKILL runs no code of ours, so it cannot leave a leak check or say why; its parent learns why
 * when it reaps it. In the builds that replace malloc, the wait functions pass through to the C
 * library's and, under `heapkit run` (HEAPKIT_RUN_DIR set), note each child that exited or was
 * killed in DIR/ended.PID ("PID<TAB>WAIT-STATUS"), so the report can say "killed by signal 9"
 * for a process its own parent reaped. Orphans are the command's to reap and note itself. */
#define _GNU_SOURCE
#include "base.h"

#if HK_OVERRIDE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Writes DIR/ended.PID; best effort, silently, without allocating, errno kept. */
static void hk_note_child_end(pid_t pid, int status) {
    const char *dir = hk_run_dir();
    if (dir == NULL || pid <= 0 || !(WIFEXITED(status) || WIFSIGNALED(status))) return;
    int saved = errno;
    char path[4096], line[64];
    hk_buf_t b = {.data = path, .cap = sizeof path};
    hk_buf_printf(&b, "%s/ended.%d", dir, (int)pid);
    int fd = b.len < sizeof path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd >= 0) {
        hk_buf_t l = {.data = line, .cap = sizeof line};
        hk_buf_printf(&l, "%d\t%d\n", (int)pid, status);
        if (l.len < sizeof line) {
            ssize_t w = write(fd, line, l.len);
            (void)w;
        }
        close(fd);
    }
    errno = saved;
}

/* The C library's function of that name, found once (RTLD_NEXT: the next object after us). Its
 * name is hk_plain_const: a plain program that reaps a child would map all of .rodata for it. */
#define HK_NEXT(type, name)                                                                                          \
    static _Atomic(type) hk_next_##name;                                                                            \
    static const char hk_name_##name[] hk_plain_const = #name;                                                       \
    type next_##name = atomic_load_explicit(&hk_next_##name, memory_order_acquire);                                  \
    if (next_##name == NULL) {                                                                                       \
        next_##name = (type)dlsym(RTLD_NEXT, hk_name_##name);                                                        \
        atomic_store_explicit(&hk_next_##name, next_##name, memory_order_release);                                   \
    }

typedef pid_t (*hk_wait4_fn)(pid_t, int *, int, struct rusage *);
typedef int (*hk_waitid_fn)(idtype_t, id_t, siginfo_t *, int);

__attribute__((visibility("default"))) pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage) {
    HK_NEXT(hk_wait4_fn, wait4);
    int st = 0;
    pid_t got = next_wait4 != NULL ? next_wait4(pid, &st, options, usage)
                                   : (pid_t)syscall(SYS_wait4, pid, &st, options, usage); /* a static program */
    if (got > 0) {
        hk_note_child_end(got, st);
        if (status != NULL) *status = st;
    }
    return got;
}

__attribute__((visibility("default"))) pid_t waitpid(pid_t pid, int *status, int options) {
    return wait4(pid, status, options, NULL);
}
__attribute__((visibility("default"))) pid_t wait(int *status) { return wait4(-1, status, 0, NULL); }
__attribute__((visibility("default"))) pid_t wait3(int *status, int options, struct rusage *usage) {
    return wait4(-1, status, options, usage);
}
/* glibc's exported internal names for the same calls. */
pid_t __waitpid(pid_t pid, int *status, int options);
pid_t __wait(int *status);
__attribute__((visibility("default"))) pid_t __waitpid(pid_t pid, int *status, int options) {
    return wait4(pid, status, options, NULL);
}
__attribute__((visibility("default"))) pid_t __wait(int *status) { return wait4(-1, status, 0, NULL); }

__attribute__((visibility("default"))) int waitid(idtype_t type, id_t id, siginfo_t *info, int options) {
    HK_NEXT(hk_waitid_fn, waitid);
    int r = next_waitid != NULL ? next_waitid(type, id, info, options)
                                : (int)syscall(SYS_waitid, type, id, info, options, NULL);
    /* WNOWAIT leaves the child to be reaped again: noted then. */
    if (r == 0 && info != NULL && info->si_pid > 0 && !(options & WNOWAIT)) {
        if (info->si_code == CLD_EXITED) hk_note_child_end(info->si_pid, (info->si_status & 0xff) << 8);
        else if (info->si_code == CLD_KILLED) hk_note_child_end(info->si_pid, info->si_status & 0x7f);
        else if (info->si_code == CLD_DUMPED) hk_note_child_end(info->si_pid, (info->si_status & 0x7f) | 0x80);
    }
    return r;
}
#endif
