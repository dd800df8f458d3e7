#!/usr/bin/env python3
"""Group commit: sustained SET throughput and latency with every write synced before it is
acknowledged, raftis (one node, appendfsync always) against redis-server (appendonly yes,
appendfsync always) in the same run, for several client counts.

For raftis it also reports the WAL syncs per second (INFO persistence raft_wal_syncs) and the
mean batch (writes per sync). Quote ratios from one run: the machine is shared and noisy.

Usage: python3 benches/group_commit.py [--clients 1,10,50,200] [--requests 100000] [--no-build]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (shares the process helpers)


def field(port, section, name):
    for line in compare.cli(port, "INFO", section).splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def bench(port, clients, requests):
    import csv
    import io
    import subprocess
    args = ["redis-benchmark", "-p", str(port), "-t", "set", "-c", str(clients), "-n", str(requests),
            "--csv", "-r", "100000"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=900)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    header, row = rows[0], rows[1]
    d = dict(zip(header, row))
    return float(d["rps"]), float(d["p50_latency_ms"]), float(d["p99_latency_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,10,50,200")
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        import subprocess
        subprocess.run(["cargo", "build", "--release", "--bin", "raftis"], cwd=compare.ROOT, check=True)
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="raftis-gc-")
    targets = []
    try:
        redis = compare.start_redis(tmp, "redis-aof", ["--appendonly", "yes", "--appendfsync", "always"])
        targets.append(redis)
        raftis = compare.start_raftis(tmp, "raftis-1", 1)[0]
        targets.append(raftis)
        print("| clients | redis-aof rps | p50 ms | p99 ms | raftis rps | p50 ms | p99 ms | raftis/redis | syncs/s | writes/sync |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for c in [int(x) for x in a.clients.split(",")]:
            n = max(a.requests // 10, 1000) if c == 1 else a.requests
            r_rps, r50, r99 = bench(redis.port, c, n)
            before = int(field(raftis.port, "persistence", "raft_wal_syncs") or 0)
            import time
            t0 = time.monotonic()
            x_rps, x50, x99 = bench(raftis.port, c, n)
            elapsed = time.monotonic() - t0
            syncs = int(field(raftis.port, "persistence", "raft_wal_syncs") or 0) - before
            per_s = syncs / elapsed if elapsed > 0 else 0
            batch = n / syncs if syncs else float("nan")
            print(f"| {c} | {r_rps:.0f} | {r50:.3f} | {r99:.3f} | {x_rps:.0f} | {x50:.3f} | {x99:.3f} | "
                  f"{x_rps / r_rps:.2f} | {per_s:.0f} | {batch:.1f} |", flush=True)
    finally:
        for t in targets:
            for p in t.procs:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
