#!/usr/bin/env bash
# lua.sh — real_lua: runs tests/real/workload.lua under lua5.4 with and without libheapkit.so
# preloaded; output must be identical. Skipped (77) when lua5.4 is not installed. Arg 1: libheapkit.so.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LUA=lua5.4
need "$LUA"
check_preload_effective

workload() {
    "$LUA" "$TESTS_DIR/workload.lua"
}
run_pair lua workload
