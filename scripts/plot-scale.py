#!/usr/bin/python3
"""Curves and a summary of `make bench-scale` (scripts/bench-scale.sh).

Reads <dir>/n<N>-<warm|cold>.json (srd-bench's JSON; several directories are
merged, so a slow store can run apart with fewer runs), writes a PNG of the rows
against N (one panel per row, a line per store and mode) and prints a Markdown
summary: medians with min-max, ratios to LMDB and Kyoto, peak RSS, and the index's
bytes per key (ours: the table in memory, the snapshot on disk; every store: the
file on disk per key).

    /usr/bin/python3 scripts/plot-scale.py build/bench-scale [more dirs...] docs/images/scale.png
"""
import glob
import json
import os
import re
import statistics
import sys

ROWS = ["W1", "W2", "W3", "W5", "W7", "W9"]
LABELS = {
    "W1": "W1 single puts + close (M ops/s)",
    "W2": "W2 batched puts + close (M ops/s)",
    "W3": "W3 reopen (ms, lower is better)",
    "W5": "W5 random gets (M ops/s)",
    "W7": "W7 iterate + sum (M entries/s)",
    "W9": "W9 2 threads random gets (M ops/s)",
}


def merge(into, data):
    for store in data["stores"]:
        if store not in into["stores"]:
            into["stores"].append(store)
    rows = {row["figure"]: row for row in into["summary"]}
    for row in data["summary"]:
        if row["figure"] in rows:
            rows[row["figure"]]["stores"].update(row["stores"])
        else:
            into["summary"].append(row)
    into["records"].extend(data["records"])
    into["runs"] = f"{into['runs']}, {data['runs']} for {', '.join(data['stores'])}"


def load(directories):
    runs = {}  # (n, mode) -> json
    for directory in directories:
        for path in sorted(glob.glob(os.path.join(directory, "n*-*.json"))):
            match = re.match(r"n(\d+)-(warm|cold)\.json$", os.path.basename(path))
            if not match:
                continue
            with open(path) as handle:
                data = json.load(handle)
            key = (int(match.group(1)), match.group(2))
            if key in runs:
                merge(runs[key], data)
            else:
                runs[key] = data
    return runs


def cell(data, figure, store):
    for row in data["summary"]:
        if row["figure"] == figure:
            entry = row["stores"].get(store, {})
            if "median" in entry:
                return entry
    return None


def extras(data, store, figure, name):
    values = []
    for record in data["records"]:
        if record["store"] != store or not record["ok"]:
            continue
        for fig in record["figures"]:
            if fig["id"] == figure and name in fig.get("extra", {}):
                values.append(fig["extra"][name])
    return statistics.median(values) if values else None


def fmt(entry):
    values = entry["values"]
    return f"{entry['median']:.3g} ({min(values):.3g}-{max(values):.3g})"


def ratio(ours, peer, higher):
    if not ours or not peer or not peer["median"] or not ours["median"]:
        return "-"
    value = ours["median"] / peer["median"] if higher else peer["median"] / ours["median"]
    return f"{value:.2f}x"


def summary(runs):
    lines = []
    for (n, mode) in sorted(runs):
        data = runs[(n, mode)]
        stores = data["stores"]
        lines.append(f"\n### N = {n:,}, {mode} ({data['runs']} runs, medians (min-max))\n")
        header = "| row | " + " | ".join(stores) + " | ours / LMDB | ours / Kyoto |"
        lines.append(header)
        lines.append("|---|" + "---:|" * (len(stores) + 2))
        for figure in ROWS:
            higher = figure != "W3"
            cells = {store: cell(data, figure, store) for store in stores}
            if not any(cells.values()):
                continue
            text = [fmt(c) if c else "-" for c in cells.values()]
            lines.append(f"| {LABELS[figure]} | " + " | ".join(text) + f" | {ratio(cells.get('srd'), cells.get('lmdb'), higher)} | "
                         f"{ratio(cells.get('srd'), cells.get('kyoto'), higher)} |")
        for figure, what in (("W3", "peak RSS, reopen (MiB)"), ("W5", "peak RSS, random gets (MiB)")):
            values = []
            for store in stores:
                c = cell(data, figure, store)
                values.append(f"{c['peak_rss_mib']:.0f}" if c and "peak_rss_mib" in c else "-")
            lines.append(f"| {what} | " + " | ".join(values) + " | | |")
        values = []
        for store in stores:
            disk = extras(data, store, "W2", "bytes_on_disk")
            values.append(f"{disk / n:.1f}" if disk else "-")
        lines.append("| bytes on disk per key after W2's close (all files) | " + " | ".join(values) + " | | |")
        table = extras(data, "srd", "W2", "index_table_bytes")
        snapshot = extras(data, "srd", "W2", "index_cache_bytes")
        if table:
            lines.append(f"\nOurs at N = {n:,}: the index table costs {table / n:.1f} bytes/key in memory "
                         f"({table / 2**20:.0f} MiB); the snapshot file (table, LiveBits, header) "
                         f"{(snapshot or 0) / n:.1f} bytes/key on disk.")
    return "\n".join(lines)


def plot(runs, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    colours = {"srd": "tab:blue", "lmdb": "tab:orange", "kyoto": "tab:green"}
    for axis, row in zip(axes.flat, ROWS):
        for store in ("srd", "lmdb", "kyoto"):
            for mode, style in (("warm", "-"), ("cold", "--")):
                points = []
                for (n, m), data in sorted(runs.items()):
                    if m != mode:
                        continue
                    c = cell(data, row, store)
                    if c:
                        points.append((n, c["median"], min(c["values"]), max(c["values"])))
                if not points:
                    continue
                xs = [p[0] for p in points]
                ys = [p[1] for p in points]
                errors = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
                axis.errorbar(xs, ys, yerr=errors, fmt=style + "o", color=colours[store], markersize=3,
                              capsize=2, label=f"{'ours' if store == 'srd' else store} {mode}")
        axis.set_xscale("log")
        if row == "W3":
            axis.set_yscale("log")
        axis.set_title(LABELS[row], fontsize=9)
        axis.set_xlabel("keys", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(png, dpi=80)


def main():
    directories, png = sys.argv[1:-1], sys.argv[-1]
    runs = load(directories)
    if not runs:
        sys.exit(f"no n<N>-<mode>.json in {directories}")
    print(summary(runs))
    plot(runs, png)
    print(f"\n(curves: {png})")


if __name__ == "__main__":
    main()
