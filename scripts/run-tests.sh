#!/usr/bin/env bash
# Builds and runs every test suite, then prints one summary line, the last line of
# its output:
#   "N passed, N failed, N skipped"
# Stages: the GoogleTest binaries (one per layer, the public API, the conformance
# cases, the extensions library) in release and under ASan+UBSan; the CLI suite (the
# real binary) against the release build and against the ASan+UBSan build of the
# tool; the network suites (net/tests: codec, server core and client in process,
# conformance through the client, the server binary) in release and under
# ASan+UBSan; the Redis front door's suite (scripts/run-redis-tests.sh) against the
# release and the ASan+UBSan server; every test that starts a thread (or a process) under TSan, the
# in-process network suites included; a bounded libFuzzer pass
# (scripts/run-fuzz.sh); an install check (find_package from a separate project); the
# Python package's pytest suite (scripts/run-python-tests.sh: installed from the
# release build into a venv under it, and again from the ASan+UBSan build with the
# sanitizer runtimes preloaded; its network tests start that build's server).
#
# The machine's cores (JOBS) are kept busy: each GoogleTest binary runs as JOBS
# shards side by side, the Redis and Python suites of a build run together, and the
# fuzz targets JOBS at a time.
#
# Each stage line reads "N passed, N failed, N skipped", and names the skipped
# tests. A stage that ran no test at all (a filter that matches nothing, a binary
# that dies before its first test) counts as a failure, and so does a stage that
# outlives its time limit (a deadlock must fail CI, not hang it). The limits are
# several times what each stage takes on a 2-core machine; STAGE_TIME_SCALE
# multiplies them for slower ones.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
STAGE_TIME_SCALE=${STAGE_TIME_SCALE:-1}
passed=0
failed=0
skipped=0
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# limited SECONDS COMMAND...: runs COMMAND with a time limit of SECONDS (scaled);
# returns 124 if it had to be stopped.
limited() {
  local seconds=$(( $1 * STAGE_TIME_SCALE )); shift
  timeout --signal=TERM --kill-after=30 "$seconds" "$@"
  local status=$?
  [ "$status" -eq 137 ] && status=124  # still running after TERM: killed
  return "$status"
}

# stage_result NAME OK BAD SKIP: prints a stage's line and adds its counts.
stage_result() {
  echo "   $2 passed, $3 failed, $4 skipped"
  passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
}

# run_gtest NAME SECONDS BINARY [ARGS...]: runs a GoogleTest binary with a time
# limit, adds its counts. The binary's tests are split into TEST_SHARDS shards
# (GoogleTest's own sharding: test i goes to shard i mod N), run side by side, each
# a process with its own time limit: most suites keep one core busy, and the
# machine has JOBS of them. The tests share nothing but the machine: each makes its
# own temporary directory, and servers listen on port 0.
TEST_SHARDS=${TEST_SHARDS:-$JOBS}
run_gtest() {
  local name=$1 seconds=$2; shift 2
  echo "== $name: $* (limit $(( seconds * STAGE_TIME_SCALE ))s, $TEST_SHARDS shards)"
  local started=$SECONDS
  local shard pids=()
  for ((shard = 0; shard < TEST_SHARDS; shard++)); do
    GTEST_TOTAL_SHARDS=$TEST_SHARDS GTEST_SHARD_INDEX=$shard \
      limited "$seconds" "$@" --gtest_brief=1 --gtest_output="xml:$log_dir/$name.$shard.xml" \
      >"$log_dir/$name.$shard.log" 2>&1 &
    pids+=($!)
  done
  # The stage's status: a timeout (124) if any shard timed out, else the first
  # non-zero exit.
  local status=0 shard_status
  for shard in "${!pids[@]}"; do
    wait "${pids[$shard]}"
    shard_status=$?
    if [ "$shard_status" -eq 124 ] || { [ "$status" -eq 0 ] && [ "$shard_status" -ne 0 ]; }; then
      status=$shard_status
    fi
  done
  local log="$log_dir/$name.log"
  cat "$log_dir/$name".*.log >"$log"
  local ok=0 bad=0 skip=0 count
  for ((shard = 0; shard < TEST_SHARDS; shard++)); do
    local shard_log="$log_dir/$name.$shard.log"
    count=$(grep -oE '^\[  PASSED  \] [0-9]+' "$shard_log" | grep -oE '[0-9]+$' || true)
    ok=$((ok + ${count:-0}))
    count=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$shard_log" | grep -oE '[0-9]+' || true)
    bad=$((bad + ${count:-0}))
    count=$(grep -oE '^\[  SKIPPED \] [0-9]+ test' "$shard_log" | grep -oE '[0-9]+' || true)
    skip=$((skip + ${count:-0}))
  done
  grep -E '^\[  FAILED  \]|ERROR: (Address|Undefined|Thread|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' "$log" | sort -u | head -40
  # Brief output counts the skipped tests but does not name them: the XML reports do.
  if [ "$skip" -ne 0 ]; then
    cat "$log_dir/$name".*.xml 2>/dev/null | grep -E '<testcase .*result="skipped"' |
      sed -E 's/.*name="([^"]*)".*classname="([^"]*)".*/   skipped: \2.\1/'
  fi
  end_stage "$name" "$seconds" "$status" "$log" "$started" "$ok" "$bad" "$skip"
}

# end_stage NAME SECONDS STATUS LOG STARTED OK BAD SKIP: the rules every stage ends
# with. A stage that timed out, exited non-zero without reporting a failed test (a
# sanitizer report, a signal), or ran no test at all counts as failed; then its counts
# are added.
end_stage() {
  local name=$1 seconds=$2 status=$3 log=$4 started=$5 ok=$6 bad=$7 skip=$8
  if [ "$status" -eq 124 ]; then
    tail -5 "$log"
    echo "   TIMED OUT: still running after $(( seconds * STAGE_TIME_SCALE ))s (a deadlock or a hang?); stopped"
    bad=$((bad + 1))
  elif [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
    tail -5 "$log"
    echo "   exited with status $status before reporting a failed test"
    bad=1
  fi
  if [ $((ok + bad + skip)) -eq 0 ]; then
    echo "   ran no tests: a filter that matches nothing, or a runner that never started one"
    bad=1
  fi
  echo "   took $((SECONDS - started))s"
  stage_result "$name" "$ok" "$bad" "$skip"
}

# build DIR [CMAKE ARGS...]: configures and builds; a failed (or hung) build counts
# as one failed test so the summary cannot look clean.
build() {
  local dir=$1; shift
  local name
  name=$(basename "$dir")
  echo "== building $dir"
  local started=$SECONDS
  if ! { limited 600 cmake -S . -B "$dir" -G Ninja "$@" >"$log_dir/$name-configure.log" 2>&1 &&
         limited 3600 cmake --build "$dir" -j "$JOBS" >"$log_dir/$name-build.log" 2>&1; }; then
    tail -n 40 "$log_dir/$name-configure.log" "$log_dir/$name-build.log"
    failed=$((failed + 1))
    return 1
  fi
  echo "   took $((SECONDS - started))s"
}

# The trees share compiler-cache entries where their flags match (the install
# check's static build and the release tree's library): paths relative to the repo.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan-suppressions.txt"

# start_counted NAME SECONDS COMMAND...: starts, in the background and with a time
# limit, a script whose last line is "N passed, N failed, N skipped";
# finish_counted NAME waits for it, prints what it said about failures and skips, and
# adds its counts. Two such stages may run side by side (each is mostly one process).
declare -A counted_pid counted_started counted_seconds
start_counted() {
  local name=$1 seconds=$2; shift 2
  echo "== $name: $* (limit $(( seconds * STAGE_TIME_SCALE ))s, started)"
  counted_started[$name]=$SECONDS
  counted_seconds[$name]=$seconds
  { limited "$seconds" "$@" >"$log_dir/$name.log" 2>&1; echo $? >"$log_dir/$name.status"; } &
  counted_pid[$name]=$!
}
finish_counted() {
  local name=$1
  wait "${counted_pid[$name]}"
  local log="$log_dir/$name.log" status
  status=$(cat "$log_dir/$name.status" 2>/dev/null || echo 1)
  echo "== $name: finished"
  local summary ok bad skip
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
  # What the runner said of failures and skips, and the scripts' own complaints
  # ("python: ...", "redis: ...": a missing tool, a failed install).
  grep -E '^(FAILED|ERROR|SKIPPED) |^(python|redis): |Fatal Python error|ERROR: (Address|Undefined)Sanitizer|runtime error:' "$log" | head -40
  ok=$(echo "$summary" | cut -d' ' -f1); bad=$(echo "$summary" | cut -d' ' -f3); skip=$(echo "$summary" | cut -d' ' -f5)
  ok=${ok:-0}; bad=${bad:-0}; skip=${skip:-0}
  end_stage "$name" "${counted_seconds[$name]}" "$status" "$log" "${counted_started[$name]}" "$ok" "$bad" "$skip"
}

# run_suites LABEL BUILD_DIR SCALE [EXTENSIONS FILTER]: the library's suites
# (tests/CMakeLists.txt: one binary per layer, the public API, the conformance cases)
# and the extensions' (extensions/tests/) from one build. SCALE multiplies the time
# limits for the slower sanitizer builds.
run_suites() {
  local label=$1 dir=$2 scale=$3 extensions_filter=${4:-*}
  run_gtest "$label-format" $((60 * scale)) "$dir/bin/srd_format_tests"
  run_gtest "$label-io" $((60 * scale)) "$dir/bin/srd_io_tests"
  run_gtest "$label-engine" $((600 * scale)) "$dir/bin/srd_engine_tests"
  run_gtest "$label-api" $((600 * scale)) "$dir/bin/srd_tests"
  run_gtest "$label-conformance" $((120 * scale)) "$dir/bin/srd_conformance_tests"
  run_gtest "$label-extensions" $((180 * scale)) "$dir/bin/srd_extensions_tests" --gtest_filter="$extensions_filter"
}

# run_net_suites LABEL BUILD_DIR SCALE [PROCESS_TEST_FILTER]: the network layer's
# suites (net/tests/): the codec, a server core in process with the client, the
# conformance cases through the client, and (when the build has the server binary)
# the real binary in child processes. Every server listens on 127.0.0.1, port 0.
run_net_suites() {
  local label=$1 dir=$2 scale=$3 process_filter=${4:-*}
  run_gtest "$label-net-protocol" $((60 * scale)) "$dir/bin/srd_net_protocol_tests"
  run_gtest "$label-net" $((300 * scale)) "$dir/bin/srd_net_tests"
  run_gtest "$label-net-conformance" $((120 * scale)) "$dir/bin/srd_net_conformance_tests"
  if [ -x "$dir/bin/srd_net_process_tests" ]; then
    run_gtest "$label-net-process" $((300 * scale)) "$dir/bin/srd_net_process_tests" --gtest_filter="$process_filter"
  fi
}

if build build -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_BENCHMARKS=OFF; then
  run_suites release build 1
  # The command-line tool, run as a user would (tests/cli/).
  run_gtest cli 300 build/bin/srd_cli_tests
  run_net_suites release build 1
  # The Redis front door (net/tests/redis): redis-py, redis-cli, redis-benchmark and
  # nutcracker against this build's server; beside it, the Python package
  # (python/tests), installed from this build.
  start_counted redis 300 scripts/run-redis-tests.sh build
  start_counted python 600 scripts/run-python-tests.sh build
  finish_counted redis
  finish_counted python
fi
# The sanitizer trees keep line tables only (-g1): a report needs file and line, and
# full debug info costs 12% (ASan+UBSan) to 28% (TSan) of the compile time of the
# Beast-heavy sources, the longest in the build.
# The peak-memory tests measure a sanitizer's shadow memory and quarantine, not the
# code: they run in the release build only (LargeFile here, Streaming in the CLI's).
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DSRD_SANITIZE=address,undefined -DSRD_BUILD_BENCHMARKS=OFF; then
  run_suites asan-ubsan build-asan 2 '-LargeFile.*'
  # The same CLI suite against the ASan+UBSan build of the tool: every run of the
  # binary is checked for memory errors, undefined behaviour and leaks. Left out:
  # the test of peak memory, which measures ASan's shadow memory and quarantine,
  # not the tool's.
  if [ -x build/bin/srd_cli_tests ]; then
    SRD_CLI_BINARY=build-asan/bin/simd-r-drive run_gtest cli-asan-ubsan 900 build/bin/srd_cli_tests \
      --gtest_filter='-Streaming.OneGibValueIsWrittenAndReadBackInBoundedMemory'
  fi
  # The network suites, with the ASan+UBSan server binary in the process tests. Left
  # out: the two that measure the server's memory (ASan's shadow and quarantine, not
  # the server's), one of which streams 4 GiB.
  run_net_suites asan-ubsan build-asan 3 \
    '-ServerBinary.AClientThatNeverReadsItsAnswersCostsBoundedMemory:ServerBinary.AFourGibValueStreamsBothWaysInBoundedServerMemory'
  # The Redis suite against the ASan+UBSan server: whatever the clients send, no
  # memory error, undefined behaviour or leak.
  if [ -x build-asan/bin/simd-r-drive-server ]; then
    start_counted redis-asan-ubsan 600 scripts/run-redis-tests.sh build-asan
  fi
  # The Python package built with ASan+UBSan, the runtimes preloaded into the
  # interpreter (the tests that measure memory skip themselves there).
  SRD_PYTHON_SANITIZE=address,undefined start_counted python-asan-ubsan 900 scripts/run-python-tests.sh build-asan
  [ -n "${counted_pid[redis-asan-ubsan]:-}" ] && finish_counted redis-asan-ubsan
  finish_counted python-asan-ubsan
fi
if build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DSRD_SANITIZE=thread -DSRD_BUILD_APPS=OFF -DSRD_BUILD_BENCHMARKS=OFF -DSRD_BUILD_PYTHON=OFF; then
  # Every test that starts a thread, directly (std::thread, par_iter_entries, the
  # kGroupCommit and kSyncPeriodically sync threads) or through the engine
  # (compaction builds the new index on a second thread, and compact() is called
  # all over the suite), and the fault-injection runs, which fork. That is all of
  # them, less:
  #  - suites that start no thread and call nothing that does: pure format,
  #    hashing, recovery parsing and golden-file decoding, and the bit-flip matrix
  #    (thousands of single-threaded reopens of damaged golden files; its
  #    compaction cases are BitFlipCompaction, which stays in);
  #  - suites built on tests/child_process.h (kill loop, multi-process, read-only
  #    file system, files a crashed writer left and what the original appended to
  #    them): ChildProcess refuses to fork while the process has another thread,
  #    and TSan's runtime keeps one. What their children run is the same engine
  #    code the in-process tests run under TSan;
  #  - the model of the Rust original's reader, which is single-threaded test code;
  #  - the fault-injection runs in the two modes that start no sync thread (flush,
  #    sync-each-write): there a fault meets no other thread but compaction's, which
  #    the two threaded modes' runs (the same faults, compaction included) and the
  #    Compaction suite cover; the release and ASan+UBSan stages run all four modes.
  tsan_filter='-Format.*:Hashing.*:GoldenHashVectors.*:GoldenNamespaceHasher.*:RecoveryParser.*:BitFlip/GoldenBitFlip.*:BitFlipTombstone.*:Golden/GoldenFileTest.*:KillLoop.*:KillLoop/*:MultiProcess.*:ReadOnlyFilesystem.*:PaddingCrashLeft.*:*ForeignAppend*:OriginalReader.*:Golden/OriginalReaderGolden.*'
  run_gtest tsan-engine 1200 build-tsan/bin/srd_engine_tests \
    --gtest_filter="$tsan_filter:Modes/FaultInjection.*/Flush:Modes/FaultInjection.*/SyncEachWrite"
  run_gtest tsan-api 900 build-tsan/bin/srd_tests --gtest_filter="$tsan_filter"
  run_gtest tsan-conformance 300 build-tsan/bin/srd_conformance_tests
  # The extensions: purge racing TTL writes on two threads, and compaction's thread.
  run_gtest tsan-extensions 600 build-tsan/bin/srd_extensions_tests --gtest_filter='-LargeFile.*'
  # The network layer in process: I/O threads, workers, write-stream threads and the
  # clients' threads. (This build has no server binary, so no process tests.)
  run_gtest tsan-net 900 build-tsan/bin/srd_net_tests
  run_gtest tsan-net-conformance 300 build-tsan/bin/srd_net_conformance_tests
fi

# libFuzzer over the committed seed corpora (scripts/run-fuzz.sh): one test per target.
echo "== fuzz: ${FUZZ_SECONDS:=40}s per target"
fuzz_started=$SECONDS
FUZZ_SECONDS=$FUZZ_SECONDS JOBS=$JOBS limited $((1200 + 4 * FUZZ_SECONDS)) scripts/run-fuzz.sh >"$log_dir/fuzz.log" 2>&1
fuzz_status=$?
fuzz_summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log_dir/fuzz.log" | tail -1)
grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$log_dir/fuzz.log" | head -80
if [ "$fuzz_status" -eq 124 ]; then
  echo "   TIMED OUT: the fuzz stage was stopped"
  fuzz_summary="0 passed, 1 failed"
fi
fuzz_summary=${fuzz_summary:-0 passed, 1 failed}
fuzz_ok=${fuzz_summary%% *}
fuzz_bad=$(echo "$fuzz_summary" | cut -d' ' -f3)
if [ $((fuzz_ok + fuzz_bad)) -eq 0 ]; then
  echo "   ran no fuzz target"
  fuzz_bad=1
fi
echo "   took $((SECONDS - fuzz_started))s"
stage_result fuzz "$fuzz_ok" "$fuzz_bad" 0

echo "== install check"
install_started=$SECONDS
if limited 900 scripts/check-install.sh >"$log_dir/install.log" 2>&1; then
  echo "   took $((SECONDS - install_started))s"
  stage_result install 1 0 0
else
  [ $? -eq 124 ] && echo "   TIMED OUT: the install check was stopped"
  tail -30 "$log_dir/install.log"
  stage_result install 0 1 0
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
