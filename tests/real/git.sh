#!/usr/bin/env bash
# git.sh — real_git: a scripted history in a fresh local repository (commits, branches, a merge,
# log --stat, diff, blame, grep, gc, fsck) with and without libheapkit.so preloaded; names and dates
# are fixed so hashes are deterministic, and the outputs must be identical. Arg 1: libheapkit.so.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need git
check_preload_effective

export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME="Heap Kit" GIT_AUTHOR_EMAIL="hk@example.invalid"
export GIT_COMMITTER_NAME="Heap Kit" GIT_COMMITTER_EMAIL="hk@example.invalid" TZ=UTC LC_ALL=C
export GIT_PAGER=cat PAGER=cat GIT_TERMINAL_PROMPT=0

tick=1700000000
commit() {
    tick=$((tick + 3600))
    GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000" git commit -q "$@"
}

make_files() { # $1: round
    local r=$1
    mkdir -p src/lib docs "data/r$((r % 3))"
    for f in $(seq 1 30); do
        {
            echo "/* file $f, round $r */"
            for l in $(seq 1 $((20 + (f * r) % 40))); do
                echo "int f${f}_$l(int x) { return x * $l + $r; }"
            done
        } >"src/lib/f$f.c"
    done
    seq 1 $((500 + r * 50)) | sed "s/^/line $r: /" >"docs/notes$((r % 4)).txt"
    head -c $((20000 + r * 1000)) /dev/zero | tr '\0' "$(printf '\\%03o' $((65 + r % 26)))" >"data/r$((r % 3))/blob.bin"
}

workload() {
    export HOME=$PWD/home
    mkdir -p "$HOME" repo
    cd repo || return 1
    git init -q -b main .
    git config core.autocrlf false
    git config gc.auto 0
    for r in $(seq 1 12); do
        make_files "$r"
        git add -A
        commit -m "round $r: regenerate sources and notes"
    done
    git checkout -q -b feature HEAD~4
    for r in 20 21 22; do
        make_files "$r"
        echo "feature $r" >"FEATURE-$r"
        git add -A
        commit -m "feature work $r"
    done
    git checkout -q main
    tick=$((tick + 3600))
    GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000" \
        git merge -q --no-ff -X theirs -m "merge feature" feature
    GIT_COMMITTER_DATE="@$tick +0000" git tag -a v1 -m "tag v1"
    echo "== log"
    git log --stat --graph --format='%H %an %ad %s' --date=raw
    echo "== diff"
    git diff --stat HEAD~5 HEAD
    git diff HEAD~2 HEAD -- src/lib/f7.c | head -50
    echo "== blame"
    git blame -s --date=raw src/lib/f3.c | head -20
    echo "== grep"
    git grep -c "return x" HEAD -- src | head -10
    echo "== rev-list"
    git rev-list --all --objects | sort | sha1sum
    echo "== gc"
    git gc -q --aggressive
    git fsck --full --strict 2>&1
    git count-objects -v | grep -E "^(count|in-pack|packs|prune-packable|garbage):"
    git verify-pack -v .git/objects/pack/*.idx | grep -c "blob\|tree\|commit"
    echo "== archive"
    git archive --format=tar HEAD | tar tf - | sort | sha1sum
    git cat-file -p HEAD
    git describe --tags
    git status --porcelain
}
run_pair git workload
