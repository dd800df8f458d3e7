#!/usr/bin/env python3
"""Group commit: sustained SET throughput and latency with every write synced before it is
acknowledged, raftis (one node, appendfsync always) against redis-server (appendonly yes,
appendfsync always) in the same run, for several client counts.

For raftis it also reports the WAL syncs per second (INFO persistence raft_wal_syncs) and the
mean batch (writes per sync), and for both the CPU each SET cost the server (from
/proc/<pid>/stat). Each client count runs `--rounds` times, the two servers alternating; the
median round of each is shown. Quote ratios from one run: the machine is shared and noisy.

Usage: python3 benches/group_commit.py [--clients 1,10,50,200] [--requests 100000] [--rounds 3]
       [--no-build]
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


TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """User plus system CPU of process `pid`, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


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
    ap.add_argument("--rounds", type=int, default=3)
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
        print("| clients | redis-aof rps | p50 ms | p99 ms | CPU us/SET | raftis rps | p50 ms | p99 ms | CPU us/SET "
              "| raftis/redis | syncs/s | writes/sync |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        import time
        for c in [int(x) for x in a.clients.split(",")]:
            n = max(a.requests // 10, 1000) if c == 1 else a.requests
            runs = {"redis": [], "raftis": []}
            for _ in range(a.rounds):
                # Alternate the two servers, so a noisy minute hits both.
                cpu0 = cpu_ticks(redis.procs[0].pid)
                rps, p50, p99 = bench(redis.port, c, n)
                cpu = (cpu_ticks(redis.procs[0].pid) - cpu0) / TICKS_PER_S * 1e6 / n
                runs["redis"].append((rps, p50, p99, cpu, 0, 0))
                before = int(field(raftis.port, "persistence", "raft_wal_syncs") or 0)
                cpu0 = cpu_ticks(raftis.procs[0].pid)
                t0 = time.monotonic()
                rps, p50, p99 = bench(raftis.port, c, n)
                elapsed = time.monotonic() - t0
                cpu = (cpu_ticks(raftis.procs[0].pid) - cpu0) / TICKS_PER_S * 1e6 / n
                syncs = int(field(raftis.port, "persistence", "raft_wal_syncs") or 0) - before
                runs["raftis"].append((rps, p50, p99, cpu, syncs / elapsed if elapsed > 0 else 0,
                                       n / syncs if syncs else float("nan")))
            # The median round of each (by throughput).
            r = sorted(runs["redis"])[a.rounds // 2]
            x = sorted(runs["raftis"])[a.rounds // 2]
            print(f"| {c} | {r[0]:.0f} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.1f} | {x[0]:.0f} | {x[1]:.3f} | "
                  f"{x[2]:.3f} | {x[3]:.1f} | {x[0] / r[0]:.2f} | {x[4]:.0f} | {x[5]:.1f} |", flush=True)
    finally:
        for t in targets:
            for p in t.procs:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
