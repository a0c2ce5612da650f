/* profile_cli.c — the command's side of heap profiling: after `heapkit run --profile` it takes
 * the profiles the processes of the run wrote into the run's private directory and gives them
 * their names (the program's last one is `-o FILE`; any other, of a child or an earlier dump,
 * FILE.PID.N), and it is the `heapkit report` command: a terminal summary, `--html`,
 * `--collapsed`, `--pprof` and `--diff`. */
#define _GNU_SOURCE
#include "profile_cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile_report.h"

enum { PROF_EXIT_USAGE = 2 };

/* "profile.PID.N.hkp" */
static bool profile_name(const char *name, long *pid, unsigned long *n)
{
    if (strncmp(name, "profile.", 8) != 0 || name[8] < '0' || name[8] > '9')
        return false;
    char *end;
    errno = 0;
    *pid = strtol(name + 8, &end, 10);
    if (errno != 0 || *end != '.' || end[1] < '0' || end[1] > '9')
        return false;
    *n = strtoul(end + 1, &end, 10);
    return errno == 0 && strcmp(end, ".hkp") == 0 && *pid > 0;
}

/* rename(2), or a copy when the two are on different file systems. */
static bool move_file(const char *from, const char *to)
{
    if (rename(from, to) == 0)
        return true;
    if (errno != EXDEV)
        return false;
    FILE *in = fopen(from, "re"), *out = in != NULL ? fopen(to, "we") : NULL;
    bool ok = in != NULL && out != NULL;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in != NULL)
        fclose(in);
    if (out != NULL && fclose(out) != 0)
        ok = false;
    if (ok)
        unlink(from);
    return ok;
}

struct found {
    long pid;
    unsigned long n;
    char *name;
};

static int found_cmp(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

int profile_collect(const char *dir, const char *output, long main_pid)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct found *list = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid;
        unsigned long n;
        if (!profile_name(e->d_name, &pid, &n))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            list = realloc(list, cap * sizeof *list);
            if (list == NULL) {
                fputs("heapkit: out of memory\n", stderr);
                exit(1);
            }
        }
        list[count++] = (struct found){ pid, n, strdup(e->d_name) };
    }
    closedir(d);
    if (count > 0)
        qsort(list, count, sizeof *list, found_cmp);
    /* The program's last profile (at its exit) is the one asked for by name. */
    size_t main_index = count;
    for (size_t i = 0; i < count; i++)
        if (list[i].pid == main_pid)
            main_index = i;
    char default_name[64];
    snprintf(default_name, sizeof default_name, "heapkit.%ld.hkp", main_pid);
    const char *base = output != NULL ? output : default_name;
    int moved = 0;
    for (size_t i = 0; i < count; i++) {
        char *from, *to;
        if (asprintf(&from, "%s/%s", dir, list[i].name) < 0 ||
            (i == main_index ? asprintf(&to, "%s", base) : asprintf(&to, "%s.%ld.%lu", base, list[i].pid, list[i].n)) < 0) {
            fputs("heapkit: out of memory\n", stderr);
            exit(1);
        }
        if (move_file(from, to)) {
            fprintf(stderr, "heapkit: heap profile of %s %ld%s written to %s (see it with: heapkit report %s)\n",
                    list[i].pid == main_pid ? "the program, pid" : "process", list[i].pid,
                    list[i].pid == main_pid && i != main_index ? " (an earlier dump)" : "", to, to);
            moved++;
        } else {
            fprintf(stderr, "heapkit: cannot write the heap profile to %s: %s\n", to, strerror(errno));
        }
        free(from);
        free(to);
        free(list[i].name);
    }
    if (count == 0)
        fprintf(stderr, "heapkit: no heap profile was written (the program did not load heapkit, or ended "
                        "without exit: killed by a signal, _exit or exec)\n");
    free(list);
    return moved;
}

/* --- heapkit report ------------------------------------------------------------------------ */

static void report_usage(const char *fmt, const char *arg) __attribute__((noreturn));
static void report_usage(const char *fmt, const char *arg)
{
    fputs("heapkit: report: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (try 'heapkit help')\n", stderr);
    exit(PROF_EXIT_USAGE);
}

static FILE *open_output(const char *path, const char *what)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        fprintf(stderr, "heapkit: cannot write the %s to %s: %s\n", what, path, strerror(errno));
        exit(PROF_EXIT_USAGE);
    }
    return f;
}

static bool close_output(FILE *f, const char *path, const char *what, bool ok)
{
    if (f == stdout)
        ok = fflush(f) == 0 && ok;
    else if (fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "heapkit: cannot write the %s to %s: %s\n", what, path, strerror(errno));
    return ok;
}

/* "--name VALUE" or "--name=VALUE"; advances *i past what it used. */
static const char *value_of(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (argv[*i] == NULL || strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        report_usage("option %s needs a value", name);
    return argv[++*i];
}

int profile_report_main(int argc, char **argv)
{
    const char *html = NULL, *pprof = NULL, *files[2] = { NULL, NULL }, *v;
    int collapsed = -1;
    bool diff = false;
    long top = 10;
    size_t nfiles = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--diff") == 0)
            diff = true;
        else if (strcmp(a, "--collapsed") == 0)
            collapsed = PROF_PEAK;
        else if (strncmp(a, "--collapsed=", 12) == 0) {
            collapsed = -1;
            for (int k = 0; k < PROF_METRICS; k++)
                if (strcmp(a + 12, prof_metric_names[k]) == 0)
                    collapsed = k;
            if (collapsed < 0)
                report_usage("--collapsed= wants peak, calls, bytes, temporary or leaked, not '%s'", a + 12);
        } else if ((v = value_of(argc, argv, &i, "--html")) != NULL) {
            if (v[0] == '\0')
                report_usage("--html needs a file name%s", "");
            html = v;
        } else if ((v = value_of(argc, argv, &i, "--pprof")) != NULL) {
            if (v[0] == '\0')
                report_usage("--pprof needs a file name%s", "");
            pprof = v;
        } else if ((v = value_of(argc, argv, &i, "--top")) != NULL) {
            char *end;
            top = strtol(v, &end, 10);
            if (*end != '\0' || top < 1 || top > 100000)
                report_usage("--top wants a number of sites from 1 to 100000, not '%s'", v);
        } else if (a[0] == '-' && a[1] != '\0')
            report_usage("unknown option '%s'", a);
        else if (nfiles == 2)
            report_usage("too many files: '%s'", a);
        else
            files[nfiles++] = a;
    }
    if (nfiles == 0)
        report_usage("no profile given (heapkit report [options] FILE, or --diff A B)%s", "");
    if (diff != (nfiles == 2))
        report_usage(diff ? "--diff wants two profiles, A and B%s" : "one profile at a time, or --diff A B%s", "");
    struct prof_model a, b;
    if (!prof_model_load(&a, files[0]))
        return 1;
    bool ok = true;
    if (diff) {
        if (!prof_model_load(&b, files[1])) {
            prof_model_free(&a);
            return 1;
        }
        prof_text_diff(stdout, &a, &b, (size_t)top);
        prof_model_free(&b);
        prof_model_free(&a);
        return 0;
    }
    if (html != NULL) {
        FILE *f = open_output(html, "HTML report");
        ok = close_output(f, html, "HTML report", prof_write_html(f, &a)) && ok;
    }
    if (pprof != NULL) {
        FILE *f = open_output(pprof, "pprof profile");
        ok = close_output(f, pprof, "pprof profile", prof_write_pprof(f, &a)) && ok;
    }
    if (collapsed >= 0)
        ok = prof_write_collapsed(stdout, &a, (enum prof_metric)collapsed) && ok;
    if (html == NULL && pprof == NULL && collapsed < 0)
        prof_text_report(stdout, &a, (size_t)top);
    prof_model_free(&a);
    return ok ? 0 : 1;
}
