#!/usr/bin/env bash
# Installs the project into scratch prefixes, as a user would, and checks what arrives:
#  1. the static libraries (the default): examples/consumer builds against them with
#     find_package(simd_r_drive), linking simd_r_drive::simd_r_drive and
#     simd_r_drive::extensions, and runs; the command-line tool is in bin/ and runs;
#  2. a shared build (-DBUILD_SHARED_LIBS=ON): the consumer links and runs against
#     it, the core library exports the public API only (no engine internals), and the
#     extensions library exports its own API and nothing of the core's. The tool is
#     left out of this build: step 1 checks it, and compiling it again (its objects
#     differ from the static build's, so none come from the compiler cache) would
#     add about 100 s to a cold run.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT

# The network layer (net/, simd-r-drive-server) is left out: it adds nothing to the
# library's exports, and its Beast-heavy sources would double the check's build time.
install_into() {  # install_into PREFIX BUILD_DIR [CMAKE ARGS...]
  local into=$1 dir=$2; shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_TESTS=OFF -DSRD_BUILD_NET=OFF -DSRD_BUILD_PYTHON=OFF \
    -DCMAKE_INSTALL_PREFIX="$into" "$@" >/dev/null
  cmake --build "$dir" -j "${JOBS:-2}" >/dev/null
  cmake --install "$dir" >/dev/null
}

consume() {  # consume PREFIX
  cmake -S examples/consumer -B "$1/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$1" >/dev/null
  cmake --build "$1/consumer-build" >/dev/null
  LD_LIBRARY_PATH="$1/lib:${LD_LIBRARY_PATH:-}" "$1/consumer-build/consumer" "$1/store.bin"
}

echo "-- static library"
install_into "$prefix/static" build-install -DSRD_BUILD_APPS=ON
consume "$prefix/static"
"$prefix/static/bin/simd-r-drive" --version
"$prefix/static/bin/simd-r-drive" "$prefix/static/store.bin" info >/dev/null

echo "-- shared library"
install_into "$prefix/shared" build-install-shared -DBUILD_SHARED_LIBS=ON -DSRD_BUILD_APPS=OFF
library=$(find "$prefix/shared" -name 'libsimd_r_drive.so*' -type f | head -1)
[ -n "$library" ] || { echo "no libsimd_r_drive.so installed" >&2; exit 1; }
consume "$prefix/shared"
# Exported C++ symbols must all belong to the public API: nothing of the engine's
# internal namespaces (engine, format, io, detail).
leaked=$(nm -D --defined-only -C "$library" | grep -E 'simd_r_drive::(engine|format|io)::' || true)
if [ -n "$leaked" ]; then
  echo "the shared library exports internal symbols:" >&2
  echo "$leaked" | head -20 >&2
  exit 1
fi
public=$(nm -D --defined-only -C "$library" | grep -c 'simd_r_drive::DataStore::' || true)
[ "$public" -gt 0 ] || { echo "the shared library exports no DataStore symbols" >&2; exit 1; }
extensions=$(find "$prefix/shared" -name 'libsimd_r_drive_extensions.so*' -type f | head -1)
[ -n "$extensions" ] || { echo "no libsimd_r_drive_extensions.so installed" >&2; exit 1; }
ext_public=$(nm -D --defined-only -C "$extensions" | grep -c 'simd_r_drive::extensions::' || true)
[ "$ext_public" -gt 0 ] || { echo "the extensions library exports none of its API" >&2; exit 1; }
# It links the core; it must not carry a copy of it (or of its internals).
copied=$(nm -D --defined-only -C "$extensions" | grep -E 'simd_r_drive::(DataStore|engine|format|io)::' || true)
if [ -n "$copied" ]; then
  echo "the extensions library exports symbols of the core:" >&2
  echo "$copied" | head -20 >&2
  exit 1
fi
echo "install check passed ($public DataStore symbols exported, no internal ones; $ext_public extension symbols)"
