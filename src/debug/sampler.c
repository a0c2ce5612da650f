/* sampler.c — the allocation sampler: one countdown of bytes per thread, shared by its consumers
 * (the sampled heap profile, the sampled guard slots), so that the allocator's fast paths pay for
 * one subtraction and one jump whatever samples them (heap->sample_left, core/alloc.c).
 *
 * Each consumer draws the bytes to its own next sample (a Poisson process over the bytes
 * allocated: exponential distances); the countdown is set to the nearest. When a block takes the
 * countdown below 0, the generic malloc path calls the look here (hk_hooks_t.sample) before it
 * allocates: every consumer is charged the bytes since the last look, this block's included,
 * and each one whose distance ran out has its sample in this block: a consumer that serves (guard
 * slots) may hand out the block itself; otherwise the allocator serves it and the consumers that
 * take (the profile) see it. A consumer whose sample fell on a block another one served looks
 * again at the next block. A block of s bytes is thus sampled by a consumer of mean distance R
 * with probability 1 - exp(-s/R), independently of every other block. */
#define _GNU_SOURCE
#include "sampler.h"
#include "hooks.h"

#include <unistd.h>

#define HK_SAMPLE_CONSUMERS 2

static struct {
    hk_sample_consumer_t consumers[HK_SAMPLE_CONSUMERS];
    unsigned count;
} hk_sampler;

/* The calling thread's side: its consumers' distances as of its last look, and the countdown that
 * look set. */
typedef struct hk_sampler_thread_s {
    int64_t left[HK_SAMPLE_CONSUMERS];
    int64_t set;
    uint64_t looks;
    uint64_t random;
    bool started;
} hk_sampler_thread_t;

static __thread hk_sampler_thread_t hk_sampler_tls __attribute__((tls_model("initial-exec")));

uint64_t hk_sampler_looks(void) { return hk_sampler_tls.looks; }
int64_t hk_sampler_last_set(void) { return hk_sampler_tls.set; }

uint64_t hk_sampler_random(void) {
    uint64_t x = hk_sampler_tls.random;
    if (x == 0)
        x = (uint64_t)(uintptr_t)&hk_sampler_tls ^ ((uint64_t)gettid() << 32) ^ hk_clock_ms() ^ HK_GOLDEN_RATIO_64;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    hk_sampler_tls.random = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* x = m * 2^e with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)) by its series (|z| <= 1/3: five
 * terms, error under 1e-6; sampling needs far less). */
double hk_sampler_ln(double x) {
    int e = 0;
    while (x >= 2.0) {
        x *= 0.5;
        e++;
    }
    while (x < 1.0) {
        x *= 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z;
    double series = z * (1.0 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9)))));
    return 2.0 * series + (double)e * 0.69314718055994530942;
}

double hk_sampler_exp_neg(double x) { /* by squaring a short series */
    int halvings = 0;
    while (x > 0.125) {
        x *= 0.5;
        halvings++;
    }
    double r = 1.0 - x * (1.0 - x / 2 * (1.0 - x / 3 * (1.0 - x / 4 * (1.0 - x / 5))));
    while (halvings-- > 0) r *= r;
    return r;
}

int64_t hk_sampler_exponential(double mean) {
    double u = (double)((hk_sampler_random() >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double v = -hk_sampler_ln(u) * mean;
    return v < 1.0 ? 1 : v > 9.0e18 ? INT64_MAX : (int64_t)v;
}

/* The look (hk_hooks_t.sample): the thread's countdown runs out on this allocation of `size`
 * bytes; heap->sample_left still holds what was left before it. slot_ok: the block may come from
 * elsewhere than the allocator's pages (not for an aligned allocation carved from a bigger one). */
static void *hk_sampler_look(hk_heap_t *heap, size_t size, bool zero, bool slot_ok) {
    hk_sampler_thread_t *t = &hk_sampler_tls;
    unsigned n = hk_sampler.count;
    if (!t->started) { /* the thread's first look: where do its first samples fall? */
        for (unsigned i = 0; i < n; i++) t->left[i] = hk_sampler.consumers[i].interval();
        t->set = heap->sample_left;
        t->started = true;
    }
    int64_t charge = size > INT64_MAX ? INT64_MAX : (int64_t)size;
    int64_t used = t->set - heap->sample_left + charge; /* bytes since the last look, this block's too */
    if (used < charge) used = charge; /* the heap's count was set anew (a new heap for the thread) */
    bool due[HK_SAMPLE_CONSUMERS] = {false};
    for (unsigned i = 0; i < n; i++) {
        t->left[i] -= used;
        due[i] = t->left[i] < 0;
    }
    void *p = NULL;
    for (unsigned i = 0; i < n && p == NULL; i++)
        if (due[i] && slot_ok && hk_sampler.consumers[i].serve != NULL) p = hk_sampler.consumers[i].serve(size, zero);
    bool served = p != NULL;
    if (!served) p = hk_core_alloc_plain(size, zero);
    /* the next distances and the countdown, before a consumer takes the block (its work may
     * allocate, and must find the countdown set) */
    int64_t next = INT64_MAX;
    for (unsigned i = 0; i < n; i++) {
        bool takes = hk_sampler.consumers[i].take != NULL;
        if (due[i]) t->left[i] = served && takes ? 0 : hk_sampler.consumers[i].interval(); /* 0: the next block */
        if (t->left[i] < next) next = t->left[i];
    }
    heap->sample_left = next;
    t->set = next;
    t->looks++;
    if (served || p == NULL) return p;
    for (unsigned i = 0; i < n; i++)
        if (due[i] && hk_sampler.consumers[i].take != NULL) hk_sampler.consumers[i].take(p, size);
    return p;
}

void hk_sampler_add(const hk_sample_consumer_t *consumer) {
    if (hk_sampler.count == HK_SAMPLE_CONSUMERS) return;
    hk_sampler.consumers[hk_sampler.count++] = *consumer;
    hk_state.hooks.sample = hk_sampler_look;
}
