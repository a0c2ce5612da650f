# common.sh — shared by the real_* tests: run a workload with and without libheapkit.so preloaded
# and demand identical output. Sourced by python.sh, sqlite.sh, git.sh, lua.sh; $1 is the library.
# Exit 77 (ctest SKIP) only when the program itself is not installed.

set -u
HEAPKIT_LIB=${1:-${HEAPKIT_LIB:-}}
if [ -z "$HEAPKIT_LIB" ] || [ ! -f "$HEAPKIT_LIB" ]; then
    echo "FAIL: libheapkit.so not given or missing: '$HEAPKIT_LIB'" >&2
    exit 1
fi
HEAPKIT_LIB=$(cd "$(dirname "$HEAPKIT_LIB")" && pwd)/$(basename "$HEAPKIT_LIB")
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/heapkit-real.XXXXXX")
trap '[ -n "${HKT_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "SKIP: $1 is not installed"
        exit 77
    fi
}

# run_pair NAME FUNCTION: runs FUNCTION in $WORK/glibc and $WORK/heapkit (cwd), the second with
# heapkit preloaded; each run's stdout+stderr+exit code go to a file; the files must be equal.
run_pair() {
    local name=$1 fn=$2
    mkdir -p "$WORK/glibc" "$WORK/heapkit"
    (cd "$WORK/glibc" && unset LD_PRELOAD && "$fn") >"$WORK/$name.glibc.out" 2>&1
    echo "exit status $?" >>"$WORK/$name.glibc.out"
    (cd "$WORK/heapkit" && LD_PRELOAD="$HEAPKIT_LIB" "$fn") >"$WORK/$name.heapkit.out" 2>&1
    echo "exit status $?" >>"$WORK/$name.heapkit.out"
    # the workloads run in different directories: make the paths equal before comparing
    sed -i "s|$WORK/glibc|WORKDIR|g; s|$WORK/heapkit|WORKDIR|g" "$WORK/$name.glibc.out" "$WORK/$name.heapkit.out"
    if grep -q "cannot be preloaded" "$WORK/$name.heapkit.out"; then
        echo "FAIL: the dynamic loader could not preload $HEAPKIT_LIB:"
        grep "cannot be preloaded" "$WORK/$name.heapkit.out"
        exit 1
    fi
    if ! cmp -s "$WORK/$name.glibc.out" "$WORK/$name.heapkit.out"; then
        echo "FAIL: $name output differs under heapkit (--- glibc, +++ heapkit):"
        diff -u "$WORK/$name.glibc.out" "$WORK/$name.heapkit.out" | head -60
        exit 1
    fi
    if ! grep -qx "exit status 0" "$WORK/$name.glibc.out"; then
        echo "FAIL: $name workload itself fails (without heapkit):"
        tail -20 "$WORK/$name.glibc.out"
        exit 1
    fi
    echo "ok: $name output identical with and without heapkit ($(wc -l <"$WORK/$name.glibc.out") lines)"
}

# Proves the preload takes effect: a process started with LD_PRELOAD has the library mapped.
check_preload_effective() {
    if ! LD_PRELOAD="$HEAPKIT_LIB" cat /proc/self/maps | grep -qF "$(basename "$HEAPKIT_LIB")"; then
        echo "FAIL: LD_PRELOAD=$HEAPKIT_LIB does not map heapkit into processes"
        exit 1
    fi
}
