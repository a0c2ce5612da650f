/* unit_options.c — HEAPKIT_* parsing: good values are taken, bad ones keep the default (with a
 * message), unknown names are reported. Runs hk_options_init on a crafted environment. */
#include "unit.h"

#include <stdlib.h>

extern char **environ;

static hk_options_t parse(char **env) {
    char **saved = environ;
    environ = env;
    hk_options_t o;
    hk_options_init(&o);
    environ = saved;
    return o;
}

int main(void) {
    hk_options_t d = parse((char *[]){NULL});
    CHECK(d.purge_delay_ms == 50 && !d.stats && d.purge_thread && d.huge_cache == (size_t)1 << 30 &&
              d.decay_ms == 1000,
          "defaults: delay %d stats %d decay %d", (int)d.purge_delay_ms, d.stats, (int)d.decay_ms);

    hk_options_t o = parse((char *[]){"HEAPKIT_STATS=1", "HEAPKIT_PURGE_DELAY=250", "HEAPKIT_HUGE_CACHE=16M",
                                      "HEAPKIT_ON_ERROR=abort", "HEAPKIT_PURGE_THREAD=0",
                                      "HEAPKIT_STATS_FILE=/tmp/x.json", NULL});
    CHECK(o.stats && o.purge_delay_ms == 250 && o.huge_cache == (size_t)16 << 20 && o.abort_on_error &&
              !o.purge_thread && o.stats_file && !strcmp(o.stats_file, "/tmp/x.json"),
          "good values not all taken");

    CHECK(parse((char *[]){"HEAPKIT_PURGE_DELAY=-1", NULL}).purge_delay_ms == -1, "-1 means never");
    CHECK(parse((char *[]){"HEAPKIT_PURGE_DELAY=5ms", NULL}).purge_delay_ms == 5, "an ms suffix is allowed");
    CHECK(parse((char *[]){"HEAPKIT_DECAY=250", NULL}).decay_ms == 250, "a decay window");
    CHECK(parse((char *[]){"HEAPKIT_DECAY=-1", NULL}).decay_ms == -1, "decay -1 means never");
    CHECK(parse((char *[]){"HEAPKIT_DECAY=soon", NULL}).decay_ms == 1000, "a bad decay keeps the default");
    CHECK(parse((char *[]){"HEAPKIT_HUGE_CACHE=2GiB", NULL}).huge_cache == (size_t)2 << 30, "GiB suffix");
    CHECK(parse((char *[]){"HEAPKIT_HUGE_CACHE=4096", NULL}).huge_cache == 4096, "plain bytes");

    const char *bad[] = {"HEAPKIT_PURGE_DELAY=banana", "HEAPKIT_PURGE_DELAY=12abc", "HEAPKIT_PURGE_DELAY=",
                         "HEAPKIT_PURGE_DELAY=-2", "HEAPKIT_PURGE_DELAY=99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *env[] = {(char *)bad[i], NULL};
        CHECK(parse(env).purge_delay_ms == 50, "'%s' must keep the default", bad[i]);
    }
    CHECK(parse((char *[]){"HEAPKIT_STATS=maybe", NULL}).stats == false, "a bad boolean keeps the default");
    CHECK(parse((char *[]){"HEAPKIT_HUGE_CACHE=12X", NULL}).huge_cache == (size_t)1 << 30, "bad suffix");
    CHECK(parse((char *[]){"HEAPKIT_HUGE_CACHE=99999999999G", NULL}).huge_cache == (size_t)1 << 30,
          "an overflowing size keeps the default");
    CHECK(parse((char *[]){"HEAPKIT_ON_ERROR=explode", NULL}).abort_on_error == false, "bad on-error keeps default");
    parse((char *[]){"HEAPKIT_NO_SUCH_OPTION=1", "HEAPKITX=1", NULL}); /* reported, not fatal */
    return unit_done("unit_options");
}
