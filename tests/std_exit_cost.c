/* std_exit_cost.c — a debug mode switched on must stay cheap for a process that starts and exits,
 * as the many short processes of a build or a script do. /bin/true runs under heapkit plain, with
 * HEAPKIT_SAMPLE_GUARD and with HEAPKIT_LEAKS, and its minor page faults must stay within a few
 * hundred of the plain run's. They did not: the sampled mode's exit scan read its 8 MiB guard table
 * whole (~2,100 faults in every process: 85,000 in a python3 run that starts 40), and the leak
 * check cleared all 65,536 slots of the stopped-thread table and zeroed its scratch before use
 * (~830 faults, 2.5 MiB more peak RSS for a 4 MiB program). */
#define _GNU_SOURCE
#include "hkt.h"


int main(void) {
    hkt_begin("std_exit_cost", 120);
    hkt_check_running_on_heapkit();
    char name[] = "true";
    char *argv[] = {name, NULL};
    static const char *const modes[] = {"HEAPKIT_SAMPLE_GUARD=1000", "HEAPKIT_LEAKS=1"};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        long plain = hkt_min_faults("/bin/true", argv, NULL, 3);
        long mode = hkt_min_faults("/bin/true", argv, modes[m], 3);
        hkt_note("/bin/true: %ld minor faults plain, %ld with %s", plain, mode, modes[m]);
        CHECKF(mode <= plain + 512, "%s costs %ld page faults at start and exit (plain %ld)", modes[m], mode - plain,
               plain);
    }
    return hkt_done();
}
