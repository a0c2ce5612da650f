#!/bin/sh
# test-cli.sh — tests of the `heapkit` command: options, exit codes, error messages, and that the
# program it runs really has the library loaded. Usage: test-cli.sh HEAPKIT_BIN WORDFREQ_BIN
set -u
ulimit -c 0 2>/dev/null || true # the SIGSEGV check must not leave a core file behind
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
HK=$(abspath "$1")
WORDFREQ=$(abspath "$2")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; shift; for line in "$@"; do echo "       $line"; done; }

# check NAME WANT_STATUS COMMAND... : runs COMMAND, keeps stdout/stderr in $T/out, $T/err.
check_status() {
    name=$1 want=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name"; return 0; fi
    bad "$name" "exit status $got, want $want" "stderr: $(head -c 400 "$T/err")"
    return 1
}

# expect NAME FILE PATTERN : the file contains the (grep -E) pattern.
expect() {
    if grep -Eq -- "$3" "$2"; then ok "$1"; else bad "$1" "no /$3/ in: $(head -c 400 "$2")"; fi
}

# --- the command itself --------------------------------------------------------------------
check_status "--version exits 0" 0 "$HK" --version &&
    expect "--version prints the version" "$T/out" '^heapkit [0-9]+\.[0-9]+\.[0-9]+$'
check_status "help exits 0" 0 "$HK" help && expect "help shows usage" "$T/out" 'heapkit run'
check_status "run --help exits 0" 0 "$HK" run --help && expect "run --help lists --stats" "$T/out" '--stats'
check_status "no command: exit 2" 2 "$HK" && expect "no command: message" "$T/err" '^heapkit: '
check_status "unknown command: exit 2" 2 "$HK" frobnicate &&
    expect "unknown command: message" "$T/err" "unknown command 'frobnicate'"

# --- run: usage errors ---------------------------------------------------------------------
check_status "unknown option: exit 2" 2 "$HK" run --bogus -- /bin/true &&
    expect "unknown option: message" "$T/err" "unknown option '--bogus'"
check_status "missing --: exit 2" 2 "$HK" run /bin/true && expect "missing --: message" "$T/err" "expected '--'"
check_status "no program: exit 2" 2 "$HK" run -- && expect "no program: message" "$T/err" 'no program given'
check_status "option without value: exit 2" 2 "$HK" run --stats-file &&
    expect "option without value: message" "$T/err" 'needs a value'
check_status "--purge-delay -1 accepted" 0 "$HK" run --purge-delay -1 -- /bin/true
check_status "--purge-delay 25ms accepted" 0 "$HK" run --purge-delay 25ms -- /bin/true
check_status "bad --purge-delay: exit 2" 2 "$HK" run --purge-delay soon -- /bin/true &&
    expect "bad --purge-delay: message" "$T/err" "not 'soon'"
check_status "missing --lib: exit 2" 2 "$HK" run --lib "$T/nope.so" -- /bin/true &&
    expect "missing --lib: message" "$T/err" 'nope.so'
check_status "missing HEAPKIT_LIB: exit 2" 2 env HEAPKIT_LIB="$T/nope.so" "$HK" run -- /bin/true &&
    expect "missing HEAPKIT_LIB: message" "$T/err" 'HEAPKIT_LIB'

# --- run: the program's fate becomes ours ----------------------------------------------------
check_status "run true: exit 0" 0 "$HK" run -- /bin/true
check_status "run exit 3: exit 3" 3 "$HK" run -- sh -c 'exit 3'
check_status "program not found: exit 127" 127 "$HK" run -- "$T/no-such-program" &&
    expect "program not found: message" "$T/err" "cannot run '.*no-such-program'"
printf 'not a program\n' >"$T/noexec"
chmod -x "$T/noexec"
check_status "program not executable: exit 126" 126 "$HK" run -- "$T/noexec"
check_status "killed by SIGSEGV: exit 139" 139 "$HK" run -- sh -c 'kill -SEGV $$' &&
    expect "killed by SIGSEGV: names the signal" "$T/err" 'signal 11'
check_status "arguments passed through" 0 "$HK" run -- sh -c 'printf "%s|" "$@"' sh a '--stats' 'b c' &&
    expect "arguments passed through: unchanged" "$T/out" '^a\|--stats\|b c\|$'
check_status "stdin passed through" 0 sh -c "echo hello | '$HK' run -- cat" &&
    expect "stdin passed through: read" "$T/out" '^hello$'

# --- run: the environment the program gets ---------------------------------------------------
check_status "LD_PRELOAD set" 0 "$HK" run -- sh -c 'echo "$LD_PRELOAD"' &&
    expect "LD_PRELOAD names libheapkit.so" "$T/out" '^/[^:]*libheapkit\.so[.0-9]*$'
check_status "LD_PRELOAD prepended" 0 env LD_PRELOAD=libm.so.6 "$HK" run -- sh -c 'echo "$LD_PRELOAD"' &&
    expect "LD_PRELOAD keeps the old entries after ours" "$T/out" '^/.*libheapkit\.so[.0-9]*:libm\.so\.6$'
check_status "library mapped in the program" 0 "$HK" run -- cat /proc/self/maps &&
    expect "library mapped in the program: in maps" "$T/out" 'libheapkit\.so'
check_status "HEAPKIT_LIB honoured" 0 env HEAPKIT_LIB=libm.so.6 "$HK" run -- sh -c 'echo "$LD_PRELOAD"' &&
    expect "HEAPKIT_LIB honoured: preloaded" "$T/out" '^libm\.so\.6$'
check_status "options become variables" 0 "$HK" run --stats --stats-file="$T/v.json" --purge-delay 250 --verbose -- \
    sh -c 'echo "$HEAPKIT_STATS $HEAPKIT_PURGE_DELAY $HEAPKIT_VERBOSE $HEAPKIT_STATS_FILE"' &&
    expect "options become variables: values" "$T/out" "^1 250 1 $T/v.json\$"
check_status "no options, no variables" 0 env -u HEAPKIT_STATS -u HEAPKIT_VERBOSE "$HK" run -- sh -c 'echo "[${HEAPKIT_STATS-}${HEAPKIT_VERBOSE-}]"' &&
    expect "no options, no variables: empty" "$T/out" '^\[\]$'

# --- with the library at work (needs a working libheapkit.so) --------------------------------
check_status "--stats: exit 0" 0 "$HK" run --stats -- /bin/true &&
    expect "--stats: report on stderr" "$T/err" 'heapkit' &&
    expect "--stats: report shows reserved memory" "$T/err" 'reserved'
check_status "--stats-file x.json: exit 0" 0 env -C "$T" "$HK" run --stats-file x.json -- sh -c 'cd /; /bin/true'
if [ -s "$T/x.json" ]; then
    ok "--stats-file x.json: written relative to the caller's directory"
    expect "--stats-file x.json: has reserved" "$T/x.json" '"reserved"'
    if command -v python3 >/dev/null; then
        if python3 -m json.tool "$T/x.json" >/dev/null 2>"$T/jerr"; then ok "--stats-file x.json: valid JSON"
        else bad "--stats-file x.json: valid JSON" "$(cat "$T/jerr")"; fi
    fi
else
    bad "--stats-file x.json: written relative to the caller's directory" "no $T/x.json"
fi
check_status "--stats-file x.txt: exit 0" 0 "$HK" run --stats-file "$T/x.txt" -- /bin/true &&
    expect "--stats-file x.txt: text report" "$T/x.txt" 'reserved'

# --- the bundled example: same output with and without heapkit ------------------------------
"$WORDFREQ" --generate 300000 >"$T/plain.out" 2>&1
check_status "wordfreq under heapkit: exit 0" 0 "$HK" run --stats -- "$WORDFREQ" --generate 300000
if cmp -s "$T/plain.out" "$T/out"; then ok "wordfreq under heapkit: same output"
else bad "wordfreq under heapkit: same output" "$(diff "$T/plain.out" "$T/out" | head -5)"; fi
expect "wordfreq under heapkit: stats on stderr" "$T/err" 'reserved'
expect "wordfreq: top word is 'the'" "$T/plain.out" '^ +1 +[0-9]+ +[0-9]+  the$'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
