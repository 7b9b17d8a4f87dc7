#!/usr/bin/env bash
# Installs every Debian package the build, tests and benchmarks need, pinned to the
# versions this project is tested with (Debian 12 "bookworm"). It is the only place
# where dependencies are named; the Makefile calls it whenever a check fails.
#
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --check  exit 0 if everything is present, 1 otherwise
set -euo pipefail

PACKAGES=(
  "cmake=3.25.1-1"
  "ninja-build=1.11.1-2~deb12u1"
  "ccache=4.8+really4.7.5-1"
  "g++"
  "libxxhash-dev=0.8.1-1"
  "libdeflate-dev=1.14-1"
  "libspdlog-dev=1:1.10.0+ds-0.4"
  "libfmt-dev=9.1.0+ds1-2"
  "libgtest-dev=1.12.1-0.2"
  "libgmock-dev=1.12.1-0.2"
  "libbenchmark-dev=1.7.1-1"
  "nlohmann-json3-dev=3.11.2-2"
  "libcli11-dev=2.1.2+ds-1"
  # The network layer (net/): Boost.Beast and Boost.Asio (header-only), OpenSSL for
  # wss:// and the constant-time token comparison, the openssl tool for the TLS tests'
  # self-signed certificates. OpenSSL is left to the archive's current security
  # release: a pinned one disappears from the archive when the next fix lands.
  "libboost1.81-dev=1.81.0-5+deb12u1"
  "libssl-dev"
  "openssl"
  # libFuzzer and its sanitizer runtimes for the fuzz targets (scripts/run-fuzz.sh).
  "clang-14=1:14.0.6-12"
  "libclang-rt-14-dev=1:14.0.6-12"
  # The peer stores srd-bench compares against (bench/backends/); each is optional
  # at build time, but `make bench` installs them all.
  "liblmdb-dev=0.9.24-1"
  "librocksdb-dev=7.8.3-2"
  "libleveldb-dev=1.23-4"
  "libsqlite3-dev=3.40.1-2+deb12u2"
  "libtkrzw-dev=1.0.25-1"
  "libkyotocabinet-dev=1.2.79-2+b1"
  # The Python package (python/): pybind11 for the module, Debian's Python 3.11 with
  # venv and pip (the install is a venv that sees these packages; PyPI is never asked),
  # setuptools and wheel to build it offline; numpy, pytest, cffi (the Arrow C Data
  # Interface consumer in the tests), msgpack and websockets (the network client), and
  # dask and distributed (the scale-out recipe).
  "pybind11-dev=2.10.3-1"
  "python3-dev=3.11.2-1+b1"
  "python3-venv=3.11.2-1+b1"
  "python3-pip=23.0.1+dfsg-1"
  "python3-setuptools=66.1.1-1+deb12u2"
  "python3-wheel=0.38.4-2"
  "python3-numpy=1:1.24.2-1+deb12u1"
  "python3-pytest=7.2.1-2"
  "python3-cffi=1.15.1-5"
  "python3-msgpack=1.0.3-2+b1"
  "python3-websockets=10.4-1"
  "python3-dask=2022.12.1+dfsg-2"
  "python3-distributed=2022.12.1+ds.1-3"
  # The Python peers bench/python/bench.py compares against (the standard library's
  # dbm needs nothing).
  "python3-lmdb=1.4.0-1+b1"
  "python3-plyvel=1.5.0-1+b2"
  "python3-tkrzw=0.1.29-1"
  "python3-diskcache=5.4.0-1"
  "python3-sqlitedict=2.1.0-1"
  # make bench-scale plots its curves (scripts/plot-scale.py) with Debian's matplotlib.
  "python3-matplotlib=3.6.3-1+b1"
  # The Redis front door (docs/redis.md): redis-cli and redis-benchmark, redis-py, and
  # nutcracker (twemproxy) for the tests; redis-server is the benchmark's reference
  # (scripts/bench-redis.sh starts its own instances; the tests never use it, nor the
  # service the package installs).
  "redis-tools=5:7.0.15-1~deb12u10"
  "redis-server=5:7.0.15-1~deb12u10"
  "python3-redis=4.3.4-3"
  "nutcracker=0.5.0+dfsg-2"
)

missing=()
for spec in "${PACKAGES[@]}"; do
  name=${spec%%=*}
  want=${spec#*=}
  [ "$want" = "$spec" ] && want=""
  have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
  case "$have" in
    "install ok installed "*)
      if [ -n "$want" ] && [ "${have##* }" != "$want" ]; then missing+=("$spec"); fi ;;
    *) missing+=("$spec") ;;
  esac
done

if [ "${1:-}" = "--check" ]; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --allow-downgrades: a pinned version may be older than what an image ships.
$SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades "${missing[@]}" >/dev/null
