/* arena_overflow.c — a string copied one byte past an hk_arena allocation, then the arena rewound to
 * a mark taken before it: the rewind frees the block and finds the damage (guard pages: the write
 * itself). Linked with heapkit for the arena API. */
#include <heapkit.h>
#include "check_util.h"

CK_FN static char *take(hk_arena_t *arena) { return hk_arena_alloc(arena, 32); }
CK_FN static void write_past(char *p) {
    for (int i = 0; i <= 32; i++) p[i] = 'a';
}
CK_FN static void go_back(hk_arena_t *arena, hk_arena_mark_t mark) { hk_arena_rewind(arena, mark); }

int main(void) {
    hk_arena_t *arena = hk_arena_create("parser", NULL, 0);
    if (arena == NULL) return 2;
    hk_arena_mark_t mark = hk_arena_mark(arena);
    char *p = ck_launder(take(arena));
    write_past(p);
    go_back(arena, mark);
    hk_arena_destroy(arena);
    return 0;
}
