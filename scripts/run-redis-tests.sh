#!/usr/bin/env bash
# Runs the Redis front door's suite (net/tests/redis/: redis-py, redis-cli,
# redis-benchmark and nutcracker against the real server) with the binaries of a CMake
# build directory; the last line of the output is "N passed, N failed, N skipped", as
# scripts/run-tests.sh reads it.
#
#   scripts/run-redis-tests.sh BUILD_DIR [PYTEST ARGS...]
#
# Debian's redis-tools, python3-redis and nutcracker (scripts/install-deps.sh) and
# /usr/bin/python3's pytest. Every server listens on 127.0.0.1; the system's redis-server
# service is never used. For an ASan+UBSan build, the servers' sanitizer reports go to
# files beside the build (BUILD_DIR/redis-sanitizer.*) and count as failures.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pytest-summary.sh
source scripts/pytest-summary.sh
build_dir=${1:?usage: scripts/run-redis-tests.sh BUILD_DIR [PYTEST ARGS...]}
shift
report=$(mktemp)
trap 'rm -f "$report"' EXIT
for tool in redis-cli redis-benchmark nutcracker; do
  if ! command -v "$tool" >/dev/null; then
    echo "redis: $tool is missing (scripts/install-deps.sh)"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
  fi
done
sanitizer_log="$PWD/$build_dir/redis-sanitizer"
rm -f "$sanitizer_log".*
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=$sanitizer_log"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:print_stacktrace=1:halt_on_error=1:log_path=$sanitizer_log"
export SRD_BUILD_BIN="$PWD/$build_dir/bin"
/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$report" net/tests/redis "$@"
status=$?
pytest_summary redis "$report" "$status" "$sanitizer_log"
