# The project's commands. Each installs missing Debian packages first
# (scripts/install-deps.sh), so they work on a fresh machine.
#
#   make build   release build of everything into build/ (binaries in build/bin/)
#   make run     build, then run the quickstart over data/store.bin
#   make test    every test: release, ASan+UBSan, TSan (concurrency), install check;
#                ends with one line "N passed, N failed"
#   make bench   the benchmarks (see docs/performance.md)

BUILD_TYPE ?= Release
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench clean

all: build

deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

build: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	@mkdir -p data
	@build/bin/srd-quickstart data/store.bin

test: deps
	@scripts/run-tests.sh

bench: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_BENCHMARKS=ON >/dev/null
	@cmake --build build -j $(JOBS)
	@build/bin/srd-bench
	@build/bin/srd-microbench --benchmark_min_time=0.1

clean:
	rm -rf build build-asan build-tsan build-install
