#!/usr/bin/env bash
# make bench-scale: srd-bench at several N (default 1M and 10M keys) for this
# engine, LMDB and Kyoto Cabinet, warm (the memory reserve, bench/memory_warmup.h)
# and cold (--no-warmup), then the curves (docs/images/scale.png) and a Markdown
# summary with ratios and the index's bytes per key (build/bench-scale/summary.md).
#
#   scripts/bench-scale.sh                       # N = 1M and 10M, 3 runs each
#   SCALE_NS="1000000 10000000 100000000" scripts/bench-scale.sh
#   SCALE_RUNS=5 SCALE_MODES="warm" scripts/bench-scale.sh
#   SRD_BENCH=other/bin/srd-bench SCALE_OUT=build/bench-scale-base scripts/bench-scale.sh
#
# 10M takes ~15 min (both modes) and ~6 GB of scratch disk. 100M needs ~60 GB of
# scratch disk (three copies of each store: pristine, read copy, scratch) and about
# 20 GiB of RAM for our index and the page cache; the script refuses an N whose
# estimate does not fit the free disk. Scratch data is deleted after each N.
set -euo pipefail
cd "$(dirname "$0")/.."
ns=${SCALE_NS:-"1000000 10000000"}
runs=${SCALE_RUNS:-3}
modes=${SCALE_MODES:-"warm cold"}
stores=${SCALE_STORES:-srd,lmdb,kyoto}
workloads=${SCALE_WORKLOADS:-W1,W2,W3,W5,W7,W9}
out=${SCALE_OUT:-build/bench-scale}
bench=${SRD_BENCH:-build/bin/srd-bench}
data=$out-data
mkdir -p "$out"

for n in $ns; do
  # ~600 bytes per key across the three stores' three copies, plus headroom.
  need_kib=$((n * 600 / 1024 + 4 * 1024 * 1024))
  free_kib=$(df -Pk . | awk 'NR == 2 {print $4}')
  if [ "$free_kib" -lt "$need_kib" ]; then
    echo "bench-scale: N=$n needs ~$((need_kib / 1024 / 1024)) GiB free, $((free_kib / 1024 / 1024)) GiB free: skipped" >&2
    continue
  fi
  for mode in $modes; do
    flag=""
    [ "$mode" = cold ] && flag="--no-warmup"
    echo "== bench-scale: N=$n, $mode" >&2
    "$bench" --stores="$stores" --workloads="$workloads" --runs="$runs" --n="$n" $flag \
      --dir="$data" --json="$out/n$n-$mode.json" >"$out/n$n-$mode.md" || echo "bench-scale: N=$n $mode had failures" >&2
    rm -rf "$data"
  done
done
/usr/bin/python3 scripts/plot-scale.py "$out" "${SCALE_PNG:-docs/images/scale.png}" | tee "$out/summary.md"
