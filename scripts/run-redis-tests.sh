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
counts=$(/usr/bin/python3 - "$report" <<'PY'
import sys
import xml.etree.ElementTree as tree
try:
    root = tree.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0 0")
    raise SystemExit
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - failed - skipped, failed, skipped, tests)
PY
)
read -r ok bad skip total <<<"$counts"
for report_file in "$sanitizer_log".*; do
  [ -e "$report_file" ] || continue
  echo "redis: a sanitizer report ($report_file):"
  head -40 "$report_file"
  bad=$((bad + 1))
done
if [ "$total" -eq 0 ]; then
  echo "redis: pytest ran no tests (exit status $status)"
  bad=$((bad + 1))
elif [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
  echo "redis: pytest exited with status $status without a failed test"
  bad=1
fi
echo "$ok passed, $bad failed, $skip skipped"
[ "$bad" -eq 0 ]
