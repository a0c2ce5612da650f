#!/usr/bin/env bash
# python.sh — real_python: runs tests/real/workload.py under python3 with and without
# libheapkit.so preloaded; stdout, stderr and exit status must be identical. Arg 1: libheapkit.so.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need python3
check_preload_effective
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

workload() {
    python3 "$TESTS_DIR/workload.py"
}
run_pair python workload

# the interpreter starting and stopping many times (startup and exit paths of the allocator)
many_starts() {
    for i in $(seq 1 10); do
        python3 -c "import json, re, collections; print($i, len(json.dumps(list(range($i * 1000)))))"
    done
}
run_pair python_starts many_starts
