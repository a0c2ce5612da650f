#!/bin/sh
# cli-options.sh — check_cli: the heap-checking options of `heapkit run` and their bad values, the
# exit status when errors are found (66, --error-exitcode), --on-error abort, the JSON file with
# --leaks too, and a bad HEAPKIT_CHECK value reported by the library. Args: heapkit, the corpus
# directory (check_overflow_write, check_clean).
heapkit=$1
bin=$2
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
expect_status() { # name want command...
    name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name"; else fail "$name: exit $got, expected $want ($(head -c 300 "$tmp/err"))"; fi
}
expect_err() { # name pattern
    if grep -q -- "$2" "$tmp/err"; then ok "$1"; else fail "$1: stderr lacks '$2': $(head -c 300 "$tmp/err")"; fi
}

expect_status "bad --check mode" 2 "$heapkit" run --check=fast -- "$bin/check_clean"
expect_err "bad --check mode says why" "run: --check wants canary or guard, not 'fast'"
expect_status "bad --check-side" 2 "$heapkit" run --check=guard --check-side up -- "$bin/check_clean"
expect_err "bad --check-side says why" "wants left or right"
expect_status "bad --sample-guard" 2 "$heapkit" run --sample-guard 0 -- "$bin/check_clean"
expect_status "bad --quarantine-count" 2 "$heapkit" run --check --quarantine-count -1 -- "$bin/check_clean"
expect_status "bad --on-error" 2 "$heapkit" run --check --on-error stop -- "$bin/check_clean"
expect_status "bad --error-exitcode" 2 "$heapkit" run --check --error-exitcode 256 -- "$bin/check_clean"

# an option of a checking mode that is not on would do nothing: the run is refused, as
# --profile-rate without --profile is (it ran the program unchecked, without a word)
expect_status "--check-side without guard pages" 2 "$heapkit" run --check-side left -- "$bin/check_clean"
expect_err "--check-side without guard pages says why" "run: --check-side needs --check=guard or --sample-guard"
expect_status "--check-side with the canary mode" 2 "$heapkit" run --check --check-side left -- "$bin/check_clean"
expect_status "--check-side with --sample-guard" 0 "$heapkit" run --sample-guard 5 --check-side left -- "$bin/check_clean"
expect_status "--quarantine-bytes without --check" 2 "$heapkit" run --quarantine-bytes 1M -- "$bin/check_clean"
expect_err "--quarantine-bytes without --check says why" "run: --quarantine-bytes and --quarantine-count need --check"
expect_status "--quarantine-count with --sample-guard only" 2 "$heapkit" run --sample-guard 5 --quarantine-count 9 -- "$bin/check_clean"
expect_status "--error-exitcode without checking" 2 "$heapkit" run --error-exitcode 7 -- "$bin/check_overflow_write"
expect_err "--error-exitcode without checking says why" "run: --error-exitcode needs --check or --sample-guard"

expect_status "clean program: its own status" 0 "$heapkit" run --check -- "$bin/check_clean"
expect_err "clean program: the summary says it was checked" "HEAP ERROR SUMMARY: 0 errors"
expect_status "an error: 66" 66 "$heapkit" run --check -- "$bin/check_overflow_write"
expect_err "the report names the kind" "heap-overflow-write of 1 byte"
expect_err "the report names the block" "is 0 bytes after a block of 32 bytes, allocated by malloc"
expect_err "the summary" "HEAP ERROR SUMMARY: 1 error"
expect_status "--error-exitcode" 7 "$heapkit" run --check --error-exitcode 7 -- "$bin/check_overflow_write"
expect_status "--on-error abort: still 66" 66 "$heapkit" run --check --on-error abort -- "$bin/check_double_free"
expect_err "--on-error abort: the program was aborted" "killed by signal 6"
expect_err "--on-error abort: the report is there" "double-free at"

expect_status "--json with --leaks" 66 "$heapkit" run --check --leaks --json "$tmp/both.json" -- "$bin/check_overflow_write"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["heap_errors"]) == 1 and "processes" in d["leaks"]' "$tmp/both.json" 2>"$tmp/py"; then
    ok "--json with --leaks: both reports"
else
    fail "--json with --leaks: $(cat "$tmp/py") $(head -c 300 "$tmp/both.json")"
fi
expect_status "--json alone" 0 "$heapkit" run --check --json "$tmp/none.json" -- "$bin/check_clean"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"heap_errors": []}' "$tmp/none.json" 2>"$tmp/py"; then
    ok "--json alone: no errors, no leak report"
else
    fail "--json alone: $(head -c 300 "$tmp/none.json")"
fi

lib=$("$heapkit" run --verbose -- /bin/true 2>&1 | sed -n 's/^heapkit: preloading //p')
HEAPKIT_CHECK=maybe LD_PRELOAD=$lib "$bin/check_clean" 2>"$tmp/err"
expect_err "bad HEAPKIT_CHECK reported" "HEAPKIT_CHECK='maybe' is not valid"
HEAPKIT_CHECK=1 HEAPKIT_STATS=1 LD_PRELOAD=$lib "$bin/check_overflow_write" 2>"$tmp/err"
expect_err "plain report without a directory" "heapkit: heap-overflow-write in free at 0x"
expect_err "the statistics count it" "heap checking: canaries and quarantine, 1 error found"
# guard mode serves every block itself, not from the core: the thread still gets its heap (its
# serial in reports, its stack cache for captures)
HEAPKIT_CHECK=guard LD_PRELOAD=$lib "$bin/check_uaf_write" 2>"$tmp/err"
expect_err "guard mode names the thread" "allocated by thread 1:"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
