#!/usr/bin/env bash
# Builds and runs every test suite, then prints one summary line:
#   "N passed, N failed"
# Suites: the GoogleTest binary in release and under ASan+UBSan, the CLI suite
# (the real binary), the concurrency tests under TSan, a bounded libFuzzer pass
# (scripts/run-fuzz.sh), and an install check (find_package from a separate project).
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
passed=0
failed=0
log_dir=$(mktemp -d)

# run_gtest NAME BINARY [ARGS...]: runs a GoogleTest binary, adds its counts.
run_gtest() {
  local name=$1; shift
  local log="$log_dir/$name.log"
  echo "== $name: $*"
  "$@" --gtest_brief=1 >"$log" 2>&1
  local status=$?
  local ok bad
  ok=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  bad=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' || true)
  ok=${ok:-0}; bad=${bad:-0}
  # A crash (sanitizer report, signal) before gtest's summary counts as a failure.
  if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  grep -E '^\[  FAILED  \]|ERROR: (Address|Undefined|Thread)Sanitizer|runtime error:|WARNING: ThreadSanitizer' "$log" | sort -u | head -40
  echo "   $ok passed, $bad failed"
  passed=$((passed + ok)); failed=$((failed + bad))
}

# build DIR [CMAKE ARGS...]: configures and builds the test binary; a failed build
# counts as one failed test so the summary cannot look clean.
build() {
  local dir=$1; shift
  echo "== building $dir"
  if ! { cmake -S . -B "$dir" -G Ninja "$@" >"$log_dir/$(basename "$dir")-configure.log" 2>&1 &&
         cmake --build "$dir" -j "$JOBS" >"$log_dir/$(basename "$dir")-build.log" 2>&1; }; then
    tail -40 "$log_dir/$(basename "$dir")-configure.log" "$log_dir/$(basename "$dir")-build.log"
    failed=$((failed + 1))
    return 1
  fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

if build build -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_BENCHMARKS=OFF; then
  run_gtest release build/bin/srd_tests
  # The command-line tool, run as a user would (tests/cli/).
  run_gtest cli build/bin/srd_cli_tests
fi
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DSRD_SANITIZE=address,undefined -DSRD_BUILD_APPS=OFF -DSRD_BUILD_BENCHMARKS=OFF; then
  run_gtest asan-ubsan build-asan/bin/srd_tests
fi
if build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSRD_SANITIZE=thread -DSRD_BUILD_APPS=OFF -DSRD_BUILD_BENCHMARKS=OFF; then
  run_gtest tsan build-tsan/bin/srd_tests --gtest_filter='Concurrency*:KeyIndex*:LiveBits*:Iteration*:Compaction*:Durability*:Follower*:Locking*:IndexSnapshot*'
fi

# libFuzzer over the committed seed corpora (scripts/run-fuzz.sh): one test per target.
echo "== fuzz: ${FUZZ_SECONDS:=40}s per target"
FUZZ_SECONDS=$FUZZ_SECONDS JOBS=$JOBS scripts/run-fuzz.sh >"$log_dir/fuzz.log" 2>&1
fuzz_summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log_dir/fuzz.log" | tail -1)
grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$log_dir/fuzz.log" | head -80
echo "   ${fuzz_summary:=0 passed, 1 failed}"
passed=$((passed + ${fuzz_summary%% *})); failed=$((failed + $(echo "$fuzz_summary" | cut -d' ' -f3)))

echo "== install check"
if scripts/check-install.sh >"$log_dir/install.log" 2>&1; then
  passed=$((passed + 1)); echo "   1 passed, 0 failed"
else
  tail -30 "$log_dir/install.log"; failed=$((failed + 1)); echo "   0 passed, 1 failed"
fi

rm -rf "$log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
