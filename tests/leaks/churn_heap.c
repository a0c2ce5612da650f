/* churn_heap.c — heavy single-threaded churn that ends with nothing allocated, so any leak a
 * checker reports is a false positive: 1,000,000 malloc/free pairs through a window of 256 live
 * blocks (1..512 bytes), realloc chains growing one block to 64 KiB and back, a chained hash
 * table of 20,000 strdup'ed keys that grows by rehashing and is freed, and large blocks. */
#define _GNU_SOURCE
#include "leak_util.h"

#define WINDOW 256

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

LK_FN void churn_window(long pairs) {
    void *slots[WINDOW] = {0};
    for (long i = 0; i < pairs; i++) {
        size_t k = next_random() % WINDOW;
        free(slots[k]);
        size_t n = 1 + next_random() % 512;
        slots[k] = malloc(n);
        LK_CHECK(slots[k] != NULL);
        ((char *)slots[k])[0] = (char)i;
    }
    for (size_t k = 0; k < WINDOW; k++) free(slots[k]);
}

LK_FN void churn_realloc_chains(int chains) {
    for (int c = 0; c < chains; c++) {
        char *p = NULL;
        size_t n;
        for (n = 1; n <= 64 * 1024; n = n * 3 / 2 + 1) {
            p = realloc(p, n);
            LK_CHECK(p != NULL);
            p[n - 1] = 1;
        }
        for (; n > 1; n /= 2) {
            p = realloc(p, n);
            LK_CHECK(p != NULL);
        }
        free(p);
    }
}

struct entry {
    struct entry *next;
    char *key;
    long value;
};

struct table {
    struct entry **buckets;
    size_t nbuckets, count;
};

static size_t hash_key(const char *s) {
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void table_grow(struct table *t) {
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
    struct entry **b = calloc(n, sizeof *b);
    LK_CHECK(b != NULL);
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (struct entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t j = hash_key(e->key) % n;
            e->next = b[j];
            b[j] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static void table_put(struct table *t, const char *key, long value) {
    if (t->count >= t->nbuckets) table_grow(t);
    size_t j = hash_key(key) % t->nbuckets;
    for (struct entry *e = t->buckets[j]; e; e = e->next)
        if (strcmp(e->key, key) == 0) {
            e->value = value;
            return;
        }
    struct entry *e = malloc(sizeof *e);
    LK_CHECK(e != NULL);
    e->key = strdup(key);
    LK_CHECK(e->key != NULL);
    e->value = value;
    e->next = t->buckets[j];
    t->buckets[j] = e;
    t->count++;
}

LK_FN void churn_hash_table(int keys) {
    struct table t = {0};
    char key[32];
    for (int i = 0; i < keys; i++) {
        snprintf(key, sizeof key, "key-%d", (int)(next_random() % (uint64_t)keys));
        table_put(&t, key, i);
    }
    for (size_t i = 0; i < t.nbuckets; i++) {
        for (struct entry *e = t.buckets[i], *next; e; e = next) {
            next = e->next;
            free(e->key);
            free(e);
        }
    }
    free(t.buckets);
}

LK_FN void churn_large(int rounds) {
    for (int i = 0; i < rounds; i++) {
        char *p = malloc((size_t)(1 + i % 4) * 1024 * 1024);
        LK_CHECK(p != NULL);
        p[0] = 1;
        free(p);
    }
}

int main(void) {
    churn_window(1000000);
    churn_realloc_chains(50);
    churn_hash_table(20000);
    churn_large(64);
    lk_scrub_stack();
    return 0;
}
