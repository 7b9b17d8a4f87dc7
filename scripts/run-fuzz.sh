#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang into build-fuzz/ and runs each for a
# bounded time over its committed seed corpus, fuzz/corpus/<target>/.
#
#   scripts/run-fuzz.sh                      every target, 60 s each
#   FUZZ_SECONDS=900 scripts/run-fuzz.sh ops one target, 15 minutes
#
# Prints how many inputs each target ran, then "N passed, N failed" (one test per
# target). A crash, a sanitizer report, a hang (an input running over 10 s), running
# out of memory or a failed invariant fails the target: the input is saved as
# build-fuzz/artifacts/<target>/<kind>-<sha1>; replay it with
# build-fuzz/bin/<target>_fuzzer <file> (SRD_FUZZ_LOG=1 shows the engine's log lines,
# which the targets otherwise turn off). What a run finds that covers new code goes
# to build-fuzz/corpus/<target>/, never into the committed seeds.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(open ops protocol resp)

echo "== building build-fuzz (clang-14, libFuzzer + ASan + UBSan)"
mkdir -p build-fuzz
if ! { CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DSRD_BUILD_FUZZERS=ON -DSRD_BUILD_TESTS=OFF -DSRD_BUILD_APPS=OFF -DSRD_BUILD_BENCHMARKS=OFF -DSRD_BUILD_NET=OFF \
         -DSRD_INSTALL=OFF -DSRD_BUILD_PYTHON=OFF >build-fuzz/configure.log 2>&1 &&
       cmake --build build-fuzz -j "$JOBS" >build-fuzz/build.log 2>&1; }; then
  tail -n 40 build-fuzz/configure.log build-fuzz/build.log
  echo "0 passed, ${#targets[@]} failed"
  exit 1
fi

# The targets' store files: on tmpfs when there is one (no disk I/O per input), in a
# directory of this run's own, removed afterwards.
scratch_base=${TMPDIR:-/tmp}
[ -w /dev/shm ] && scratch_base=/dev/shm
scratch=$(mktemp -d "$scratch_base/srd-fuzz-run-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# fuzz_one TARGET: runs one target for FUZZ_SECONDS; its output goes to
# build-fuzz/TARGET.log, its exit status to build-fuzz/TARGET.status.
fuzz_one() {
  local target=$1
  local binary=build-fuzz/bin/${target}_fuzzer log=build-fuzz/$target.log max_len
  mkdir -p "build-fuzz/corpus/$target" "build-fuzz/artifacts/$target"
  case $target in
    open) max_len=16384 ;;  # a few golden files as seeds, whole
    *) max_len=4096 ;;
  esac
  SRD_FUZZ_TMP=$scratch "$binary" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target/" \
    "build-fuzz/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1
  echo $? >"build-fuzz/$target.status"
}

# The targets run JOBS at a time: each is one single-threaded process.
runnable=()
for target in "${targets[@]}"; do
  if [ -x "build-fuzz/bin/${target}_fuzzer" ] && [ -d "fuzz/corpus/$target" ]; then
    runnable+=("$target")
    rm -f "build-fuzz/$target.status"
  fi
done
running=0
for target in "${runnable[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait

passed=0
failed=0
for target in "${targets[@]}"; do
  log=build-fuzz/$target.log
  if [ ! -f "build-fuzz/$target.status" ]; then
    echo "== $target: no such fuzz target"
    failed=$((failed + 1))
    continue
  fi
  echo "== $target: ${FUZZ_SECONDS}s over fuzz/corpus/$target"
  status=$(cat "build-fuzz/$target.status")
  executions=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  echo "   ${executions:-0} executions, ${coverage:-cov: ?} edges"
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
  else
    grep -E -A30 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ALARM|out-of-memory' "$log" | head -60
    grep -E 'Test unit written to' "$log"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
