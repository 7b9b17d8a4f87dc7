"""redis-benchmark against simd-r-drive-server's RESP port and against Debian's
redis-server 7.0, started here side by side (docs/performance.md, "Redis protocol").

    /usr/bin/python3 bench/redis/bench.py [--build build] [-n 1000000] [--markdown FILE]

Each target gets `redis-benchmark -t set,get,mset -n N -r 1000000 -d 8 -c 50` with -P 1
and -P 16, in that order, on a fresh store or server:

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(REPO, "build"))
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--markdown")
    parser.add_argument("--only", help="comma-separated targets")
    parser.add_argument("--io-threads", type=int, default=1,
                        help="simd-r-drive-server's --io-threads (0: its default, one per core); redis-server "
                             "runs commands on one thread (--io-threads 1)")
    options = parser.parse_args()
    IO_THREADS[:] = ["--io-threads", str(options.io_threads)]
    results = []  # (target, pipeline, test, rps, p50, p99)
    only = set(options.only.split(",")) if options.only else None
    scratch_base = os.path.join(options.build, "redis-bench")
    os.makedirs(scratch_base, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_base) as directory:
        plans = [
            ("redis", lambda p, d: start_redis(p, d, "redis", "--appendonly", "no"), "set,get,mset", False),
            ("redis-aof", lambda p, d: start_redis(p, d, "redis-aof", "--appendonly", "yes", "--appendfsync",
                                                "everysec"), "set,get,mset", False),
            ("srd", lambda p, d: start_srd(p, options.build, d, "srd"), "set,get,mset", False),
            ("srd-sync", lambda p, d: start_srd(p, options.build, d, "srd-sync", "--durability",
                                             "sync-periodically"), "set,get,mset", False),
            ("nutcracker", lambda p, d: start_nutcracker(p, options.build, d), "set,get", False),
            ("cluster", lambda p, d: start_cluster(p, options.build, d), "set,get", True),
        ]
        for name, start, tests, cluster in plans:
            if only and name not in only:
                continue
            for pipeline in (1, 16):
                procs = Procs()
                run_dir = os.path.join(directory, f"{name}-P{pipeline}")  # fresh files each run
                os.makedirs(run_dir)
                try:
                    port = start(procs, run_dir)
                    rows = benchmark(port, tests, options.n, pipeline, cluster)
                finally:
                    procs.stop()
                    settle(run_dir)
                for test, (rps, p50, p99) in rows.items():
                    results.append((name, pipeline, test, rps, p50, p99))
                    print(f"{name:11} -P {pipeline:<2} {test:5} {rps:12,.0f} ops/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms",
                          flush=True)
    lines = ["| target | -P | test | ops/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for name, pipeline, test, rps, p50, p99 in results:
        lines.append(f"| {name} | {pipeline} | {test} | {rps:,.0f} | {p50:.3f} | {p99:.3f} |")
    by = {(n, p, t): (rps, p99) for n, p, t, rps, _, p99 in results}
    lines.append("")
    lines.append("| goal | -P | ours | reference | ratio | p99 ours / reference |")
    lines.append("|---|---|---|---|---|---|")
    for pipeline in (1, 16):
        for ours, ref, test in (("srd", "redis", "GET"), ("srd", "redis-aof", "SET"),
                                ("srd-sync", "redis-aof", "SET"), ("srd", "redis", "SET"), ("srd", "redis", "MSET")):
            if (ours, pipeline, test) in by and (ref, pipeline, test) in by:
                a, b = by[(ours, pipeline, test)], by[(ref, pipeline, test)]
                lines.append(f"| {test} {ours} vs {ref} | {pipeline} | {a[0]:,.0f} | {b[0]:,.0f} | "
                             f"{a[0] / b[0]:.2f}x | {a[1]:.3f} / {b[1]:.3f} |")
    table = "\n".join(lines) + "\n"
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
