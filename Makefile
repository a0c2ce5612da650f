# Makefile — the front door: `make demo` runs heapkit on the bundled example and shows its
# statistics, then its leak report; `make test` builds everything and runs every test stage (scripts/test-all).
# The real build is CMake; this file only names the common jobs.
JOBS ?= 2
BUILD ?= build

.PHONY: all build demo test test-numa bench callgrind install clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/tools/heapkit run --stats -- $(BUILD)/examples/wordfreq
	@echo
	@echo "== the same program with two deliberate leaks (WORDFREQ_LEAK=1), under heapkit run --leaks =="
	WORDFREQ_LEAK=1 $(BUILD)/tools/heapkit run --leaks -- $(BUILD)/examples/wordfreq

test:
	scripts/test-all

# NUMA placement on real kernels: QEMU guests with 2 and 4 nodes (part of `make test` too).
test-numa: build
	tests/numa/run-guest $(BUILD)

bench: build
	bench/compare --build $(BUILD)

callgrind: build
	bench/callgrind-pair --build $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-lint
