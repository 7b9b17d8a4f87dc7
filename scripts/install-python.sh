#!/usr/bin/env bash
# Installs the Python package, built from a CMake build directory, into a venv inside
# that directory (BUILD_DIR/python-venv), as docs/python.md documents it:
#   /usr/bin/python3 -m venv --system-site-packages BUILD_DIR/python-venv
#   BUILD_DIR/python-venv/bin/pip install --no-build-isolation --no-index ./python
# (python/setup.py builds the module with BUILD_DIR). Offline; never writes into the
# source tree.
#
#   scripts/install-python.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:?usage: scripts/install-python.sh BUILD_DIR}
venv="$build_dir/python-venv"
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
SIMD_R_DRIVE_CMAKE_BUILD_DIR="$(realpath "$build_dir")" CMAKE_BUILD_PARALLEL_LEVEL="${JOBS:-2}" \
  "$venv/bin/pip" install --quiet --no-build-isolation --no-index --force-reinstall --no-deps ./python
