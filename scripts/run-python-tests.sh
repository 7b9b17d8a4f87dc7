#!/usr/bin/env bash
# Installs the Python package from a CMake build directory into a venv inside it and
# runs its pytest suite (python/tests) against what was installed; the last line of the
# output is "N passed, N failed, N skipped", as scripts/run-tests.sh reads it.
#
#   scripts/run-python-tests.sh BUILD_DIR [PYTEST ARGS...]
#
# The venv (BUILD_DIR/python-venv, scripts/install-python.sh) is made with
# --system-site-packages, so it sees Debian's numpy, pytest, cffi, msgpack, websockets and
# dask; the install builds the module with BUILD_DIR and never reaches the network.
#
# Environment: SRD_PYTHON_SANITIZE=address,undefined runs the interpreter with the
# sanitizer runtimes preloaded, for a BUILD_DIR built with SRD_SANITIZE=address,undefined.
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:?usage: scripts/run-python-tests.sh BUILD_DIR [PYTEST ARGS...]}
shift
python=/usr/bin/python3
venv="$build_dir/python-venv"
report=$(mktemp)
trap 'rm -f "$report"' EXIT

fail() {
  echo "$1"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
}

scripts/install-python.sh "$build_dir" || fail "python: pip install of ./python from $build_dir failed"

if [ -n "${SRD_PYTHON_SANITIZE:-}" ]; then
  # The installed module must be the sanitized one from $build_dir: a module built
  # elsewhere would pass these tests without being checked at all.
  module=$(find "$venv/lib" -path '*/simd_r_drive/_native*.so' | head -1)
  # (nm's whole output first: with pipefail, grep -q ending the pipe early fails it.)
  if [ -z "$module" ] || ! grep -q '__asan_init' <<<"$(nm -D "$module")"; then
    fail "python: the installed module ${module:-(none)} is not built with ASan"
  fi
fi

# The server the network client's tests start (they skip without it).
# Absolute: pytest runs in python/tests. Required: a build without the server fails
# these tests instead of skipping them.
export SRD_SERVER_BINARY=${SRD_SERVER_BINARY:-$PWD/$build_dir/bin/simd-r-drive-server}
export SRD_REQUIRE_SERVER=1
export SRD_SOURCE_DIR=$PWD
preload=()
sanitizer_log="$PWD/$build_dir/python-sanitizer"
rm -f "$sanitizer_log".*
if [ -n "${SRD_PYTHON_SANITIZE:-}" ]; then
  # The module links the sanitizer runtimes; they must be loaded before anything else,
  # and CPython's own allocations are not the module's leaks. Reports go to files
  # (pytest captures stderr, and a process the sanitizer aborts loses the capture).
  preload=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
           "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:log_path=$sanitizer_log"
           "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$sanitizer_log"
           "SRD_UNDER_SANITIZER=1")
fi
# -P: the source tree's python/ must not shadow the installed package; -X faulthandler:
# a crash prints every thread's Python stack.
(cd python/tests && "${preload[@]}" "$OLDPWD/$venv/bin/python" -P -X faulthandler -m pytest -q -rs \
   -p no:cacheprovider --junitxml="$report" "$@" .)
status=$?
counts=$("$python" - "$report" <<'EOF'
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
EOF
)
read -r ok bad skip total <<<"$counts"
for report_file in "$sanitizer_log".*; do
  [ -e "$report_file" ] || continue
  echo "python: a sanitizer report ($report_file):"
  head -40 "$report_file"
  bad=$((bad + 1))
done
if [ "$total" -eq 0 ]; then
  echo "python: pytest ran no tests (exit status $status)"
  bad=$((bad + 1))
elif [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
  echo "python: pytest exited with status $status without a failed test (a crash?)"
  bad=1
fi
echo "$ok passed, $bad failed, $skip skipped"
[ "$bad" -eq 0 ]
