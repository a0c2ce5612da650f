/* wordfreq.c — an example program that allocates like real code does: it indexes the words of
 * its input (files, or a generated text with a fixed seed) in a hash table of malloc'd strings
 * with growing per-word line lists, sorts them and prints the ten most frequent. WORDFREQ_LEAK=1
 * makes it leak on purpose (see table_free). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOP 10
#define DEFAULT_WORDS 2000000
#define VOCABULARY 60000

/* One distinct word: how often it occurs and on which lines (each line once). */
struct entry {
    char *word;
    uint64_t count;
    uint32_t *lines;
    uint32_t nlines, cap;
    struct entry *next;
};

struct table {
    struct entry **buckets;
    size_t nbuckets, size;
    uint64_t words;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (p == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h;
}

static void table_grow(struct table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 1024;
    struct entry **b = calloc(n, sizeof(struct entry *));
    if (b == NULL) {
        fprintf(stderr, "wordfreq: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (struct entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            size_t j = hash(e->word, strlen(e->word)) & (n - 1);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

static void table_add(struct table *t, const char *w, size_t n, uint32_t line)
{
    if (t->size >= t->nbuckets)
        table_grow(t);
    size_t j = hash(w, n) & (t->nbuckets - 1);
    struct entry *e = t->buckets[j];
    while (e != NULL && !(strncmp(e->word, w, n) == 0 && e->word[n] == '\0'))
        e = e->next;
    if (e == NULL) {
        e = xmalloc(sizeof *e);
        e->word = xmalloc(n + 1);
        memcpy(e->word, w, n);
        e->word[n] = '\0';
        e->count = 0;
        e->lines = NULL;
        e->nlines = e->cap = 0;
        e->next = t->buckets[j];
        t->buckets[j] = e;
        t->size++;
    }
    e->count++;
    t->words++;
    if (e->nlines > 0 && e->lines[e->nlines - 1] == line)
        return;
    if (e->nlines == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 2;
        e->lines = xrealloc(e->lines, e->cap * sizeof *e->lines);
    }
    e->lines[e->nlines++] = line;
}

/* Words are runs of letters and apostrophes, folded to lower case in place. */
static void add_line(struct table *t, char *s, uint32_t line)
{
    while (*s != '\0') {
        while (*s != '\0' && !isalpha((unsigned char)*s))
            s++;
        char *w = s;
        while (isalpha((unsigned char)*s) || *s == '\'') {
            *s = (char)tolower((unsigned char)*s);
            s++;
        }
        if (s > w)
            table_add(t, w, (size_t)(s - w), line);
    }
}

static int add_file(struct table *t, const char *path, uint32_t *line)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "wordfreq: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0;
    while (getline(&buf, &cap, f) >= 0)
        add_line(t, buf, ++*line);
    free(buf);
    if (f != stdin)
        fclose(f);
    return 0;
}

/* --- the generated text: words drawn from a Zipf distribution, as natural language is ---- */

static const char *const common[] = {
    "the", "of", "and", "to", "a", "in", "is", "it", "that", "was", "for", "on", "are", "with",
    "as", "i", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by",
    "memory", "but", "some", "what", "there", "we", "can", "out", "other", "were", "all",
    "your", "when", "up", "use", "word", "how", "said", "an", "each", "she", "which", "do",
    "their", "time", "if", "will", "way", "about", "many", "then", "them", "would", "write",
    "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look",
    "more", "day", "could", "go", "come", "did", "my", "sound", "no", "most", "number", "who",
    "over", "know", "water", "than", "call", "first", "people", "may", "down", "side", "been",
    "now", "find", "any", "new", "work", "part", "take", "get", "place", "made", "live",
    "where", "after", "back", "little", "only", "round", "man", "year", "came", "show",
    "every", "good", "me", "give", "our", "under", "name", "very", "through", "just", "form",
    "heap", "page", "block", "free", "thread", "pool", "arena", "segment", "allocate",
};
#define NCOMMON (sizeof common / sizeof common[0])

static const char *const syllables[] = {
    "ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ven", "dra", "el", "or", "qui", "sa",
    "to", "ba", "ri", "mon", "fe", "gu", "lan", "ti", "ex", "zo", "pe", "cor", "di", "na",
    "wen", "ho", "sta", "ly",
};

/* The rare words: rank r spelled in base 32 with syllables as digits, so each is distinct. */
static char *make_rare_word(size_t r)
{
    char buf[64];
    size_t n = 0;
    do {
        const char *s = syllables[r % 32];
        size_t l = strlen(s);
        memcpy(buf + n, s, l);
        n += l;
        r /= 32;
    } while (r > 0);
    buf[n] = '\0';
    char *w = xmalloc(n + 1);
    memcpy(w, buf, n + 1);
    return w;
}

static uint64_t rng_state = 0x2545f4914f6cdd1du;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12; /* xorshift64* */
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void add_generated(struct table *t, uint64_t nwords, uint32_t *line)
{
    char **vocab = xmalloc(VOCABULARY * sizeof *vocab);
    double *cdf = xmalloc(VOCABULARY * sizeof *cdf);
    double sum = 0;
    for (size_t r = 0; r < VOCABULARY; r++) {
        vocab[r] = r < NCOMMON ? NULL : make_rare_word(r);
        sum += 1.0 / (double)(r + 1);
        cdf[r] = sum;
    }
    while (nwords > 0) {
        /* One sentence per line, built in a fresh buffer as a parser would get it. */
        size_t len = 0, cap = 64;
        char *s = xmalloc(cap);
        uint64_t n = 4 + rng() % 17;
        for (; n > 0 && nwords > 0; n--, nwords--) {
            double u = (double)(rng() >> 11) / 9007199254740992.0 * sum;
            size_t lo = 0, hi = VOCABULARY - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            const char *w = lo < NCOMMON ? common[lo] : vocab[lo];
            size_t l = strlen(w);
            if (len + l + 3 > cap) {
                cap *= 2;
                s = xrealloc(s, cap);
            }
            memcpy(s + len, w, l);
            len += l;
            s[len++] = n > 1 ? ' ' : '.';
        }
        s[len] = '\0';
        add_line(t, s, ++*line);
        free(s);
    }
    for (size_t r = NCOMMON; r < VOCABULARY; r++)
        free(vocab[r]);
    free(vocab);
    free(cdf);
}

/* --- the report ------------------------------------------------------------------------ */

static int by_count(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

static void report(const struct table *t, uint32_t lines)
{
    struct entry **all = xmalloc((t->size ? t->size : 1) * sizeof(struct entry *));
    size_t n = 0;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct entry *e = t->buckets[i]; e != NULL; e = e->next)
            all[n++] = e;
    qsort(all, n, sizeof(struct entry *), by_count);
    printf("%llu words, %zu distinct, %u lines\n", (unsigned long long)t->words, t->size, lines);
    printf("%4s %10s %10s  %s\n", "rank", "count", "lines", "word");
    for (size_t i = 0; i < n && i < TOP; i++)
        printf("%4zu %10llu %10u  %s\n", i + 1, (unsigned long long)all[i]->count,
               all[i]->nlines, all[i]->word);
    free(all);
}

/* With WORDFREQ_LEAK set, two classic bugs, for `make demo`'s leak report: the line lists of
 * words seen once are not freed (definitely lost), and the first bucket's chain is dropped whole
 * (its first entry definitely lost, the rest and their strings and lists indirectly lost). */
static void table_free(struct table *t)
{
    int leak = getenv("WORDFREQ_LEAK") != NULL;
    for (size_t i = leak ? 1 : 0; i < t->nbuckets; i++) {
        for (struct entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            if (!leak || e->count > 1)
                free(e->lines);
            free(e->word);
            free(e);
        }
    }
    free(t->buckets);
}

int main(int argc, char **argv)
{
    struct table t = { 0 };
    uint32_t line = 0;
    int status = 0;
    if (argc == 3 && strcmp(argv[1], "--generate") == 0) {
        char *end;
        unsigned long long n = strtoull(argv[2], &end, 10);
        if (*end != '\0' || argv[2][0] == '\0' || argv[2][0] == '-') {
            fprintf(stderr, "wordfreq: --generate wants a number of words, not '%s'\n", argv[2]);
            return 2;
        }
        add_generated(&t, n, &line);
    } else if (argc > 1 && argv[1][0] == '-' && argv[1][1] != '\0') {
        fprintf(stderr, "usage: wordfreq [FILE...]   (no FILE: a generated text of %d words)\n"
                        "       wordfreq --generate WORDS\n", DEFAULT_WORDS);
        return 2;
    } else if (argc == 1) {
        add_generated(&t, DEFAULT_WORDS, &line);
    } else {
        for (int i = 1; i < argc; i++)
            if (add_file(&t, argv[i], &line) != 0)
                status = 1;
    }
    report(&t, line);
    table_free(&t);
    return status;
}
