/* std_leak_unloaded.c — a leak whose allocation stack runs through a library that was dlclose'd
 * before the check still names that library: the raw report lists the unloaded object (its path
 * and load bias at the time) and the stack's frame points into it, so the command can symbolize
 * the plugin's functions instead of printing "(in no module)". Runs itself as a child with
 * HEAPKIT_LEAKS=1 and a private HEAPKIT_LEAK_DIR; needs HKT_DSO=path of hkt_dso.so. */
#define _GNU_SOURCE
#include "hkt.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOST_SIZE 7777

static char *volatile g_lost;

static int child(void) {
    void *h = dlopen(getenv("HKT_DSO"), RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) return 2;
    char *(*make)(size_t, unsigned) = (char *(*)(size_t, unsigned))dlsym(h, "dso_make");
    if (make == NULL) return 3;
    g_lost = make(LOST_SIZE, 1);
    g_lost = NULL; /* lost; allocated by dso_make, in the library unloaded next */
    if (dlclose(h) != 0) return 4;
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    hkt_begin("std_leak_unloaded", 60);
    hkt_check_running_on_heapkit();
    REQUIRE(getenv("HKT_DSO") != NULL);
    char dir[] = "/tmp/hkt-leak-unloaded.XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    static char env[4200], out[1 << 14], report[1 << 17];
    snprintf(env, sizeof env, "HEAPKIT_LEAK_DIR=%s", dir);
    char arg[] = "child";
    char *args[] = {program_invocation_name, arg, NULL};
    int st = hkt_run_self(args, env, 30, out, sizeof out);
    CHECKF(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x; output:\n%s", st, out);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "cat %s/leaks.*.1.raw", dir);
    FILE *cat = popen(cmd, "r");
    REQUIRE(cat != NULL);
    size_t len = fread(report, 1, sizeof report - 1, cat);
    report[len] = '\0';
    pclose(cat);
    CHECKF(strstr(report, "\nend\n") != NULL, "no complete exit report in %s:\n%s", dir, report);

    /* the module index of hkt_dso.so */
    const char *base = strrchr(getenv("HKT_DSO"), '/');
    base = base ? base + 1 : getenv("HKT_DSO");
    long module = -1;
    for (const char *l = strstr(report, "\nmodule\t"); l != NULL; l = strstr(l + 1, "\nmodule\t")) {
        const char *eol = strchr(l + 1, '\n');
        const char *name = strstr(l, base);
        if (name != NULL && (eol == NULL || name < eol)) module = strtol(l + strlen("\nmodule\t"), NULL, 10);
    }
    CHECKF(module >= 0, "the unloaded %s is not among the report's modules:\n%s", base, report);

    /* the stack of the lost block has a frame in it */
    char want[64];
    snprintf(want, sizeof want, "\t1\t%d\t", LOST_SIZE);
    const char *leak = NULL;
    for (const char *l = strstr(report, "leak\tdefinite\t"); l != NULL && leak == NULL; l = strstr(l + 1, "leak\tdefinite\t")) {
        const char *s = l + strlen("leak\tdefinite\t");
        if (strncmp(s + strcspn(s, "\t"), want, strlen(want)) == 0) leak = s;
    }
    CHECKF(leak != NULL, "no definite group of one %d-byte block:\n%s", LOST_SIZE, report);
    if (leak != NULL && module >= 0) {
        char stack[64], frame[32];
        snprintf(stack, sizeof stack, "\nstack\t%.*s\t", (int)strcspn(leak, "\t"), leak);
        snprintf(frame, sizeof frame, "\t%ld:", module);
        const char *s = strstr(report, stack);
        CHECKF(s != NULL, "no stack line %s", stack + 1);
        if (s != NULL) {
            const char *eol = strchr(s + 1, '\n');
            const char *f = strstr(s, frame);
            CHECKF(f != NULL && (eol == NULL || f < eol), "the stack of the lost block has no frame in %s (module %ld):\n%s",
                   base, module, report);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return hkt_done();
}
