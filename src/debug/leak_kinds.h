/* leak_kinds.h — the one vocabulary of leak reports, shared by the library (leak.c classifies,
 * leak_report.c writes the raw and the plain report) and the `heapkit` command (tools/ reads the
 * raw report and prints the symbolized and the JSON report): the kinds, their order, and every
 * word they are written with. Plain C on purpose, with nothing of the library's, so the command
 * includes it too (tools/CMakeLists.txt puts src/debug on its include path).
 * The kinds are Valgrind memcheck's; the order is theirs too, and is the order of every summary. */
#ifndef HK_LEAK_KINDS_H
#define HK_LEAK_KINDS_H

#include <stdint.h>
#include <string.h>

typedef enum {
    HK_LEAK_DEFINITE,  /* no pointer to the block anywhere */
    HK_LEAK_INDIRECT,  /* pointed to only from lost blocks */
    HK_LEAK_POSSIBLE,  /* pointed to only in its middle */
    HK_LEAK_REACHABLE, /* still pointed to from a root */
    HK_LEAK_KINDS      /* how many kinds there are */
} hk_leak_kind_t;

/* The kind's name as a field value: in the raw format's `leak` and `summary` records
 * (docs/leak-report-format.md: fixed, the command parses it) and in the JSON report's "kind" and
 * "summary" members, which are the same words. */
static inline const char *hk_leak_kind_name(hk_leak_kind_t kind) {
    static const char *const names[HK_LEAK_KINDS] = {"definite", "indirect", "possible", "reachable"};
    return names[kind];
}

/* The kind for a name written by hk_leak_kind_name, or -1 if it names none. */
static inline int hk_leak_kind_of(const char *name) {
    for (int k = 0; k < HK_LEAK_KINDS; k++)
        if (strcmp(name, hk_leak_kind_name((hk_leak_kind_t)k)) == 0) return k;
    return -1;
}

/* The kind as the reports say it to people: "N bytes in M blocks are definitely lost", and the
 * label of its line in the LEAK SUMMARY. */
static inline const char *hk_leak_kind_words(hk_leak_kind_t kind) {
    static const char *const words[HK_LEAK_KINDS] = {"definitely lost", "indirectly lost", "possibly lost",
                                                     "still reachable"};
    return words[kind];
}

/* What suppressions took is counted apart from the kinds, as the summary's last line (its label
 * for people, and its member in the JSON summary). Only the command suppresses. */
#define HK_LEAK_SUPPRESSED_WORDS "suppressed"
#define HK_LEAK_SUPPRESSED_NAME "suppressed"

/* A count of blocks for people, in the command's report: "1 block is", "2 blocks are". (The
 * library's plain report says "blocks are" whatever the count, as it always has.) */
static inline const char *hk_leak_blocks_word(uint64_t blocks) { return blocks == 1 ? "block" : "blocks"; }
static inline const char *hk_leak_blocks_verb(uint64_t blocks) { return blocks == 1 ? "is" : "are"; }

#endif /* HK_LEAK_KINDS_H */
