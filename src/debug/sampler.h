/* sampler.h — the one allocation sampler (sampler.c): each thread counts bytes down to its next
 * look in one countdown (heap->sample_left, which the allocator's fast paths charge), and every
 * feature that samples allocations with the fast paths left on is a consumer of it: the sampled
 * heap profile (profile.c) and the sampled guard slots (check_guard.c). Each consumer has its own
 * distance to its next sample; the countdown is the nearest of them. */
#ifndef HK_SAMPLER_H
#define HK_SAMPLER_H

#include "core.h"

typedef struct hk_sample_consumer_s {
    /* bytes from here to this consumer's next sample, drawn for the calling thread */
    int64_t (*interval)(void);
    /* the consumer's sample falls in this allocation, before it is made: serve it (a guard slot)
     * or return NULL to let the allocator serve it; NULL: the consumer never serves */
    void *(*serve)(size_t size, bool zero);
    /* the consumer's sample falls in the block the allocator just handed out at p; NULL: none */
    void (*take)(void *p, size_t size);
} hk_sample_consumer_t;

/* In process init, before the first allocation: add a consumer (at most two) and set the core's
 * sampling hook (hk_hooks_t.sample). */
hk_internal void hk_sampler_add(const hk_sample_consumer_t *consumer);

/* The calling thread's looks so far, and the countdown its last look set: both still the same at
 * a free, the thread allocated nothing since that look (the profiler's temporaries). */
hk_internal uint64_t hk_sampler_looks(void);
hk_internal int64_t hk_sampler_last_set(void);

/* Random numbers for sampling, one generator per thread (xorshift64*). */
hk_internal uint64_t hk_sampler_random(void);
/* A draw from the exponential distribution of this mean, in whole bytes (at least 1). */
hk_internal int64_t hk_sampler_exponential(double mean);
/* ln(x) for x > 0 and exp(-x) for x >= 0, without libm. */
hk_internal double hk_sampler_ln(double x);
hk_internal double hk_sampler_exp_neg(double x);

#endif
