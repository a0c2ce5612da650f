/* leak_util.h — helpers shared by the leak corpus programs in tests/leaks: functions the
 * compiler may not inline, clone or drop, a stack scrubber, and a checked malloc, so that what
 * a leak checker sees at exit is exactly what each program's header comment says. */
#ifndef LEAK_UTIL_H
#define LEAK_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every function that allocates is one of these: it keeps its own frame (and name) in the
 * allocation stack, and its locals die when it returns. */
#if defined(__clang__)
#define LK_FN __attribute__((noinline, used))
#else
#define LK_FN __attribute__((noinline, noclone, used))
#endif

/* A checked result: the corpus never runs out of memory, so this is a broken test. */
#define LK_CHECK(cond)                                                                       \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);                \
            exit(99);                                                                        \
        }                                                                                    \
    } while (0)

/* The size of stack the scrubber clears. dlopen, vfprintf and getline use a few KiB; a lost
 * pointer left in a dead frame of theirs (or of ours) below the caller's stack pointer would be
 * seen by a conservative scan at exit, because the exit path's frames reuse that memory. */
#define LK_SCRUB_BYTES (128 * 1024)

/* Overwrites the stack below the caller's frame with zeros, and with them whatever the
 * caller-saved registers held. Call it from the same frame that called the leaking helpers,
 * after them, so no copy of a lost pointer survives on the stack or in a register. */
LK_FN static void lk_scrub_stack(void) {
    volatile uintptr_t words[LK_SCRUB_BYTES / sizeof(uintptr_t)];
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) words[i] = 0;
#if defined(__x86_64__)
    __asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
                     "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
                     "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"
                     ::: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
#endif
}

/* malloc, checked, with every byte written (so the block is resident and its contents are no
 * pointer at all: 0xA5 bytes). */
LK_FN static void *lk_alloc(size_t n) {
    void *p = malloc(n);
    LK_CHECK(p != NULL);
    memset(p, 0xA5, n);
    return p;
}

#endif
