/* hkt_dso.c — a small shared library that std_dlopen loads with dlopen(): it allocates and frees
 * on behalf of the program (memory crosses the library boundary both ways), keeps blocks from its
 * constructor, and has thread-local storage that the dynamic loader allocates per thread. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *dso_make(size_t n, unsigned seed);
int dso_check(const char *p, size_t n, unsigned seed);
void dso_release(void *p);
void *dso_grow(void *p, size_t n);
const char *dso_ctor_text(void);
char *dso_tls_buffer(void);

static char *ctor_text;
/* dynamic TLS: in a dlopen'ed module, each thread's copy is allocated by ld.so with malloc */
static __thread char tls_buffer[4096];

__attribute__((constructor)) static void dso_ctor(void) {
    ctor_text = strdup("dso constructor text");
}

__attribute__((destructor)) static void dso_dtor(void) {
    free(ctor_text);
    ctor_text = NULL;
}

char *dso_make(size_t n, unsigned seed) {
    char *p = malloc(n);
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = (char)(i * 7 + seed);
    return p;
}

int dso_check(const char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)(i * 7 + seed)) return 0;
    return 1;
}

void dso_release(void *p) {
    free(p);
}

void *dso_grow(void *p, size_t n) {
    return realloc(p, n);
}

const char *dso_ctor_text(void) {
    return ctor_text;
}

char *dso_tls_buffer(void) {
    return tls_buffer;
}
