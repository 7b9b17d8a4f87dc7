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
# shellcheck source=scripts/pytest-summary.sh
source scripts/pytest-summary.sh
build_dir=${1:?usage: scripts/run-python-tests.sh BUILD_DIR [PYTEST ARGS...]}
shift
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
pytest_summary python "$report" "$status" "$sanitizer_log"
