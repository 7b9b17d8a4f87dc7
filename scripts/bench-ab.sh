#!/usr/bin/env bash
# A/B of srd-bench: this tree against another revision, both built here and run in
# one session, interleaved round by round (A B, then B A, ...), so the machine's
# drift hits both builds alike. Prints each figure's median for both and the ratio.
#
#   scripts/bench-ab.sh BASE_REV [ROUNDS] [WORKLOADS]
#     BASE_REV   git revision to compare against (e.g. HEAD~3, main)
#     ROUNDS     runs of each build (default 5)
#     WORKLOADS  srd-bench --workloads list (default W1,W2,W3,W4,W5,W6,W7,W8,W9,W10)
#
# Only this engine runs (--stores=srd). Results: build-ab/summary.txt and the raw
# JSON of every run in build-ab/runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: scripts/bench-ab.sh BASE_REV [ROUNDS] [WORKLOADS]}
rounds=${2:-5}
workloads=${3:-W1,W2,W3,W4,W5,W6,W7,W8,W9,W10}
out=build-ab
mkdir -p "$out/runs"
rm -f "$out"/runs/*.json

echo "== building the base ($base_rev) and this tree" >&2
rm -rf "$out/base-src"
git worktree prune
git worktree add --detach "$out/base-src" "$base_rev" >/dev/null 2>&1
trap 'git worktree remove --force "$out/base-src" >/dev/null 2>&1 || true' EXIT
build() {  # build SOURCE_DIR BUILD_DIR
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSRD_BUILD_BENCHMARKS=ON -DSRD_BUILD_TESTS=OFF \
    -DSRD_BUILD_APPS=OFF -DSRD_BENCH_PEERS= >/dev/null
  cmake --build "$2" -j "${JOBS:-2}" --target srd-bench >/dev/null
}
build "$out/base-src" "$out/base-build"
build . "$out/head-build"

for round in $(seq 1 "$rounds"); do
  order="base head"
  [ $((round % 2)) -eq 0 ] && order="head base"
  for which in $order; do
    echo "== round $round/$rounds: $which" >&2
    "$out/$which-build/bin/srd-bench" --stores=srd --workloads="$workloads" --runs=1 \
      --dir="$out/data" --json="$out/runs/$which-$round.json" >/dev/null
  done
done

/usr/bin/python3 - "$out" "$base_rev" <<'PY' | tee "$out/summary.txt"
import glob, json, statistics, sys
out, base_rev = sys.argv[1], sys.argv[2]
values = {}  # (figure, which) -> [medians of each run]
meta = {}
for path in sorted(glob.glob(out + "/runs/*.json")):
    which = path.rsplit("/", 1)[1].split("-")[0]
    for row in json.load(open(path))["summary"]:
        cell = row["stores"].get("srd", {})
        if "median" in cell:
            values.setdefault((row["figure"], which), []).append(cell["median"])
            meta[row["figure"]] = (row["unit"], row["higher_is_better"])
print(f"A/B: base = {base_rev}, head = this tree; medians of the runs (min-max)")
print(f"| figure | unit | base | head | head vs base |")
print(f"|---|---|---:|---:|---:|")
for figure, (unit, higher) in meta.items():
    a, b = values.get((figure, "base"), []), values.get((figure, "head"), [])
    if not a or not b:
        continue
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = (mb / ma) if higher else (ma / mb)
    fmt = lambda v, xs: f"{v:.4g} ({min(xs):.4g}-{max(xs):.4g})"
    print(f"| {figure} | {unit} | {fmt(ma, a)} | {fmt(mb, b)} | {ratio:.3f}x |")
print("(head vs base above 1 means head is faster)")
PY
