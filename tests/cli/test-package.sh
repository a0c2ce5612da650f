#!/bin/sh
# test-package.sh — heapkit as a user installs and uses it: `cmake --install` into a temporary
# prefix, then the installed pieces: a consumer built with find_package(heapkit) (heapkit::heapkit
# and heapkit::static) and one built with pkg-config, each checking that its malloc is heapkit's;
# the installed command finding the installed library; the man pages heapkit(1) and heapkit(3)
# installed and free of roff warnings.
# Usage: test-package.sh BUILD_DIR CMAKE CC
set -u
if [ $# -ne 3 ]; then
    echo "usage: test-package.sh BUILD_DIR CMAKE CC" >&2
    exit 2
fi
BUILD=$1 CMAKE=$2 CC=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; shift; for l in "$@"; do echo "       $l"; done; }
run() { # run NAME COMMAND... : must exit 0
    name=$1
    shift
    if "$@" >"$T/out" 2>&1; then ok "$name"; else bad "$name" "$(tail -c 2000 "$T/out")"; fi
}

P=$T/inst
run "cmake --install to a temporary prefix" "$CMAKE" --install "$BUILD" --prefix "$P"
for f in include/heapkit.h include/heapkit_pool_inline.h bin/heapkit share/man/man1/heapkit.1 share/man/man3/heapkit.3; do
    if [ -e "$P/$f" ]; then ok "installed: $f"; else bad "installed: $f" "missing"; fi
done
libdir=$(dirname "$(find "$P" -name heapkit.pc | head -1)")
libdir=${libdir%/pkgconfig}
for f in libheapkit.so libheapkit.a pkgconfig/heapkit.pc cmake/heapkit/heapkitConfig.cmake \
    cmake/heapkit/heapkitConfigVersion.cmake cmake/heapkit/heapkitTargets.cmake; do
    if [ -e "$libdir/$f" ]; then ok "installed: <libdir>/$f"; else bad "installed: <libdir>/$f" "missing in $libdir"; fi
done

# the man pages: render without a single warning
if command -v groff >/dev/null; then
    for page in man1/heapkit.1 man3/heapkit.3; do
        groff -man -ww -z "$P/share/man/$page" >"$T/groff" 2>&1
        if [ ! -s "$T/groff" ]; then ok "man page $page: no roff warnings"; else bad "man page $page: no roff warnings" "$(head -5 "$T/groff")"; fi
    done
    groff -man -Tutf8 "$P/share/man/man1/heapkit.1" 2>/dev/null | sed 's/.\x08//g' >"$T/man1"
    for o in --stats --stats-file --purge-delay --verbose --lib --leaks --json --exitcode --suppressions \
        --show-reachable --stack-depth --leak-signal leak-report HEAPKIT_STATS HEAPKIT_PURGE_DELAY HEAPKIT_LEAKS \
        HEAPKIT_LEAK_DIR HEAPKIT_LEAK_SIGNAL HEAPKIT_STACK_DEPTH HEAPKIT_HUGE_CACHE HEAPKIT_ON_ERROR HEAPKIT_LIB \
        'EXIT STATUS' 127; do
        if grep -q -- "$o" "$T/man1"; then ok "heapkit(1) tells of $o"; else bad "heapkit(1) tells of $o"; fi
    done
    # each variable the library reads has an entry of its own in ENVIRONMENT, its name as the
    # entry's tag (HEAPKIT_CHECK once ran into the paragraph before it, a missing .TP)
    vars=$(strings "$libdir/libheapkit.so" | grep -E '^HEAPKIT_[A-Z_]+$' | sort -u)
    # the names are found at all (a missing `strings` or a changed way of storing them would
    # otherwise pass this with nothing checked)
    if [ "$(echo "$vars" | grep -c .)" -ge 20 ]; then ok "the library's HEAPKIT_* names found ($(echo "$vars" | grep -c .))"
    else bad "the library's HEAPKIT_* names found" "$(echo "$vars" | grep -c .) of at least 20"; fi
    for v in $vars; do
        if grep -Eq "^       (HEAPKIT_[A-Z_]+, )*$v(,|\$)" "$T/man1"; then ok "heapkit(1) has an entry for $v"
        else bad "heapkit(1) has an entry for $v"; fi
    done
    groff -man -Tutf8 "$P/share/man/man3/heapkit.3" 2>/dev/null | sed 's/.\x08//g' >"$T/man3"
    for f in $(grep '^HK_API' "$P/include/heapkit.h" | grep -o 'hk_[a-z_0-9]*(' | tr -d '('); do
        if grep -q "$f(" "$T/man3"; then ok "heapkit(3) has $f"; else bad "heapkit(3) has $f"; fi
    done
else
    ok "man pages: skipped (no groff)"
fi

# a consumer: its malloc must be heapkit's
mkdir -p "$T/src"
cat >"$T/src/consumer.c" <<'C'
#include <heapkit.h>
#include <heapkit_pool_inline.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    void *p = malloc(100);
    int mine = hk_owns(p);
    printf("heapkit %s owns malloc: %d\n", hk_version(), mine);
    free(p);
    /* the inline pool paths reach the library's thread record */
    hk_pool_t *pool = hk_pool_create("consumer", 32, 0, HK_POOL_LOCAL, NULL, NULL, NULL);
    void *o = hk_pool_alloc(pool);
    hk_pool_free(pool, o);
    o = hk_pool_alloc(pool);
    int inline_record = hk_pool_tls_v3.pool == pool;
    hk_pool_free(pool, o);
    hk_pool_destroy(pool);
    printf("inline pool record: %d\n", inline_record);
    return mine && inline_record ? 0 : 1;
}
C
cat >"$T/src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(heapkit 0.1 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE heapkit::heapkit)
add_executable(consumer_static consumer.c)
target_link_libraries(consumer_static PRIVATE heapkit::static)
C
run "find_package(heapkit): configure" "$CMAKE" -S "$T/src" -B "$T/b" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC"
run "find_package(heapkit): build" "$CMAKE" --build "$T/b"
run "heapkit::heapkit: malloc is heapkit's" "$T/b/consumer"
if grep -q 'owns malloc: 1' "$T/out"; then ok "heapkit::heapkit: says so"; else bad "heapkit::heapkit: says so" "$(cat "$T/out")"; fi
run "heapkit::static: malloc is heapkit's" "$T/b/consumer_static"
if command -v ldd >/dev/null && ldd "$T/b/consumer" | grep -q "$libdir/libheapkit.so"; then ok "heapkit::heapkit: the installed library"
else bad "heapkit::heapkit: the installed library" "$(ldd "$T/b/consumer" 2>&1 | grep heapkit)"; fi

# the same with pkg-config, from the installed (relocated) .pc
if command -v pkg-config >/dev/null; then
    flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs heapkit)
    # shellcheck disable=SC2086
    run "pkg-config: build" "$CC" "$T/src/consumer.c" -o "$T/pc_consumer" $flags -Wl,-rpath,"$libdir"
    run "pkg-config: malloc is heapkit's" "$T/pc_consumer"
    # a fully static program (-static, with pkg-config --static): its threads are started by
    # the C library's pthread_create, which dlsym cannot find in a static program (it once got
    # EAGAIN and crashed in pthread_join)
    cat >"$T/src/static_threads.c" <<'C'
#include <heapkit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static void *work(void *arg) {
    for (int i = 0; i < 1000; i++) free(malloc((size_t)i * 8 + 1));
    return arg;
}
int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) {
        int rc = pthread_create(&t[i], NULL, work, (void *)i);
        if (rc != 0) { printf("pthread_create: %d\n", rc); return 1; }
    }
    long sum = 0;
    for (int i = 0; i < 4; i++) { void *r; pthread_join(t[i], &r); sum += (long)r; }
    void *p = malloc(100);
    int mine = hk_owns(p);
    printf("threads joined: %ld, heapkit owns malloc: %d\n", sum, mine);
    free(p);
    return sum == 6 && mine ? 0 : 1;
}
C
    sflags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --static --cflags --libs heapkit)
    # shellcheck disable=SC2086
    run "pkg-config --static, -static: build" "$CC" "$T/src/static_threads.c" -o "$T/static_threads" -static -pthread $sflags
    run "pkg-config --static, -static: threads start and malloc is heapkit's" "$T/static_threads"
    # and its debug modes, which walk stacks from the C library's first allocation on, before
    # that library has described the program to dl_iterate_phdr (libgcc's unwinder aborted there)
    for mode in HEAPKIT_LEAKS=1 HEAPKIT_CHECK=1 HEAPKIT_CHECK=guard "HEAPKIT_PROFILE=exact HEAPKIT_PROFILE_DIR=$T"; do
        # shellcheck disable=SC2086
        run "-static under $mode" env $mode "$T/static_threads"
    done
    case $flags in *"$P"*) ok "pkg-config: flags point into the prefix it was installed to" ;;
    *) bad "pkg-config: flags point into the prefix it was installed to" "$flags" ;; esac
else
    ok "pkg-config: skipped (not installed)"
fi

# the installed command finds the installed library
run "installed heapkit run" "$P/bin/heapkit" run -- sh -c 'echo "$LD_PRELOAD"'
if grep -q "^$libdir/libheapkit.so" "$T/out"; then ok "installed heapkit run: preloads the installed library"
else bad "installed heapkit run: preloads the installed library" "$(cat "$T/out")"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
