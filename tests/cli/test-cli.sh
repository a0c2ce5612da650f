#!/bin/sh
# test-cli.sh — tests of the `heapkit` command, one section per ctest test (tests/cli/CMakeLists.txt):
#   command    (ctest: cli) options, exit codes and error messages; the program run gets the
#              library (LD_PRELOAD, its maps), its arguments, stdin, exit status and signal; the
#              HEAPKIT_* variables the options become; --stats and --stats-file; the wordfreq
#              example gives the same output with and without heapkit
#   env        (ctest: cli_env) option values: the command and the library take the same ones
#   symbolize, suppress, json, processes, options, noreport, e2e   (ctest: cli_leaks_SECTION)
#              the leak report: symbolization of hand-written raw reports
#              (docs/leak-report-format.md), suppressions, --exitcode, JSON, several processes and
#              checks, the run options, the "no report" explanations, and `run --leaks` end to end
# Usage: test-cli.sh SECTION HEAPKIT PROG PROG_NOPIE PROG_STATIC WORDFREQ
#   HEAPKIT: the command; PROG*: leak_prog.c built PIE, non-PIE and static; WORDFREQ: examples/wordfreq
set -u
ulimit -c 0 2>/dev/null || true # the SIGSEGV checks must not leave core files behind
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
if [ $# -ne 6 ]; then
    echo "usage: test-cli.sh SECTION HEAPKIT PROG PROG_NOPIE PROG_STATIC WORDFREQ" >&2
    exit 2
fi
SECTION=$1
HK=$(abspath "$2")
PROG=$(abspath "$3")
PROG_NOPIE=$(abspath "$4")
PROG_STATIC=$(abspath "$5")
WORDFREQ=$(abspath "$6")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; shift; for line in "$@"; do echo "       $line"; done; }

# check_status NAME WANT COMMAND... : runs COMMAND, keeps stdout/stderr in $T/out, $T/err.
check_status() {
    name=$1 want=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name"; return 0; fi
    bad "$name" "exit status $got, want $want" "stderr: $(head -c 1500 "$T/err")"
    return 1
}

# expect NAME FILE PATTERN : the file has a line matching the (grep -E) pattern.
expect() {
    if grep -Eq -- "$3" "$2"; then ok "$1"; else bad "$1" "no /$3/ in:" "$(head -c 3000 "$2")"; fi
}
# expect_not NAME FILE PATTERN : no line matches.
expect_not() {
    if grep -Eq -- "$3" "$2"; then bad "$1" "unexpected /$3/ in:" "$(grep -E -- "$3" "$2" | head -5)"; else ok "$1"; fi
}
# expect_order NAME FILE PATTERN1 PATTERN2 : the first line matching 1 comes before the first matching 2.
expect_order() {
    a=$(grep -En -- "$3" "$2" | head -1 | cut -d: -f1)
    b=$(grep -En -- "$4" "$2" | head -1 | cut -d: -f1)
    if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; then ok "$1"
    else bad "$1" "/$3/ (line ${a:-none}) should come before /$4/ (line ${b:-none})"; fi
}
# json_check NAME FILE PYTHON-EXPRESSIONS... : the file is valid JSON and each assert holds (j = the document).
json_check() {
    name=$1 file=$2
    shift 2
    if ! python3 -m json.tool "$file" >/dev/null 2>"$T/jerr"; then
        bad "$name: valid JSON" "$(cat "$T/jerr")" "$(head -c 1500 "$file")"
        return
    fi
    ok "$name: valid JSON"
    for a in "$@"; do
        if python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert $a" "$file" 2>"$T/jerr"; then ok "$name: $a"
        else bad "$name: $a" "$(tail -2 "$T/jerr")"; fi
    done
}

# --- the command, and `run` without leak checking ------------------------------------------
section_command() {
    check_status "--version exits 0" 0 "$HK" --version &&
        expect "--version prints the version" "$T/out" '^heapkit [0-9]+\.[0-9]+\.[0-9]+$'
    check_status "help exits 0" 0 "$HK" help && expect "help shows usage" "$T/out" 'heapkit run'
    check_status "run --help exits 0" 0 "$HK" run --help && expect "run --help lists --stats" "$T/out" '--stats'
    check_status "no command: exit 2" 2 "$HK" && expect "no command: message" "$T/err" '^heapkit: '
    check_status "unknown command: exit 2" 2 "$HK" frobnicate &&
        expect "unknown command: message" "$T/err" "unknown command 'frobnicate'"

    # usage errors
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

    # the program's fate becomes ours
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

    # the environment the program gets
    check_status "LD_PRELOAD set" 0 "$HK" run -- sh -c 'echo "$LD_PRELOAD"' &&
        expect "LD_PRELOAD names libheapkit.so" "$T/out" '^/[^:]*libheapkit\.so[.0-9]*$'
    check_status "LD_PRELOAD prepended" 0 env LD_PRELOAD=libm.so.6 "$HK" run -- sh -c 'echo "$LD_PRELOAD"' &&
        expect "LD_PRELOAD keeps the old entries after ours" "$T/out" '^/.*libheapkit\.so[.0-9]*:libm\.so\.6$'
    check_status "library mapped in the program" 0 "$HK" run -- cat /proc/self/maps &&
        expect "library mapped in the program: in maps" "$T/out" 'libheapkit\.so'
    check_status "HEAPKIT_LIB honoured" 0 env HEAPKIT_LIB=libm.so.6 "$HK" run -- sh -c 'echo "$LD_PRELOAD"' &&
        expect "HEAPKIT_LIB honoured: preloaded" "$T/out" '^libm\.so\.6$'
    check_status "HEAPKIT_LIB not a library: exit 2 before running" 2 env HEAPKIT_LIB=/etc/passwd "$HK" run -- sh -c 'echo ran' &&
        expect "HEAPKIT_LIB not a library: says so" "$T/err" '^heapkit: library /etc/passwd \(from HEAPKIT_LIB\) cannot be preloaded: not an ELF file$'
    expect_not "HEAPKIT_LIB not a library: program not run" "$T/out" 'ran'
    check_status "--lib an executable, not a shared object: exit 2" 2 "$HK" run --lib "$PROG_STATIC" -- /bin/true &&
        expect "--lib an executable: says so" "$T/err" 'cannot be preloaded: not an ELF shared object'
    check_status "options become variables" 0 "$HK" run --stats --stats-file="$T/v.json" --purge-delay 250 --verbose -- \
        sh -c 'echo "$HEAPKIT_STATS $HEAPKIT_PURGE_DELAY $HEAPKIT_VERBOSE $HEAPKIT_STATS_FILE"' &&
        expect "options become variables: values" "$T/out" "^1 250 1 $T/v.json\$"
    check_status "no options, no variables" 0 env -u HEAPKIT_STATS -u HEAPKIT_VERBOSE "$HK" run -- \
        sh -c 'echo "[${HEAPKIT_STATS-}${HEAPKIT_VERBOSE-}]"' &&
        expect "no options, no variables: empty" "$T/out" '^\[\]$'

    # with the library at work (needs a working libheapkit.so)
    check_status "--stats: exit 0" 0 "$HK" run --stats -- /bin/true &&
        expect "--stats: report on stderr" "$T/err" 'heapkit' &&
        expect "--stats: report shows reserved memory" "$T/err" 'reserved'
    # Every process of the run has statistics, but they are the command's output, not the
    # processes': a program that reads a child's stderr (python's test_json runs json.tool and
    # wants its stderr empty; git relays its helpers' stderr as "remote:" lines) must read what it
    # reads without heapkit. The command prints them all once the program has ended.
    check_status "--stats: a child's stderr is what the program reads" 0 "$HK" run --stats -- \
        sh -c 'err=$(/bin/true 2>&1); printf "[%s]\n" "$err"; /bin/true; echo program-stderr >&2' &&
        expect "--stats: the child's stderr read by the program is empty" "$T/out" '^\[\]$'
    # (dash leaves through _exit, without exit handlers: the two /bin/true make the reports)
    if [ "$(grep -c '^heapkit: memory statistics of pid [0-9]*$' "$T/err")" -ge 2 ]; then
        ok "--stats: the statistics of both children on the command's stderr"
    else
        bad "--stats: the statistics of both children on the command's stderr" "$(grep -n 'statistics' "$T/err")"
    fi
    expect_order "--stats: the statistics come after the program's own stderr" "$T/err" '^program-stderr$' \
        '^heapkit: memory statistics'
    check_status "--stats-file x.json: exit 0" 0 env -C "$T" "$HK" run --stats-file x.json -- sh -c 'cd /; /bin/true'
    if [ -s "$T/x.json" ]; then
        ok "--stats-file x.json: written relative to the caller's directory"
        expect "--stats-file x.json: has reserved" "$T/x.json" '"reserved"'
        if command -v python3 >/dev/null; then json_check "--stats-file x.json" "$T/x.json"; fi
    else
        bad "--stats-file x.json: written relative to the caller's directory" "no $T/x.json"
    fi
    check_status "--stats-file x.txt: exit 0" 0 "$HK" run --stats-file "$T/x.txt" -- /bin/true &&
        expect "--stats-file x.txt: text report" "$T/x.txt" 'reserved'
    check_status "--stats-file in no directory: the program still runs" 0 "$HK" run --stats-file "$T/no/such/s.txt" -- /bin/true &&
        expect "--stats-file in no directory: says why" "$T/err" \
            "^heapkit: cannot write statistics to $T/no/such/s.txt: No such file or directory\$"

    # a program heapkit could not be loaded into is said to be one
    check_status "static program: exit status kept" 0 "$HK" run -- "$PROG_STATIC" clean &&
        expect "static program: says heapkit was not loaded" "$T/err" \
            "^heapkit: heapkit was not loaded into $PROG_STATIC \\(pid [0-9]+\\), so it ran on the C library's malloc: it is statically linked"
    check_status "a dynamic program: no such line" 0 "$HK" run -- sh -c true &&
        expect_not "a dynamic program: no such line" "$T/err" 'not loaded'
    dropped=0
    for kb in 6000 10000 20000 30000 40000; do
        (ulimit -v $kb && "$HK" run -- /bin/true) >"$T/out" 2>"$T/err"
        if grep -q 'cannot be preloaded' "$T/err"; then
            dropped=$((dropped + 1))
            expect "ulimit -v $kb: the loader dropped heapkit, and heapkit run says so" "$T/err" \
                '^heapkit: heapkit was not loaded into /bin/true .*: the dynamic loader did not preload'
        else
            expect_not "ulimit -v $kb: heapkit loaded, nothing said" "$T/err" 'not loaded'
        fi
    done
    echo "       (the loader dropped the preload under $dropped of 5 limits)"
    # the bundled example: same output with and without heapkit
    "$WORDFREQ" --generate 300000 >"$T/plain.out" 2>&1
    check_status "wordfreq under heapkit: exit 0" 0 "$HK" run --stats -- "$WORDFREQ" --generate 300000
    if cmp -s "$T/plain.out" "$T/out"; then ok "wordfreq under heapkit: same output"
    else bad "wordfreq under heapkit: same output" "$(diff "$T/plain.out" "$T/out" | head -5)"; fi
    expect "wordfreq under heapkit: stats on stderr" "$T/err" 'reserved'
    expect "wordfreq: top word is 'the'" "$T/plain.out" '^ +1 +[0-9]+ +[0-9]+  the$'
}

# --- hand-written raw reports ----------------------------------------------------------------

# Known call sites of PROG: "name address line outer_line" (addresses relative to the load bias).
site() { # site PROGRAM NAME FIELD(2=address, 3=line, 4=outer line)
    "$1" frames | awk -v n="$2" -v f="$3" '$1 == n { print $f }'
}

# raw_report FILE PID CHECK REASON PROGRAM [end|noend]: a report with one group of each kind.
raw_report() {
    file=$1 pid=$2 check=$3 reason=$4 p=$5 last=${6:-end}
    mk=$(site "$p" make_node 2) pf=$(site "$p" print_frames 2) inl=$(site "$p" inl_helper 2)
    hki=$(site "$p" hk_fake_internal 2) hka=$(site "$p" hk_fake_alloc 2)
    {
        printf 'heapkit-leaks\t1\npid\t%s\t1\nexe\t%s\ncheck\t%s\t%s\nthreads\t2\t0\n' "$pid" "$p" "$check" "$reason"
        printf 'module\t0\t555555554000\t%s\nmodule\t1\t7f0000000000\t/nonexistent/libgone.so\n' "$p"
        printf 'module\t2\t7f1000000000\t/nonexistent/libheapkit.so.0\nmodule\t3\t7ffff7fc1000\tlinux-vdso.so.1\n'
        printf 'stack\t1\t0:%s\t0:%s\n' "$mk" "$pf"
        printf 'stack\t2\t0:%s\t1:1234\t-1:deadbeef\t3:99\n' "$inl"
        printf 'stack\t3\t2:4321\t0:%s\t0:%s\t0:%s\n' "$hki" "$hka" "$pf"
        printf 'stack\t4\t0:%s\t0:%s\n' "$hki" "$pf"
        printf 'leak\tdefinite\t1\t10\t320\t-\t1\t7f0000001000\n'
        printf 'leak\tindirect\t2\t3\t96\tconn\t2\t7f0000002000\n'
        printf 'leak\tpossible\t3\t1\t64\t-\t1\t7f0000003000\n'
        printf 'leak\treachable\t4\t1\t16\t-\t3\t7f0000004000\n'
        if [ "$last" = end ]; then # a report cut short loses its tail: summary and end
            printf 'summary\tdefinite\t10\t320\nsummary\tindirect\t3\t96\nsummary\tpossible\t1\t64\n'
            printf 'summary\treachable\t1\t16\nend\n'
        fi
    } >"$file"
}

section_symbolize() {
    for variant in pie nopie; do
        p=$PROG
        [ $variant = nopie ] && p=$PROG_NOPIE
        d=$T/sym-$variant
        mkdir -p "$d"
        raw_report "$d/leaks.4242.1.raw" 4242 1 exit "$p"
        check_status "$variant: leak-report exits 0 without --exitcode" 0 "$HK" leak-report "$d" || continue
        e=$T/err
        expect "$variant: header" "$e" '^==4242== heapkit: leak check at exit of .*/cli_leaks_prog(_nopie)? \(threads stopped: 2\)$'
        expect "$variant: definite group" "$e" '^==4242== 320 bytes in 10 blocks are definitely lost \(loss record 1 of 3\), allocated by thread 1$'
        expect "$variant: function, file, line and module" "$e" \
            "^==4242==    #0 make_node \\(.*leak_prog\\.c:$(site "$p" make_node 3)\\)  \\[$p\\]\$"
        expect "$variant: caller frame" "$e" "^==4242==    #1 print_frames \\(.*leak_prog\\.c:$(site "$p" print_frames 3)\\)  \\[$p\\]\$"
        expect "$variant: label" "$e" "^==4242== 96 bytes in 3 blocks are indirectly lost in 'conn' \\(loss record 2 of 3\\), allocated by thread 2\$"
        expect "$variant: inlined call is frame #0" "$e" "^==4242==    #0 inl_helper \\(.*leak_prog\\.c:$(site "$p" inl_helper 3)\\)  \\[$p\\]\$"
        expect "$variant: function it was inlined into is frame #1" "$e" \
            "^==4242==    #1 inl_outer \\(.*leak_prog\\.c:$(site "$p" inl_helper 4)\\)  \\[$p\\]\$"
        expect "$variant: unreadable module: address and module offset" "$e" '^==4242==    #2 0x7f0000001234 \(libgone\.so\+0x1234\)$'
        expect "$variant: address outside every module" "$e" '^==4242==    #3 0xdeadbeef \(in no module\)$'
        expect "$variant: vDSO frame" "$e" '^==4242==    #4 0x7ffff7fc1099 \(linux-vdso\.so\.1\+0x99\)$'
        expect "$variant: heapkit frames dropped down to the public entry point" "$e" \
            "^==4242==    #0 hk_fake_alloc \\(.*leak_prog\\.c:$(site "$p" hk_fake_alloc 3)\\)"
        expect_not "$variant: no libheapkit.so frame" "$e" 'libheapkit'
        expect_not "$variant: no internal hk_ frame" "$e" 'hk_fake_internal'
        expect_not "$variant: reachable group not listed" "$e" 'still reachable \(loss record'
        expect "$variant: summary definite" "$e" '^==4242==    definitely lost: 320 bytes in 10 blocks$'
        expect "$variant: summary indirect" "$e" '^==4242==    indirectly lost: 96 bytes in 3 blocks$'
        expect "$variant: summary possible" "$e" '^==4242==      possibly lost: 64 bytes in 1 block$'
        expect "$variant: summary reachable" "$e" '^==4242==    still reachable: 16 bytes in 1 block$'
        expect "$variant: summary suppressed" "$e" '^==4242==         suppressed: 0 bytes in 0 blocks$'
        expect "$variant: hint for reachable" "$e" 'show-reachable'

        check_status "$variant: --show-reachable" 0 "$HK" leak-report --show-reachable "$d" &&
            expect "$variant: --show-reachable lists the reachable group" "$T/err" \
                '^==4242== 16 bytes in 1 block is still reachable \(loss record 4 of 4\), allocated by thread 3$' &&
            expect "$variant: internal frames above the caller dropped" "$T/err" \
                "^==4242==    #0 print_frames \\(.*leak_prog\\.c:$(site "$p" print_frames 3)\\)"
    done
    # glibc's functions: the public alias (strdup), not the name they are defined under (__strdup)
    libc=$(ldd "$PROG" | awk '/libc\.so/ { print $3 }')
    if [ -n "$libc" ] && command -v nm >/dev/null; then
        a=$(nm -D "$libc" | awk '$3 ~ /^strdup@/ { print $1 }')
        b=$(nm -D "$libc" | awk '$3 ~ /^getdelim@/ { print $1 }')
        d=$T/sym-libc
        mkdir -p "$d"
        {
            printf 'heapkit-leaks\t1\npid\t11\t1\nexe\t/x\ncheck\t1\texit\nthreads\t0\t0\nmodule\t0\t7f0000000000\t%s\n' "$libc"
            printf 'stack\t1\t0:%x\t0:%x\nleak\tdefinite\t1\t1\t8\t-\t1\t1000\nend\n' $((0x$a + 11)) $((0x$b + 11))
        } >"$d/leaks.11.1.raw"
        check_status "libc frames: report read" 0 "$HK" leak-report "$d" &&
            expect "libc frames: strdup, not __strdup" "$T/err" '^==11==    #0 strdup[ +]' &&
            expect "libc frames: getdelim, not __getdelim" "$T/err" '^==11==    #1 getdelim[ +]'
    else
        ok "libc frames: skipped (no libc found by ldd, or no nm)"
    fi
}

section_suppress() {
    d=$T/supp
    mkdir -p "$d"
    raw_report "$d/leaks.4242.1.raw" 4242 1 exit "$PROG"
    printf '# heapkit suppressions\n\n  leak:make_node  \nleak:*libgone*\nleak:nothing_matches_this\n' >"$T/s1"
    check_status "suppress by function and by module glob" 0 "$HK" leak-report --suppressions "$T/s1" "$d" &&
        expect_not "suppressed groups not listed" "$T/err" 'definitely lost \(loss|indirectly lost in' &&
        expect "suppressed counted" "$T/err" '^==4242==         suppressed: 416 bytes in 13 blocks$' &&
        expect "definite less what was suppressed" "$T/err" '^==4242==    definitely lost: 0 bytes in 0 blocks$' &&
        expect "suppressions used: by function" "$T/err" "^==4242==    320 bytes in 10 blocks: leak:make_node  \\($T/s1:3\\)\$" &&
        expect "suppressions used: by module" "$T/err" "^==4242==    96 bytes in 3 blocks: leak:\\*libgone\\*  \\($T/s1:4\\)\$" &&
        expect_not "unused suppression not listed" "$T/err" 'nothing_matches_this' &&
        expect "possible still listed" "$T/err" 'possibly lost \(loss record 1 of 1\)'
    check_status "--exitcode: all definite and indirect suppressed: exit 0" 0 \
        "$HK" leak-report --exitcode 9 --suppressions "$T/s1" "$d"
    check_status "--exitcode: leaks found: exit 9" 9 "$HK" leak-report --exitcode 9 "$d"
    check_status "--exitcode=0 given: exit 0" 0 "$HK" leak-report --exitcode=0 "$d"
    printf 'leak:*leak_prog.c\n' >"$T/s2"
    check_status "suppress by source file glob" 0 "$HK" leak-report --suppressions="$T/s2" "$d" &&
        expect "file glob suppresses all groups with program frames" "$T/err" 'suppressed: 496 bytes in 15 blocks'
    printf 'leak:leak_prog.c\n' >"$T/s3"
    check_status "suppress by source file name" 0 "$HK" leak-report --suppressions "$T/s3" "$d" &&
        expect "file name matches the basename" "$T/err" 'suppressed: 496 bytes in 15 blocks'
    printf 'leak:inl_outer\n' >"$T/s4"
    printf 'leak:cli_leaks_prog\n' >"$T/s5"
    check_status "two suppression files; inlined frames match" 0 "$HK" leak-report --suppressions "$T/s4" \
        --suppressions "$T/s5" --show-reachable "$d" &&
        expect "inlined-into function suppresses" "$T/err" "96 bytes in 3 blocks: leak:inl_outer  \\($T/s4:1\\)" &&
        expect "module basename suppresses" "$T/err" "leak:cli_leaks_prog  \\($T/s5:1\\)"

    printf 'leak:ok\n\nmake_node\n' >"$T/bad1"
    check_status "malformed suppression: exit 2" 2 "$HK" leak-report --suppressions "$T/bad1" "$d" &&
        expect "malformed suppression: names file:line" "$T/err" "^heapkit: $T/bad1:3: not a suppression: 'make_node'"
    printf 'race:foo\n' >"$T/bad2"
    check_status "unknown suppression type: exit 2" 2 "$HK" leak-report --suppressions "$T/bad2" "$d" &&
        expect "unknown suppression type: message" "$T/err" "$T/bad2:1: unknown suppression type 'race'"
    printf 'leak:\n' >"$T/bad3"
    check_status "empty pattern: exit 2" 2 "$HK" leak-report --suppressions "$T/bad3" "$d" &&
        expect "empty pattern: message" "$T/err" "$T/bad3:1: empty pattern"
    check_status "missing suppressions file: exit 2" 2 "$HK" leak-report --suppressions "$T/nope" "$d" &&
        expect "missing suppressions file: message" "$T/err" "cannot read the suppressions file $T/nope"
    check_status "run: malformed suppression stops before running: exit 2" 2 \
        "$HK" run --suppressions "$T/bad1" -- sh -c 'echo ran'
    expect_not "run: malformed suppression: program not run" "$T/out" 'ran'
}

section_json() {
    d=$T/json
    mkdir -p "$d"
    raw_report "$d/leaks.4242.1.raw" 4242 1 exit "$PROG"
    printf 'leak:make_node\n' >"$T/s"
    check_status "--json with suppressions" 0 "$HK" leak-report --json "$T/r.json" --suppressions "$T/s" "$d" || return
    json_check "leak-report --json" "$T/r.json" \
        'len(j["processes"]) == 1' \
        'j["processes"][0]["pid"] == 4242 and j["processes"][0]["ppid"] == 1' \
        'j["processes"][0]["status"] == "unknown" and j["processes"][0]["note"] is None' \
        'j["processes"][0]["exe"].endswith("cli_leaks_prog")' \
        '[c["check"] for c in j["processes"][0]["checks"]] == [1]' \
        'j["processes"][0]["checks"][0]["reason"] == "exit" and j["processes"][0]["checks"][0]["threads_stopped"] == 2' \
        '[l["kind"] for l in j["processes"][0]["checks"][0]["leaks"]] == ["definite", "indirect", "possible", "reachable"]' \
        'j["processes"][0]["checks"][0]["leaks"][0]["suppressed"] is True' \
        'j["processes"][0]["checks"][0]["leaks"][1]["suppressed"] is False' \
        'j["processes"][0]["checks"][0]["leaks"][1]["label"] == "conn" and j["processes"][0]["checks"][0]["leaks"][0]["label"] is None' \
        'j["processes"][0]["checks"][0]["leaks"][0]["stack"][0]["function"] == "make_node"' \
        'j["processes"][0]["checks"][0]["leaks"][0]["stack"][0]["file"].endswith("leak_prog.c")' \
        'isinstance(j["processes"][0]["checks"][0]["leaks"][0]["stack"][0]["line"], int)' \
        'j["processes"][0]["checks"][0]["leaks"][1]["stack"][0]["inlined"] is True' \
        'j["processes"][0]["checks"][0]["leaks"][1]["stack"][1]["function"] == "inl_outer"' \
        'j["processes"][0]["checks"][0]["leaks"][1]["stack"][2] == {"address": "0x7f0000001234", "offset": "0x1234", "module": "/nonexistent/libgone.so", "function": None, "file": None, "line": None, "inlined": False}' \
        'j["processes"][0]["checks"][0]["leaks"][1]["stack"][3]["module"] is None' \
        'j["processes"][0]["checks"][0]["summary"]["definite"] == {"blocks": 0, "bytes": 0}' \
        'j["processes"][0]["checks"][0]["summary"]["suppressed"] == {"blocks": 10, "bytes": 320}' \
        'j["processes"][0]["checks"][0]["summary"]["reachable"] == {"blocks": 1, "bytes": 16}' \
        'j["processes"][0]["checks"][0]["suppressions_used"][0]["pattern"] == "make_node"'

    # Strings that need escaping: quotes, backslashes, control characters, bytes that are not UTF-8.
    e=$T/esc
    mkdir -p "$e"
    printf 'heapkit-leaks\t1\npid\t7\t1\nexe\t/a "q" \\b\001\377\303\251\ncheck\t1\texit\nthreads\t0\t0\n' >"$e/leaks.7.1.raw"
    printf 'module\t0\t0\t/x"y\\z\nstack\t1\t0:10\nleak\tdefinite\t1\t1\t8\tl"ab\\el\t1\t1000\n' >>"$e/leaks.7.1.raw"
    printf 'summary\tdefinite\t1\t8\nsummary\tindirect\t0\t0\nsummary\tpossible\t0\t0\nsummary\treachable\t0\t0\nend\n' >>"$e/leaks.7.1.raw"
    check_status "--json: escaping" 0 "$HK" leak-report --json "$T/e.json" "$e" &&
        json_check "--json: escaping" "$T/e.json" \
            'j["processes"][0]["exe"] == "/a \"q\" \\b\x01\ufffd\u00e9"' \
            'j["processes"][0]["checks"][0]["leaks"][0]["label"] == "l\"ab\\el"' \
            'j["processes"][0]["checks"][0]["leaks"][0]["stack"][0]["module"] == "/x\"y\\z"'

    check_status "--json: unwritable file: exit 2" 2 "$HK" leak-report --json "$T/no/such/dir/r.json" "$d" &&
        expect "--json: unwritable file: message" "$T/err" 'cannot write the JSON report'
}

section_processes() {
    d=$T/procs
    mkdir -p "$d"
    raw_report "$d/leaks.4242.2.raw" 4242 2 exit "$PROG"
    raw_report "$d/leaks.4242.1.raw" 4242 1 call "$PROG"
    raw_report "$d/leaks.4300.1.raw" 4300 1 signal "$PROG"
    raw_report "$d/leaks.4301.1.raw" 4301 1 exit "$PROG" noend
    printf 'heapkit-leaks\t2\n' >"$d/leaks.4302.1.raw"
    printf 'heapkit-leaks\t1\npid\t4303\t1\nthreads\tmany\t0\n' >"$d/leaks.4303.1.raw"
    {
        printf 'heapkit-leaks\t1\npid\t4400\t4242\nexe\t/bin/child\ncheck\t1\texit\nthreads\t0\t0\nstack\t1\t-1:10\n'
        printf 'leak\treachable\t1\t1200\t1234567\t-\t1\t1000\nsummary\tdefinite\t0\t0\nsummary\tindirect\t0\t0\n'
        printf 'summary\tpossible\t0\t0\nsummary\treachable\t1200\t1234567\nend\n'
    } >"$d/leaks.4400.1.raw"
    : >"$d/unrelated.txt"
    check_status "several processes and checks" 0 "$HK" leak-report --json "$T/p.json" "$d" || return
    e=$T/err
    expect "on-demand check by call" "$e" '^==4242== heapkit: leak check 1 of .*, asked for by hk_leak_check\(\) \(threads stopped: 2\)$'
    expect "check at exit after it" "$e" '^==4242== heapkit: leak check at exit of '
    expect "later check says earlier blocks are not repeated" "$e" '^==4242== \(blocks listed by an earlier check'
    expect_order "checks in order of number" "$e" 'leak check 1 of' 'leak check at exit'
    expect "check on signal" "$e" '^==4300== heapkit: leak check 1 of .*, on signal'
    expect_order "processes in pid order" "$e" '^==4242==' '^==4300=='
    expect "cut short" "$e" '^==4301== warning: this report was cut short'
    expect "cut short: summary from the groups" "$e" '^==4301== LEAK SUMMARY \(added up from the loss records'
    expect "cut short: still shows its groups" "$e" '^==4301== 320 bytes in 10 blocks are definitely lost'
    expect "newer format version named" "$e" "leaks\\.4302\\.1\\.raw of 4302 cannot be used: format version 2; this heapkit reads version 1"
    expect "malformed record named with its line" "$e" "leaks\\.4303\\.1\\.raw of 4303 cannot be used: line 3: a threads record"
    expect "another process with nothing lost: one line" "$e" \
        '^==4400== heapkit: no leaks at exit of /bin/child \(1,234,567 bytes in 1,200 blocks still reachable\)$'
    json_check "several processes" "$T/p.json" \
        '[p["pid"] for p in j["processes"]] == [4242, 4300, 4301, 4302, 4303, 4400]' \
        'j["processes"][5]["ppid"] == 4242 and j["processes"][5]["checks"][0]["leaks"][0]["kind"] == "reachable"' \
        '[(c["check"], c["reason"]) for c in j["processes"][0]["checks"]] == [(1, "call"), (2, "exit")]' \
        'j["processes"][2]["checks"][0]["complete"] is False' \
        '"version" in j["processes"][3]["checks"][0]["error"]'

    mkdir -p "$T/empty"
    check_status "empty directory: exit 1" 1 "$HK" leak-report "$T/empty" &&
        expect "empty directory: message" "$T/err" "no raw leak reports .* in $T/empty"
    check_status "missing directory: exit 1" 1 "$HK" leak-report "$T/nope" &&
        expect "missing directory: message" "$T/err" "cannot read the leak reports in $T/nope"
    # files that cannot be used: exit 1, each named
    mkdir -p "$T/zero" "$T/cuthdr" "$T/badver"
    : >"$T/zero/leaks.5.1.raw"
    printf 'heapkit-leaks\t1\npid\t5\t1\nexe\t/x\nche' >"$T/cuthdr/leaks.5.1.raw"
    printf 'heapkit-le' >"$T/cuthdr/leaks.6.1.raw"
    printf 'heapkit-leaks\t7\n' >"$T/badver/leaks.5.1.raw"
    check_status "0-byte report only: exit 1" 1 "$HK" leak-report "$T/zero" &&
        expect "0-byte report: cannot be used" "$T/err" 'leaks\.5\.1\.raw of 5 cannot be used: the file is empty' &&
        expect "0-byte report: no usable report" "$T/err" "no usable raw leak report in $T/zero"
    check_status "reports cut inside the header only: exit 1" 1 "$HK" leak-report "$T/cuthdr" &&
        expect "cut inside the header: cannot be used" "$T/err" 'leaks\.6\.1\.raw of 6 cannot be used: the file ends inside its header' &&
        expect_not "cut inside the header: not shown as a check" "$T/err" 'LEAK SUMMARY'
    check_status "unknown version only: exit 1" 1 "$HK" leak-report "$T/badver"
    # totals saturate instead of wrapping
    mkdir -p "$T/wrap"
    {
        printf 'heapkit-leaks\t1\npid\t9\t1\nexe\t/x\ncheck\t1\texit\nthreads\t0\t0\nmodule\t0\t0\t/nonexistent/x\nstack\t1\t0:10\n'
        printf 'leak\tdefinite\t1\t1\t18446744073709551615\t-\t1\t1000\nleak\tdefinite\t1\t1\t37\t-\t1\t2000\n'
    } >"$T/wrap/leaks.9.1.raw"
    check_status "huge counts: report read" 0 "$HK" leak-report "$T/wrap" &&
        expect "huge counts: the total saturates" "$T/err" '^==9==    definitely lost: 18,446,744,073,709,551,615 bytes in 2 blocks$'
    printf 'leak:*\n' >"$T/all.supp"
    check_status "huge counts suppressed: report read" 0 "$HK" leak-report --suppressions "$T/all.supp" "$T/wrap" &&
        expect "huge counts suppressed: the total saturates" "$T/err" '^==9==         suppressed: 18,446,744,073,709,551,615 bytes in 2 blocks$'
    check_status "leak-report without a directory: exit 2" 2 "$HK" leak-report &&
        expect "leak-report without a directory: message" "$T/err" 'no directory given'
    check_status "leak-report with two directories: exit 2" 2 "$HK" leak-report "$d" "$d"
    check_status "leak-report unknown option: exit 2" 2 "$HK" leak-report --bogus "$d" &&
        expect "leak-report unknown option: message" "$T/err" "unknown option '--bogus'"
}

section_options() {
    check_status "help lists the leak options" 0 "$HK" help &&
        for o in --leaks --json --exitcode --suppressions --show-reachable --stack-depth --leak-signal leak-report; do
            expect "help: $o" "$T/out" "$o"
        done
    check_status "options become variables" 0 "$HK" run --leaks --stack-depth 8 --leak-signal SIGUSR2 -- \
        sh -c 'echo "$HEAPKIT_LEAKS $HEAPKIT_STACK_DEPTH $HEAPKIT_LEAK_SIGNAL $HEAPKIT_LEAK_DIR"; test -d "$HEAPKIT_LEAK_DIR" && echo isdir' &&
        expect "options become variables: values" "$T/out" '^1 8 12 /.*/heapkit-leaks\.[A-Za-z0-9]{6}$' &&
        expect "the leak directory exists while the program runs" "$T/out" '^isdir$'
    dir=$(head -1 "$T/out" | cut -d' ' -f4)
    if [ -n "$dir" ] && [ ! -e "$dir" ]; then ok "the leak directory is removed afterwards"
    else bad "the leak directory is removed afterwards" "$dir still there"; fi
    check_status "--leak-signal by number" 0 "$HK" run --leak-signal 10 -- sh -c 'echo "$HEAPKIT_LEAK_SIGNAL"' &&
        expect "--leak-signal by number: value" "$T/out" '^10$'
    check_status "--leak-signal USR1" 0 "$HK" run --leak-signal=USR1 -- sh -c 'echo "$HEAPKIT_LEAK_SIGNAL"' &&
        expect "--leak-signal USR1: value" "$T/out" '^10$'
    check_status "report options imply --leaks" 0 "$HK" run --show-reachable -- sh -c 'echo "$HEAPKIT_LEAKS"' &&
        expect "report options imply --leaks: value" "$T/out" '^1$'
    check_status "the leak directory is private (0700)" 0 "$HK" run --leaks -- sh -c 'stat -c %a "$HEAPKIT_LEAK_DIR"' &&
        expect "the leak directory is private: mode" "$T/out" '^700$'
    check_status "TMPDIR is honoured" 0 env TMPDIR="$T" "$HK" run --leaks -- sh -c 'echo "$HEAPKIT_LEAK_DIR"' &&
        expect "TMPDIR is honoured: place" "$T/out" "^$T/heapkit-leaks\\."
    for bad_value in "--stack-depth 0" "--stack-depth 65" "--stack-depth x" "--stack-depth -1" "--exitcode 256" \
        "--exitcode x" "--exitcode -1" "--leak-signal KILL" "--leak-signal SIGSEGV" "--leak-signal 9" \
        "--leak-signal BOGUS" "--leak-signal 0" "--leak-signal 999"; do
        # shellcheck disable=SC2086
        check_status "bad value $bad_value: exit 2" 2 "$HK" run $bad_value -- /bin/true &&
            expect "bad value $bad_value: message names it" "$T/err" "^heapkit: run: ${bad_value%% *}"
    done
    check_status "--json without a value: exit 2" 2 "$HK" run --json &&
        expect "--json without a value: message" "$T/err" 'needs a value'
    check_status "--json unwritable: exit 2 before running" 2 "$HK" run --json "$T/no/dir/x.json" -- sh -c 'echo ran'
    expect_not "--json unwritable: program not run" "$T/out" 'ran'
    # the JSON file is the command's, not the program's (close-on-exec)
    check_status "--json: the program does not inherit the file" 0 "$HK" run --json "$T/fd.json" -- ls -l /proc/self/fd &&
        expect_not "--json: no fd of the JSON file in the program" "$T/out" "fd\.json"
    # a reader that goes away: no SIGPIPE death, the directory removed, the program's status kept
    ( "$HK" run --leaks -- sh -c 'echo "$HEAPKIT_LEAK_DIR"; sleep 1' 2>&1; echo "$?" >"$T/pipe.status" ) | head -1 >"$T/pipe.out"
    expect "stderr closed by the reader: exit status of the program, not SIGPIPE" "$T/pipe.status" '^0$'
    dir=$(cat "$T/pipe.out")
    if [ -n "$dir" ] && [ ! -e "$dir" ]; then ok "stderr closed by the reader: the leak directory is removed"
    else bad "stderr closed by the reader: the leak directory is removed" "'$dir' still there"; fi
    # a signal that ends the command itself removes the directory too
    "$HK" run --leaks -- sh -c 'echo "$HEAPKIT_LEAK_DIR"; kill -USR1 $PPID; sleep 1' >"$T/sig.out" 2>"$T/sig.err"
    got=$?
    if [ "$got" -eq 138 ]; then ok "SIGUSR1 to the command: it ends by that signal"
    else bad "SIGUSR1 to the command: it ends by that signal" "exit status $got, want 138"; fi
    dir=$(head -1 "$T/sig.out")
    if [ -n "$dir" ] && [ ! -e "$dir" ]; then ok "SIGUSR1 to the command: the leak directory is removed"
    else bad "SIGUSR1 to the command: the leak directory is removed" "'$dir' still there"; fi
    check_status "program not found under --leaks: exit 127" 127 "$HK" run --leaks --json "$T/nf.json" -- "$T/no-such-program"
    json_check "program not found: JSON still valid" "$T/nf.json" 'j["processes"] == []'
}

section_noreport() {
    check_status "_exit: exit status kept" 0 "$HK" run --leaks -- "$PROG" _exit &&
        expect "_exit: says why there is no report" "$T/err" \
            "^heapkit: no leak report at exit from [0-9]+ \\($PROG\\): it exited \\(status 0\\) through _exit or exec"
    check_status "SIGSEGV: exit 139" 139 "$HK" run --leaks -- "$PROG" segv &&
        expect "SIGSEGV: says why there is no report" "$T/err" \
            "^heapkit: no leak report at exit from [0-9]+ \\($PROG\\): it was killed by signal 11 \\(SIGSEGV\\) before exit\$"
    check_status "shell killed by SIGSEGV: exit 139" 139 "$HK" run --leaks -- sh -c 'kill -SEGV $$' &&
        expect "shell killed: why" "$T/err" 'no leak report at exit from [0-9]+ \(sh\): it was killed by signal 11 \(SIGSEGV\)'
    check_status "SIGSEGV with --json: exit 139" 139 "$HK" run --leaks --json "$T/segv.json" -- "$PROG" segv &&
        json_check "SIGSEGV --json" "$T/segv.json" \
            'j["processes"][0]["status"] == "killed by signal 11"' \
            'j["processes"][0]["main"] is True and j["processes"][0]["checks"] == []' \
            '"SIGSEGV" in j["processes"][0]["note"]'
    check_status "static program: exit status kept" 0 "$HK" run --leaks -- "$PROG_STATIC" clean &&
        expect "static program: says heapkit could not be loaded" "$T/err" \
            'no leak report at exit from [0-9]+ .*: heapkit could not be loaded into it: it is statically linked'
    # a forked child killed by SIGKILL: named, and why, when heapkit reaped it
    check_status "forked child killed by SIGKILL (orphaned): exit 0" 0 "$HK" run --leaks --json "$T/ok.json" -- "$PROG" orphankill &&
        expect "orphaned child killed by SIGKILL: says which and why" "$T/err" \
            '^heapkit: process [0-9]+ \(forked by [0-9]+\) ended without a leak check: it was killed by signal 9 \(SIGKILL\)$' &&
        json_check "orphaned child killed by SIGKILL --json" "$T/ok.json" \
            'len(j["processes"]) == 2' \
            'j["processes"][1]["status"] == "killed by signal 9" and j["processes"][1]["ppid"] == j["processes"][0]["pid"]' \
            '"SIGKILL" in j["processes"][1]["note"]'
    # reaped by its parent: the library's wait functions noted how it ended
    for how in forkkill forkkill-waitid; do
        check_status "forked child killed by SIGKILL (reaped by its parent, $how): exit 0" 0 \
            "$HK" run --leaks --json "$T/$how.json" -- "$PROG" $how &&
            expect "reaped child killed by SIGKILL ($how): says which and why" "$T/err" \
                '^heapkit: process [0-9]+ \(forked by [0-9]+\) ended without a leak check: it was killed by signal 9 \(SIGKILL\)$' &&
            json_check "reaped child killed by SIGKILL ($how) --json" "$T/$how.json" \
                'len(j["processes"]) == 2' \
                'j["processes"][1]["status"] == "killed by signal 9" and j["processes"][1]["ppid"] == j["processes"][0]["pid"]'
    done
    # a child that ended through _exit, reaped by its parent: its exit status is named
    check_status "forked child that _exits (reaped by its parent): exit 0" 0 "$HK" run --leaks -- "$PROG" fork_exit &&
        expect "reaped child that _exits: says how" "$T/err" \
            '^heapkit: process [0-9]+ \(forked by [0-9]+\) ended without a leak check: it exited \(status 7\) through _exit or exec'
    check_status "--exitcode without a report: the program's status" 0 "$HK" run --exitcode 9 -- "$PROG" _exit
}

# --- with the library at work ------------------------------------------------------------------
section_e2e() {
    line=$(grep -n 'char \*volatile p = malloc(size);' "$(dirname "$0")/leak_prog.c" | cut -d: -f1)
    check_status "leak: exit status kept without --exitcode" 0 "$HK" run --leaks -- "$PROG" leak || return
    e=$T/err
    expect "leak: header" "$e" "^==[0-9]+== heapkit: leak check at exit of $PROG \\(threads stopped: [0-9]+\\)\$"
    expect "leak: group" "$e" '^==[0-9]+== 100 bytes in 1 block is definitely lost \(loss record 1 of 1\), allocated by thread 1$'
    # #0 is the allocation call itself (docs/leak-report-format.md), as in Valgrind, by the name
    # the program called (malloc, not hk_malloc, the name of its definition); the library used to
    # drop it with its own frames
    expect "leak: #0 is the allocation call" "$e" "^==[0-9]+==    #0 malloc .*libheapkit"
    expect "leak: #1 is the allocating function, file and line" "$e" "^==[0-9]+==    #1 leak_once \\(.*leak_prog\\.c:$line\\)  \\[$PROG\\]\$"
    expect "leak: #2 main" "$e" "^==[0-9]+==    #2 main \\(.*leak_prog\\.c:[0-9]+\\)"
    expect_not "leak: no heapkit frame but #0" "$e" '#[1-9][0-9]* .*libheapkit|#[1-9][0-9]* hk_'
    expect "leak: summary" "$e" '^==[0-9]+==    definitely lost: 100 bytes in 1 block$'
    check_status "leak: --exitcode 23" 23 "$HK" run --leaks --exitcode 23 -- "$PROG" leak
    printf 'leak:leak_once\n' >"$T/s"
    check_status "leak: suppressed, --exitcode not taken" 0 "$HK" run --exitcode 23 --suppressions "$T/s" -- "$PROG" leak &&
        expect "leak: suppressed: summary" "$e" 'suppressed: 100 bytes in 1 block$' &&
        expect "leak: suppressed: used" "$e" 'Suppressions used:'
    check_status "clean: --exitcode not taken" 0 "$HK" run --exitcode 23 -- "$PROG" clean &&
        expect "clean: nothing lost" "$e" 'definitely lost: 0 bytes in 0 blocks'
    check_status "non-PIE program" 0 "$HK" run --leaks -- "$PROG_NOPIE" leak &&
        expect "non-PIE program: symbolized" "$e" "#1 leak_once \\(.*leak_prog\\.c:$line\\)  \\[$PROG_NOPIE\\]\$"
    check_status "--stack-depth 1" 0 "$HK" run --stack-depth 1 -- "$PROG" leak &&
        expect "--stack-depth 1: #0 the call, #1 its caller" "$e" '#1 leak_once' && expect_not "--stack-depth 1: no #2" "$e" '#2 '
    check_status "fork: parent and child" 0 "$HK" run --leaks --json "$T/fork.json" -- "$PROG" fork &&
        json_check "fork" "$T/fork.json" \
            'len(j["processes"]) == 2' \
            'j["processes"][0]["main"] and j["processes"][0]["status"] == "exited 0"' \
            'j["processes"][1]["ppid"] == j["processes"][0]["pid"]' \
            'sum(l["bytes"] for l in j["processes"][1]["checks"][0]["leaks"] if l["kind"] == "definite") >= 200'
    check_status "hk_leak_check, then exit" 0 "$HK" run --leaks -- "$PROG" check &&
        expect_order "hk_leak_check: check 1, then at exit" "$e" 'leak check 1 of .*hk_leak_check' 'leak check at exit'
    check_status "--leak-signal USR2" 0 "$HK" run --leak-signal USR2 -- "$PROG" signal 12 &&
        expect "--leak-signal USR2: check on signal" "$e" 'leak check 1 of .*, on signal' &&
        expect "--leak-signal USR2: the leak" "$e" '100 bytes in 1 block is definitely lost'
    check_status "_exit with the library loaded: why" 0 "$HK" run --leaks -- "$PROG" _exit &&
        expect "_exit: no loaded-or-not doubt when the library is there" "$e" 'through _exit or exec'
}

# --- option values: one parser and one limit for the command and the library (src/base/parse.h) ---
section_env() {
    check_status "purge delay past the limit: the program still runs" 0 env HEAPKIT_PURGE_DELAY=2147483648 HEAPKIT_VERBOSE=1 \
        "$HK" run -- sh -c true &&
        expect "purge delay past the limit: refused by name" "$T/err" "HEAPKIT_PURGE_DELAY='2147483648' is not valid: expected milliseconds from 0 to 2147483647" &&
        expect_not "purge delay past the limit: not echoed wrapped" "$T/err" 'purge delay -'
    check_status "4294967295 ms: refused, not taken as -1" 0 env HEAPKIT_PURGE_DELAY=4294967295 HEAPKIT_VERBOSE=1 "$HK" run -- sh -c true &&
        expect "4294967295 ms: refused" "$T/err" "HEAPKIT_PURGE_DELAY='4294967295' is not valid" &&
        expect "4294967295 ms: the default kept" "$T/err" 'purge delay 50 ms'
    check_status "heap checking: delays four times the plain ones" 0 env HEAPKIT_CHECK=1 HEAPKIT_VERBOSE=1 "$HK" run -- sh -c true &&
        expect "heap checking: purge delay 200 ms" "$T/err" 'purge delay 200 ms' &&
        expect "heap checking: decay 4000 ms" "$T/err" 'decay 4000 ms'
    check_status "heap checking: delays as set" 0 env HEAPKIT_CHECK=1 HEAPKIT_PURGE_DELAY=50 HEAPKIT_DECAY=1000 HEAPKIT_VERBOSE=1 \
        "$HK" run -- sh -c true &&
        expect "heap checking: purge delay 50 ms as set" "$T/err" 'purge delay 50 ms' &&
        expect "heap checking: decay 1000 ms as set" "$T/err" 'decay 1000 ms'
    check_status "no checking: the plain delays" 0 env HEAPKIT_VERBOSE=1 "$HK" run -- sh -c true &&
        expect "no checking: decay 1000 ms" "$T/err" 'purge delay 50 ms .*decay 1000 ms'
    check_status "the largest purge delay: taken" 0 env HEAPKIT_PURGE_DELAY=2147483647 HEAPKIT_VERBOSE=1 "$HK" run -- sh -c true &&
        expect "the largest purge delay: echoed as it is" "$T/err" 'purge delay 2147483647 ms' &&
        expect_not "the largest purge delay: no complaint" "$T/err" 'not valid'
    check_status "--purge-delay with 10 digits, as the library takes" 0 "$HK" run --purge-delay 2147483647 -- sh -c 'echo "$HEAPKIT_PURGE_DELAY"' &&
        expect "--purge-delay 2147483647: passed on" "$T/out" '^2147483647$'
    check_status "--purge-delay past the limit: exit 2" 2 "$HK" run --purge-delay 2147483648 -- /bin/true &&
        expect "--purge-delay past the limit: says the limit" "$T/err" "^heapkit: run: --purge-delay wants milliseconds from 0 to 2147483647"
    check_status "--purge-delay 5ms: taken" 0 "$HK" run --purge-delay 5ms -- /bin/true
    check_status "--leak-signal 9: exit 2" 2 "$HK" run --leak-signal 9 -- /bin/true &&
        expect "--leak-signal 9: says why" "$T/err" "^heapkit: run: --leak-signal .*'9': SIGKILL cannot be caught"
    check_status "HEAPKIT_LEAK_SIGNAL=9: the program still runs" 0 env HEAPKIT_LEAKS=1 HEAPKIT_LEAK_SIGNAL=9 "$HK" run -- sh -c true &&
        expect "HEAPKIT_LEAK_SIGNAL=9: says why" "$T/err" "HEAPKIT_LEAK_SIGNAL='9' is not valid: SIGKILL cannot be caught"
    check_status "HEAPKIT_LEAK_SIGNAL=SEGV: the program still runs" 0 env HEAPKIT_LEAKS=1 HEAPKIT_LEAK_SIGNAL=SEGV "$HK" run -- sh -c true &&
        expect "HEAPKIT_LEAK_SIGNAL=SEGV: says why" "$T/err" "HEAPKIT_LEAK_SIGNAL='SEGV' is not valid: a fault signal"
    check_status "leak options without HEAPKIT_LEAKS=1" 0 env HEAPKIT_LEAK_DIR="$T" HEAPKIT_STACK_DEPTH=8 HEAPKIT_LEAK_SIGNAL=USR2 \
        "$HK" run -- sh -c true &&
        expect "leak options without HEAPKIT_LEAKS=1: said" "$T/err" 'HEAPKIT_[A-Z_]+ is set but ignored: leak checking is off'
    n=$(grep -c 'set but ignored' "$T/err")
    if [ "$n" -eq 1 ]; then ok "leak options without HEAPKIT_LEAKS=1: said once"; else bad "leak options without HEAPKIT_LEAKS=1: said once" "$n lines"; fi
    check_status "leak options with --leaks" 0 env HEAPKIT_STACK_DEPTH=8 "$HK" run --leaks -- sh -c true &&
        expect_not "leak options with --leaks: no complaint" "$T/err" 'ignored'
}

case $SECTION in
command | symbolize | suppress | json | processes | options | noreport | e2e | env) "section_$SECTION" ;;
*)
    echo "unknown section '$SECTION'" >&2
    exit 2
    ;;
esac
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
