#!/bin/sh
# coreutils_report.sh — `heapkit run --stats` and `heapkit run --leaks` under GNU coreutils, which
# close stdout and stderr at exit (close_stdout): the statistics report and the leak report must
# still reach the user. Usage: coreutils_report.sh HEAPKIT_COMMAND
heapkit=$1
fail=0
check() { # what, file, text expected in it
    if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: no \"$3\" in:"; cat "$2"; fail=1; fi
}
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
for prog in "ls /" "cat /dev/null" "sort /dev/null"; do
    # shellcheck disable=SC2086
    "$heapkit" run --stats -- $prog >/dev/null 2>"$out"
    check "run --stats -- $prog" "$out" "memory statistics of pid"
    # shellcheck disable=SC2086
    HEAPKIT_LEAKS=1 "$heapkit" run -- $prog >/dev/null 2>"$out"
    check "HEAPKIT_LEAKS=1 (plain report) $prog" "$out" "LEAK SUMMARY"
done
exit $fail
