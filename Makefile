# The project's commands. Each installs missing Debian packages first
# (scripts/install-deps.sh), so they work on a fresh machine.
#
#   make build   release build of everything into build/ (binaries in build/bin/)
#   make run     build, then serve data/store.bin over WebSocket in the foreground
#                (Ctrl-C stops it cleanly); prints how to connect
#   make demo    build, then use the CLI on data/store.bin (write, read, info)
#   make test    every test: release, ASan+UBSan (library and CLI), TSan (every test
#                that starts a thread), fuzzing, install check; ends with one line
#                "N passed, N failed, N skipped"
#   make bench   the benchmarks, C++ and Python (see docs/performance.md)
#   make bench-scale  srd-bench at 1M and 10M keys (SCALE_NS= for more) for ours,
#                LMDB and Kyoto, warm and cold, with curves (docs/performance.md, "Scale")

BUILD_TYPE ?= Release
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run demo test bench bench-scale clean

all: build

deps:
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh

build: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

# The server over the default store (created on first run), in the foreground.
PORT ?= 7878
RESP_PORT ?= 7879
run: build
	@mkdir -p data
	@echo "Serving data/store.bin on ws://127.0.0.1:$(PORT)/ws (docs/protocol.md, docs/net.md)."
	@echo "Connect with the C++ client, e.g.:"
	@echo "  simd_r_drive::net::Client client(\"ws://127.0.0.1:$(PORT)/ws\"); client.write(\"greeting\", \"hello\");"
	@echo "or from another shell: build/bin/srd-net-example ws://127.0.0.1:$(PORT)/ws greeting hello"
	@echo "The same store speaks the Redis protocol on 127.0.0.1:$(RESP_PORT) (docs/redis.md): redis-cli -p $(RESP_PORT) set greeting hello"
	@echo "Stop it with Ctrl-C: it answers what it has received, syncs and closes the store."
	@exec build/bin/simd-r-drive-server data/store.bin --port $(PORT) --resp-port $(RESP_PORT)

# The CLI over the default store (created on first run): write, read back, info.
CLI = build/bin/simd-r-drive data/store.bin
demo: build
	@mkdir -p data
	@echo '$$ simd-r-drive data/store.bin write greeting "hello, world"'
	@$(CLI) write greeting "hello, world"
	@echo '$$ simd-r-drive data/store.bin read greeting'
	@$(CLI) read greeting | cat; echo
	@echo '$$ simd-r-drive data/store.bin info'
	@$(CLI) info

test: deps
	@scripts/run-tests.sh

bench: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_BENCHMARKS=ON >/dev/null
	@cmake --build build -j $(JOBS)
	@build/bin/srd-bench
	@build/bin/srd-microbench --benchmark_min_time=0.1
	@build/bin/srd-net-bench
	@scripts/install-python.sh build
	@build/python-venv/bin/python -P bench/python/bench.py --markdown build/python-bench.md
	@/usr/bin/python3 bench/redis/bench.py --markdown build/redis-bench.md

# Long (about 20 minutes at 1M and 10M); scripts/bench-scale.sh says what 100M needs.
bench-scale: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_BENCHMARKS=ON >/dev/null
	@cmake --build build -j $(JOBS) --target srd-bench
	@scripts/bench-scale.sh

clean:
	rm -rf build build-asan build-tsan build-install build-install-shared build-ab build-fuzz
