#!/usr/bin/env python3
"""Side-by-side throughput: redis-benchmark against redis-server and raftis in the same run.

Targets (each on 127.0.0.1 free ports, data in a temporary directory):
  redis        redis-server with no persistence (--save "" --appendonly no)
  redis-aof    redis-server --appendonly yes --appendfsync always
  raftis-1     one raftis node (appendfsync always)
  raftis-3     three raftis nodes; the benchmark talks to the leader
  raftis-3f    the same three nodes; the benchmark talks to a follower

For every workload (SET, GET, INCR by default; -c 50; -P 1 and -P 16) it prints requests/s
per target and the ratio of each raftis target to each redis-server mode. The machine is shared
and noisy: compare ratios from one run, not absolute numbers across runs.

Usage: python3 benches/compare.py [--requests N] [--tests set,get,incr] [--clients 50]
       [--pipelines 1,16] [--targets redis,redis-aof,raftis-1,raftis-3,raftis-3f] [--no-build]
Environment: RAFTIS_ARGS, extra arguments for every raftis node (e.g. "--io-threads 2").
"""

import argparse
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAFTIS = os.path.join(ROOT, "target", "release", "raftis")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def info_field(port, field):
    for line in cli(port, "INFO", "raft").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


class Target:
    def __init__(self, name, procs, port):
        self.name, self.procs, self.port = name, procs, port


def start_redis(tmp, name, extra):
    port = free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                          "--save", "", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return Target(name, [p], port)


def start_raftis(tmp, name, n):
    ports = [(free_port(), free_port()) for _ in range(n)]
    peers = ",".join(f"{i + 1}@127.0.0.1:{c}@{b}" for i, (c, b) in enumerate(ports))
    procs = []
    for i, (c, b) in enumerate(ports):
        d = os.path.join(tmp, f"{name}-n{i + 1}")
        os.makedirs(d)
        args = [RAFTIS, "--port", str(c), "--bus-port", str(b), "--dir", d, "--node-id", str(i + 1)]
        if n > 1:
            args += ["--peers", peers]
        args += os.environ.get("RAFTIS_ARGS", "").split()
        log = open(os.path.join(d, "raftis.log"), "w")
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log))
    for c, _ in ports:
        wait_port(c)
    deadline = time.time() + 20
    while time.time() < deadline:
        roles = [info_field(c, "raft_role") for c, _ in ports]
        if "leader" in roles and all(r in ("leader", "follower") for r in roles):
            leader = roles.index("leader")
            return [Target(name, procs, ports[leader][0]),
                    Target(name + "f", [], ports[(leader + 1) % n][0]) if n > 1 else None]
        time.sleep(0.1)
    raise RuntimeError(f"{name}: no leader")


def bench(port, test, clients, pipeline, requests):
    args = ["redis-benchmark", "-p", str(port), "-t", test, "-c", str(clients), "-P", str(pipeline),
            "-n", str(requests), "--csv", "-r", "100000"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    for row in rows[1:]:
        if row and row[0].upper().startswith(test.upper()):
            return float(row[1])
    raise RuntimeError(f"redis-benchmark gave no result for {test}: {out.stdout} {out.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--tests", default="set,get,incr")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--targets", default="redis,redis-aof,raftis-1,raftis-3,raftis-3f")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y redis-server redis-tools")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "raftis"], cwd=ROOT, check=True)
    wanted = a.targets.split(",")
    tmp = tempfile.mkdtemp(prefix="raftis-bench-")
    targets = {}
    try:
        if "redis" in wanted:
            targets["redis"] = start_redis(tmp, "redis", ["--appendonly", "no"])
        if "redis-aof" in wanted:
            targets["redis-aof"] = start_redis(tmp, "redis-aof", ["--appendonly", "yes", "--appendfsync", "always"])
        if "raftis-1" in wanted:
            targets["raftis-1"] = start_raftis(tmp, "raftis-1", 1)[0]
        if "raftis-3" in wanted or "raftis-3f" in wanted:
            leader, follower = start_raftis(tmp, "raftis-3", 3)
            targets["raftis-3"], targets["raftis-3f"] = leader, follower
        names = [t for t in wanted if t in targets]
        results = {}
        for test in a.tests.split(","):
            for p in [int(x) for x in a.pipelines.split(",")]:
                for name in names:
                    results[(test, p, name)] = bench(targets[name].port, test, a.clients, p, a.requests)
        bases = [b for b in ("redis", "redis-aof") if b in targets]
        header = ["workload"] + [f"{n} rps" for n in names]
        for n in names:
            if n.startswith("raftis"):
                header += [f"{n}/{b}" for b in bases]
        rows = []
        for test in a.tests.split(","):
            for p in [int(x) for x in a.pipelines.split(",")]:
                row = [f"{test.upper()} -c {a.clients} -P {p}"]
                row += [f"{results[(test, p, n)]:.0f}" for n in names]
                for n in names:
                    if n.startswith("raftis"):
                        row += [f"{results[(test, p, n)] / results[(test, p, b)]:.2f}" for b in bases]
                rows.append(row)
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
        print(line(header))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows:
            print(line(r))
    finally:
        for t in targets.values():
            for p in t.procs:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
