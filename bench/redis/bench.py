"""redis-benchmark against simd-r-drive-server's RESP port and against Debian's
redis-server 7.0, started here side by side (docs/performance.md, "Redis protocol").

    /usr/bin/python3 bench/redis/bench.py [--build build] [-n 1000000] [--rounds 3] [--markdown FILE]

Each run is `redis-benchmark -t set,get,mset -n N -r 1000000 -d 8 -c 50` with -P 1 or
-P 16 on a fresh store or server. A round runs the four paired targets at -P 1, then at
-P 16, in the order redis, srd, redis-aof, srd-sync, reversed every other round, so that
each of ours runs next to the reference it is held against; nutcracker and cluster run
in the first round only. The report gives each figure as the median of its rounds, and
each goal as the ratios of the rounds (ours over the reference of the same round): on a
small shared machine the speed drifts over minutes, and a ratio of two runs far apart
measures the drift as much as the servers.

  redis           redis-server, persistence off (--save '' --appendonly no)
  redis-aof       redis-server, appendonly yes, appendfsync everysec (the durable one)
  srd             simd-r-drive-server, default durability (flush: page cache)
  srd-sync        simd-r-drive-server --durability sync-periodically (fdatasync every 100 ms)
  nutcracker      nutcracker in front of three srd servers (set,get)
  cluster         three srd servers with a static topology, redis-benchmark --cluster (set,get)

Every server is started here, on 127.0.0.1 and a free port, with its files in a
temporary directory on the build's disk, and stopped at the end; the system's
redis-server service is not used. Figures: ops/s, p50 and p99 in ms (--csv).

Threads: redis-server runs commands on one thread (its --io-threads 1, given
explicitly); simd-r-drive-server gets --io-threads 1 too by default (--io-threads N
to change it, 0 for its own default of one per core): on a small machine where
redis-benchmark takes a core itself, one event loop is faster and has the lower
p99 (docs/performance.md, "Redis protocol").
"""
import argparse
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    """Until the server answers PING with PONG (redis-server answers LOADING while it
    reads its files)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")  # multibulk: nutcracker parses no inline commands
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args[0]} did not answer PING")
        time.sleep(0.05)


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, args, **kwargs):
        proc = subprocess.Popen(args, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


IO_THREADS = []  # ["--io-threads", N] from --io-threads


def start_srd(procs, build, directory, name, *extra):
    port = free_port()
    proc = procs.start([os.path.join(build, "bin", "simd-r-drive-server"), os.path.join(directory, name + ".bin"),
                        "--resp-port", str(port), "--quiet", *IO_THREADS, *extra],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return port


def start_redis(procs, directory, name, *extra):
    port = free_port()
    os.makedirs(os.path.join(directory, name), exist_ok=True)
    proc = procs.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir",
                        os.path.join(directory, name), "--save", "", "--daemonize", "no", "--logfile", "",
                        "--loglevel", "warning", "--io-threads", "1", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return port


def benchmark(port, tests, n, pipeline, cluster=False):
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests, "-n", str(n), "-r", "1000000",
            "-d", "8", "-c", "50", "-P", str(pipeline), "--csv"]
    if cluster:
        args.append("--cluster")
    result = subprocess.run(args, capture_output=True, timeout=3600)
    text = result.stdout.decode(errors="replace")
    rows = {}
    for row in csv.DictReader(io.StringIO(text[text.find('"test"'):])):
        name = row["test"].split(" ")[0]
        rows[name] = (float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]))
    if not rows:
        raise RuntimeError("redis-benchmark said: " + text + result.stderr.decode(errors="replace"))
    return rows


def settle(run_dir):
    """Removes a finished run's files and waits for the disk to be quiet, so that the
    next target does not share the machine with the writeback of this one's (the AOF
    of redis-aof, a store of hundreds of MB)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    os.sync()
    time.sleep(1)


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


# The goals of docs/redis.md: (ours, reference, test).
GOALS = (("srd", "redis", "GET"), ("srd", "redis-aof", "SET"), ("srd-sync", "redis-aof", "SET"),
         ("srd", "redis", "SET"), ("srd", "redis", "MSET"))
# Run in every round, each of ours next to its reference; the order flips every round
# so that neither side always runs first.
PAIRED = ("redis", "srd", "redis-aof", "srd-sync")


def run_once(plans, name, pipeline, n, directory, tag):
    start, tests, cluster = plans[name]
    procs = Procs()
    run_dir = os.path.join(directory, f"{name}-P{pipeline}-{tag}")  # fresh files each run
    os.makedirs(run_dir)
    try:
        port = start(procs, run_dir)
        return benchmark(port, tests, n, pipeline, cluster)
    finally:
        procs.stop()
        settle(run_dir)


def report(results, rounds):
    """Markdown: each (target, -P, test) as the median of its rounds, then each goal as
    the ratios of the rounds, ours over the reference run next to it."""
    cells = {}
    for r, name, pipeline, test, rps, p50, p99 in results:
        cells.setdefault((name, pipeline, test), []).append((r, rps, p50, p99))
    lines = [f"Medians of {rounds} round(s); a target run once has its single figures.", "",
             "| target | -P | test | ops/s | p50 ms | p99 ms | runs |", "|---|---|---|---:|---:|---:|---:|"]
    for (name, pipeline, test), runs in cells.items():
        lines.append(f"| {name} | {pipeline} | {test} | {median([x[1] for x in runs]):,.0f} | "
                     f"{median([x[2] for x in runs]):.3f} | {median([x[3] for x in runs]):.3f} | {len(runs)} |")
    lines += ["", "| goal | -P | ours / reference, median of rounds | range | rounds at or above 1.0 | "
              "p99 ours / reference, median (ms) | rounds with p99 no worse |", "|---|---|---:|---|---|---|---|"]
    for pipeline in (1, 16):
        for ours, ref, test in GOALS:
            a = {x[0]: x for x in cells.get((ours, pipeline, test), [])}
            b = {x[0]: x for x in cells.get((ref, pipeline, test), [])}
            paired = sorted(set(a) & set(b))
            if not paired:
                continue
            ratios = [a[r][1] / b[r][1] for r in paired]
            at_or_above = sum(1 for x in ratios if x >= 1.0)
            no_worse = sum(1 for r in paired if a[r][3] <= b[r][3])
            lines.append(f"| {test} {ours} vs {ref} | {pipeline} | {median(ratios):.2f}x | "
                         f"{min(ratios):.2f}x to {max(ratios):.2f}x | {at_or_above} of {len(paired)} | "
                         f"{median([a[r][3] for r in paired]):.3f} / {median([b[r][3] for r in paired]):.3f} | "
                         f"{no_worse} of {len(paired)} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(REPO, "build"))
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the four paired targets (redis, srd, redis-aof, srd-sync); "
                             "nutcracker and cluster run in the first round only")
    parser.add_argument("--markdown")
    parser.add_argument("--only", help="comma-separated targets")
    parser.add_argument("--io-threads", type=int, default=1,
                        help="simd-r-drive-server's --io-threads (0: its default, one per core); redis-server "
                             "runs commands on one thread (--io-threads 1)")
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    IO_THREADS[:] = ["--io-threads", str(options.io_threads)]
    only = set(options.only.split(",")) if options.only else None
    plans = {
        "redis": (lambda p, d: start_redis(p, d, "redis", "--appendonly", "no"), "set,get,mset", False),
        "redis-aof": (lambda p, d: start_redis(p, d, "redis-aof", "--appendonly", "yes", "--appendfsync",
                                               "everysec"), "set,get,mset", False),
        "srd": (lambda p, d: start_srd(p, options.build, d, "srd"), "set,get,mset", False),
        "srd-sync": (lambda p, d: start_srd(p, options.build, d, "srd-sync", "--durability",
                                            "sync-periodically"), "set,get,mset", False),
        "nutcracker": (lambda p, d: start_nutcracker(p, options.build, d), "set,get", False),
        "cluster": (lambda p, d: start_cluster(p, options.build, d), "set,get", True),
    }
    unknown = (only or set()) - set(plans)
    if unknown:
        parser.error("unknown targets: " + ", ".join(sorted(unknown)))
    chosen = [name for name in plans if not only or name in only]
    results = []  # (round, target, pipeline, test, rps, p50, p99)
    scratch_base = os.path.join(options.build, "redis-bench")
    os.makedirs(scratch_base, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_base) as directory:
        for r in range(options.rounds):
            order = [name for name in PAIRED if name in chosen]
            if r % 2:
                order.reverse()
            if r == 0:
                order += [name for name in chosen if name not in PAIRED]
            for pipeline in (1, 16):
                for name in order:
                    rows = run_once(plans, name, pipeline, options.n, directory, f"r{r}")
                    for test, (rps, p50, p99) in rows.items():
                        results.append((r, name, pipeline, test, rps, p50, p99))
                        print(f"round {r + 1} {name:11} -P {pipeline:<2} {test:5} {rps:12,.0f} ops/s  "
                              f"p50 {p50:.3f} ms  p99 {p99:.3f} ms", flush=True)
    table = report(results, options.rounds)
    print(table)
    if options.markdown:
        with open(options.markdown, "w") as out:
            out.write(table)


def start_nutcracker(procs, build, directory):
    ports = [start_srd(procs, build, directory, f"shard{i}") for i in range(3)]
    listen, stats = free_port(), free_port()
    text = open(os.path.join(REPO, "net", "resp", "nutcracker.yml")).read()
    text = text.replace("127.0.0.1:22121", f"127.0.0.1:{listen}")
    for i, port in enumerate(ports):
        text = text.replace(f"127.0.0.1:700{i + 1}:1", f"127.0.0.1:{port}:1")
    config = os.path.join(directory, "nutcracker.yml")
    with open(config, "w") as out:
        out.write(text)
    proc = procs.start(["nutcracker", "-c", config, "-s", str(stats), "-a", "127.0.0.1", "-o",
                        os.path.join(directory, "nutcracker.log"), "-p", os.path.join(directory, "nutcracker.pid")])
    wait_port(listen, proc)
    return listen


def start_cluster(procs, build, directory):
    ports = [start_srd(procs, build, directory, f"node{i}", "--cluster") for i in range(3)]
    ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
    text = "\n".join(f"{i + 1:040d} 127.0.0.1 {port} master - {a}-{b}" for i, (port, (a, b)) in
                     enumerate(zip(ports, ranges)))
    for port in ports:
        subprocess.run(["redis-cli", "-p", str(port), "CLUSTERX", "SETNODES", text, "1"], check=True,
                       capture_output=True, timeout=30)
    return ports[0]


if __name__ == "__main__":
    sys.exit(main())
