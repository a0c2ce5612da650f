#!/bin/sh
# test-memcheck.sh — what the README says about Valgrind: memcheck run on a program linked with
# heapkit (shared, with --soname-synonyms=somalloc=libheapkit.so*; static, with
# --soname-synonyms=somalloc=NONE) sees the program's leak and its blocks. Skipped (77) without
# valgrind.
# Usage: test-memcheck.sh CC INCLUDE_DIR LIB_DIR   (LIB_DIR holds libheapkit.so and libheapkit.a)
set -u
if [ $# -ne 3 ]; then
    echo "usage: test-memcheck.sh CC INCLUDE_DIR LIB_DIR" >&2
    exit 2
fi
CC=$1 INC=$2 LIB=$3
command -v valgrind >/dev/null || { echo "valgrind is not installed: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; shift; for l in "$@"; do echo "       $l"; done; }

cat >"$T/leak.c" <<'C'
#include <heapkit.h>
#include <stdio.h>
#include <stdlib.h>
static void *volatile keep;
int main(void) {
    char *p = malloc(40); /* lost */
    p[0] = 1;
    p = NULL;
    keep = malloc(8); /* still reachable */
    printf("heapkit %s\n", hk_version());
    return 0;
}
C
if ! "$CC" -g -O0 -I"$INC" "$T/leak.c" -o "$T/leak_shared" -L"$LIB" -lheapkit -Wl,-rpath,"$LIB" 2>"$T/cc"; then
    bad "build linked to libheapkit.so" "$(cat "$T/cc")"
fi
if ! "$CC" -g -O0 -I"$INC" "$T/leak.c" -o "$T/leak_static" "$LIB/libheapkit.a" -lpthread -lgcc_eh \
    $(pkg-config --libs libunwind 2>/dev/null || echo -lunwind) 2>"$T/cc"; then
    bad "build linked to libheapkit.a" "$(cat "$T/cc")"
fi
for v in "shared somalloc=libheapkit.so*" "static somalloc=NONE"; do
    kind=${v%% *} syn=${v#* }
    valgrind --leak-check=full --show-leak-kinds=all --soname-synonyms="$syn" "$T/leak_$kind" >"$T/out" 2>"$T/err"
    st=$?
    if [ "$st" -eq 0 ] && grep -q '^heapkit ' "$T/out"; then ok "$kind: the program runs under memcheck"
    else bad "$kind: the program runs under memcheck" "status $st" "$(tail -5 "$T/err")"; fi
    if grep -Eq '==[0-9]+==    definitely lost: 40 bytes in 1 blocks' "$T/err"; then ok "$kind ($syn): memcheck sees the leak"
    else bad "$kind ($syn): memcheck sees the leak" "$(grep -E 'lost|reachable|in use' "$T/err")"; fi
    if grep -Eq '==[0-9]+==    still reachable: 8 bytes in 1 blocks' "$T/err"; then ok "$kind: memcheck sees the reachable block"
    else bad "$kind: memcheck sees the reachable block" "$(grep -E 'reachable' "$T/err")"; fi
    if grep -Eq '40 bytes in 1 blocks are definitely lost.*' "$T/err" && grep -Eq 'by 0x[0-9A-F]+: main \(leak.c:6\)' "$T/err"; then
        ok "$kind: the leak's stack names main (leak.c:6)"
    else bad "$kind: the leak's stack names main (leak.c:6)" "$(grep -A4 'definitely lost in' "$T/err")"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
