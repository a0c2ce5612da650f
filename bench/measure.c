/* measure.c — the launcher bench/compare runs every program through: forks, optionally sets
 * LD_PRELOAD in the child only, waits, and writes the child's wait status, wall and CPU time, peak RSS.
 * Usage: measure [-p LIB] RESULT_FILE PROG [ARGS...]   (a small fresh parent keeps ru_maxrss honest) */
#include "bench.h"
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

/* Why not spawn from Python directly: exec records the old address space's peak RSS in the
 * process's ru_maxrss, so anything spawned by a 20 MB interpreter reports at least 20 MB. */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int i = 1;
  const char *preload = NULL;
  if (i + 1 < argc && strcmp(argv[i], "-p") == 0) {
    preload = argv[i + 1];
    i += 2;
  }
  if (argc - i < 2) {
    fprintf(stderr, "usage: measure [-p LIB] RESULT_FILE PROG [ARGS...]\n");
    return 2;
  }
  const char *result = argv[i];
  char **prog = &argv[i + 1];

  double start = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("measure: fork");
    return 1;
  }
  if (pid == 0) {
    if (preload != NULL) setenv("LD_PRELOAD", preload, 1);
    else unsetenv("LD_PRELOAD");
    execvp(prog[0], prog);
    fprintf(stderr, "measure: cannot run %s\n", prog[0]);
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("measure: wait4");
      return 1;
    }
  }
  double seconds = now() - start;

  FILE *f = fopen(result, "w");
  if (f == NULL) {
    perror(result);
    return 1;
  }
  double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  fprintf(f, "status=%d seconds=%.6f cpu_seconds=%.6f maxrss_kb=%ld\n", status, seconds, cpu, ru.ru_maxrss);
  return fclose(f) == 0 ? 0 : 1;
}
