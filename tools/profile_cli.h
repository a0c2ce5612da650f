/* profile_cli.h — heap profiles in the `heapkit` command (profile_cli.c): naming the profiles a
 * `heapkit run --profile` left, and the `heapkit report` command. */
#ifndef HK_TOOLS_PROFILE_CLI_H
#define HK_TOOLS_PROFILE_CLI_H

/* Moves the profiles (profile.PID.N.hkp) in `dir` out: the main program's last one to `output`
 * (NULL: heapkit.PID.hkp), every other one to OUTPUT.PID.N; says each on stderr. Returns how many. */
int profile_collect(const char *dir, const char *output, long main_pid);

/* `heapkit report ARGS...`; returns the exit code. */
int profile_report_main(int argc, char **argv);

#endif
