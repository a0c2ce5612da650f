/* stats_collect.c — prints the statistics of every process of a `heapkit run --stats`. The library
 * writes each process's report to a file of the run's directory (HEAPKIT_STATS_DIR) instead of
 * the process's stderr, which its parent may read and compare (a child's stderr is part of what a
 * program sees: tests check it, git relays its helpers' as "remote:" lines); the command prints
 * them on its own stderr once the program has ended, in the order the processes exited. */
#define _GNU_SOURCE
#include "stats_collect.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct stats_file {
    struct timespec written;
    long pid;
    unsigned long n;
    char *path;
};

/* "stats.PID.N.txt" */
static bool stats_name(const char *name, long *pid, unsigned long *n)
{
    if (strncmp(name, "stats.", 6) != 0 || name[6] < '0' || name[6] > '9')
        return false;
    char *end;
    errno = 0;
    *pid = strtol(name + 6, &end, 10);
    if (errno != 0 || *end != '.' || end[1] < '0' || end[1] > '9')
        return false;
    *n = strtoul(end + 1, &end, 10);
    return errno == 0 && strcmp(end, ".txt") == 0 && *pid > 0;
}

static int by_time_written(const void *a, const void *b)
{
    const struct stats_file *x = a, *y = b;
    if (x->written.tv_sec != y->written.tv_sec)
        return x->written.tv_sec < y->written.tv_sec ? -1 : 1;
    if (x->written.tv_nsec != y->written.tv_nsec)
        return x->written.tv_nsec < y->written.tv_nsec ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

static void copy_file(const char *path, FILE *out)
{
    FILE *in = fopen(path, "re");
    if (in == NULL)
        return;
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, got, out);
    fclose(in);
}

int stats_collect(const char *dir, FILE *out)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct stats_file *list = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stats_file f = { 0 };
        struct stat st;
        if (!stats_name(e->d_name, &f.pid, &f.n) || asprintf(&f.path, "%s/%s", dir, e->d_name) < 0)
            continue;
        if (stat(f.path, &st) != 0) {
            free(f.path);
            continue;
        }
        f.written = st.st_mtim;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            list = xrealloc(list, cap * sizeof *list);
        }
        list[count++] = f;
    }
    closedir(d);
    if (count > 0)
        qsort(list, count, sizeof *list, by_time_written);
    fflush(out);
    for (size_t i = 0; i < count; i++) {
        copy_file(list[i].path, out);
        unlink(list[i].path);
        free(list[i].path);
    }
    fflush(out);
    free(list);
    return (int)count;
}
