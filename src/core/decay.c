/* decay.c — how much freed memory may stay resident: the decay curve that paces purging.
 * Bytes freed recently are worth keeping (a busy program is about to take them again); bytes that
 * stayed unused for a while are not. Time is cut into HK_DECAY_STEPS steps of window/steps ms;
 * the bytes that joined the retained set in each step are remembered, and each step's bytes may
 * stay in proportion to a weight that falls smoothly (smootherstep) from 1 for the newest step to
 * 0 for a step older than the window. The owner of the retained memory purges whatever exceeds
 * the limit. Pure arithmetic on a clock the caller passes in (tests drive it with their own). */
#include "core.h"

/* The weight of a step `age` steps back (0 = the current step), in 1/HK_DECAY_ONE: smootherstep
 * of how much of the window is still ahead of it, x^3 (6x^2 - 15x + 10) with x = 1 - age/steps. */
static uint64_t hk_decay_weight(size_t age) {
    if (age >= HK_DECAY_STEPS) return 0;
    uint64_t x = (uint64_t)(HK_DECAY_STEPS - age) * HK_DECAY_ONE / HK_DECAY_STEPS; /* in 1/ONE */
    uint64_t one = HK_DECAY_ONE;
    /* x^3 (6x^2 - 15x + 10), every factor scaled by ONE = 2^10: the sum stays under 2^64. */
    uint64_t poly = 6 * x * x - 15 * x * one + 10 * one * one; /* scaled by ONE^2, positive on [0, 1] */
    return x * x / one * x / one * poly / (one * one);
}

void hk_decay_init(hk_decay_t *d, int64_t window_ms, uint64_t now) {
    memset(d, 0, sizeof *d);
    d->window_ms = window_ms;
    d->step_ms = window_ms > 0 ? (uint64_t)window_ms / HK_DECAY_STEPS : 0;
    if (window_ms > 0 && d->step_ms == 0) d->step_ms = 1;
    d->epoch = now;
}

/* Move the steps on to `now`: older steps fall off the end of the window. */
static void hk_decay_advance(hk_decay_t *d, uint64_t now) {
    if (d->step_ms == 0 || now < d->epoch + d->step_ms) return;
    uint64_t steps = (now - d->epoch) / d->step_ms;
    d->epoch += steps * d->step_ms;
    if (steps >= HK_DECAY_STEPS) {
        memset(d->backlog, 0, sizeof d->backlog);
        return;
    }
    /* backlog[0] is the current step, backlog[i] the one i steps back */
    memmove(&d->backlog[steps], &d->backlog[0], (HK_DECAY_STEPS - (size_t)steps) * sizeof d->backlog[0]);
    memset(&d->backlog[0], 0, (size_t)steps * sizeof d->backlog[0]);
}

size_t hk_decay_limit(hk_decay_t *d, uint64_t now, size_t retained) {
    if (d->window_ms < 0) return SIZE_MAX; /* never purge */
    if (d->window_ms == 0) {
        d->retained = 0;
        return 0; /* purge at once */
    }
    hk_decay_advance(d, now);
    /* What grew since the last look joined in this step; what shrank was taken again (reused). */
    if (retained > d->retained) d->backlog[0] += retained - d->retained;
    d->retained = retained;
    size_t limit = 0;
    for (size_t age = 0; age < HK_DECAY_STEPS; age++) {
        size_t b = d->backlog[age];
        if (b == 0) continue;
        /* b * weight / ONE without overflow for any b */
        uint64_t w = hk_decay_weight(age);
        limit += (b / HK_DECAY_ONE) * w + (b % HK_DECAY_ONE) * w / HK_DECAY_ONE;
    }
    return limit < retained ? limit : retained;
}

void hk_decay_purged(hk_decay_t *d, size_t retained) {
    if (retained < d->retained) d->retained = retained;
}

/* How many bytes of `retained` are over the limit at `now` (0 when none). */
size_t hk_decay_excess(hk_decay_t *d, uint64_t now, size_t retained) {
    size_t limit = hk_decay_limit(d, now, retained);
    return retained > limit ? retained - limit : 0;
}
