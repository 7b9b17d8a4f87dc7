#!/usr/bin/env bash
# Installs the library into a scratch prefix and builds examples/consumer against it
# with find_package(simd_r_drive), as another project would; then runs the result.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake -S . -B build-install -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_TESTS=OFF -DSRD_BUILD_APPS=OFF \
  -DCMAKE_INSTALL_PREFIX="$prefix/usr" >/dev/null
cmake --build build-install -j "${JOBS:-2}" >/dev/null
cmake --install build-install >/dev/null
cmake -S examples/consumer -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix/usr" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer" "$prefix/store.bin"
