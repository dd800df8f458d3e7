#!/usr/bin/env python3
"""Memory benchmarks, raftis against redis-server in the same run (helpers from compare.py).

bytes   Bytes per key: 1M keys of 16 bytes with 32-byte values, then 100k hashes of 10 fields
        (field:N / value:N), each loaded into an empty server. Reports the growth of INFO's
        used_memory and of the resident set (RSS) per key. raftis's RSS also holds its Raft
        log in memory (every entry since start, until snapshots compact it), which used_memory
        leaves out: its RSS column is an upper bound of the dataset's. RSS here is RssAnon
        (/proc/pid/status), which leaves out raftis's mmapped WAL files.

hits    Hit ratio under a Zipf read/write workload, maxmemory at 10% of the data, for
        allkeys-lru and allkeys-lfu: the same seeded sequence against each target. The cache is
        used cache-aside: GET, and on a miss SET the value (a write); besides, 10% of the
        operations are plain SETs. maxmemory is each server's used_memory when empty plus 10%
        of what the whole key space costs it, so both hold about a tenth of the keys and the
        hit ratios compare the eviction policies (with the same bytes, raftis, more compact,
        would hold more keys).
        Targets: redis-server, one raftis node, and three raftis nodes whose reads all go to
        a follower, with the follower's access hints on (--hints keys per second) and off.

hintcost  The cost of the access hints: GET throughput (redis-benchmark -P 16 -c 50) against a
        follower with hints on and off, the leader's CPU time during the run, and the hint
        messages sent.

Usage: python3 benches/memory.py [bytes|hits|hintcost|all] [--keys N] [--ops N] [--no-build]
"""

import argparse
import bisect
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RAFTIS, ROOT, bench, cli, start_raftis, start_redis  # noqa: E402


class Conn:
    """A pipelining RESP client (enough for SET/GET/HSET/INFO replies)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb", buffering=1 << 16)

    @staticmethod
    def enc(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        if t == b":":
            return int(rest)
        if t == b"-":
            return Exception(rest.decode())
        return rest

    def pipeline(self, cmds):
        self.s.sendall(b"".join(self.enc(c) for c in cmds))
        return [self.read() for _ in cmds]

    def cmd(self, *args):
        return self.pipeline([args])[0]


def info(port):
    text = cli(port, "INFO", "all")
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def pid_of(target):
    return target.procs[0].pid if target.procs else None


def rss(pid):
    """Anonymous resident memory: raftis's mmapped WAL segments (file pages) left out."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port, cmds, batch=1000):
    c = Conn(port)
    for i in range(0, len(cmds), batch):
        replies = c.pipeline(cmds[i:i + batch])
        bad = [r for r in replies if isinstance(r, Exception)]
        if bad:
            raise RuntimeError(f"load failed: {bad[0]}")


def settle(port):
    """Wait until used_memory stops moving (lazy frees, the last entries applied)."""
    last = None
    for _ in range(50):
        cur = info(port)["used_memory"]
        if cur == last:
            return
        last = cur
        time.sleep(0.2)


def table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def targets_for_bytes(tmp, tag):
    redis = start_redis(tmp, f"redis-{tag}", ["--appendonly", "no"])
    raftis = start_raftis(tmp, f"raftis-{tag}", 1)[0]
    return [("redis-server", redis), ("raftis", raftis)]


def run_bytes(a, tmp):
    datasets = [
        ("1M keys, 32-byte values", a.keys,
         lambda n: [("SET", "key:%012d" % i, "%032d" % i) for i in range(n)]),
        ("100k hashes of 10 fields", a.keys // 10,
         lambda n: [("HSET", "hash:%08d" % i,
                     *[x for f in range(10) for x in ("field:%d" % f, "value:%d" % f)])
                    for i in range(n)]),
    ]
    rows = []
    for tag, (title, n, make) in enumerate(datasets):
        cmds = make(n)
        results = {}
        for name, t in targets_for_bytes(tmp, tag):
            try:
                settle(t.port)
                used0, rss0 = int(info(t.port)["used_memory"]), rss(pid_of(t))
                load(t.port, cmds)
                settle(t.port)
                i = info(t.port)
                keys = int(i["db0"].split(",")[0].split("=")[1])
                assert keys == n, f"{name}: {keys} keys, expected {n}"
                used = (int(i["used_memory"]) - used0) / n
                res = (rss(pid_of(t)) - rss0) / n
                results[name] = (used, res)
            finally:
                for p in t.procs:
                    p.kill()
                    p.wait()
        r, f = results["redis-server"], results["raftis"]
        rows.append([title, "%.1f" % r[0], "%.1f" % f[0], "%.2f" % (f[0] / r[0]),
                     "%.1f" % r[1], "%.1f" % f[1]])
    table(["dataset", "redis used/key", "raftis used/key", "raftis/redis",
           "redis RSS/key", "raftis RSS/key (with its in-memory Raft log)"], rows)


class Zipf:
    def __init__(self, n, s, rng):
        weights = [1.0 / (k ** s) for k in range(1, n + 1)]
        total = sum(weights)
        acc, self.cdf = 0.0, []
        for w in weights:
            acc += w / total
            self.cdf.append(acc)
        self.rng = rng
        # Ranks map to keys through a fixed shuffle, so hot keys are spread over the key space.
        self.perm = list(range(n))
        rng.shuffle(self.perm)

    def next(self):
        return self.perm[min(bisect.bisect_left(self.cdf, self.rng.random()), len(self.cdf) - 1)]


def workload(port_read, port_write, n, ops, value, seed, batch=100):
    """Cache-aside Zipf workload; returns (hits, gets)."""
    rng = random.Random(seed)
    z = Zipf(n, 0.99, rng)
    r = Conn(port_read)
    w = r if port_write == port_read else Conn(port_write)
    hits = gets = 0
    done = 0
    while done < ops:
        plan = []
        for _ in range(batch):
            k = "key:%08d" % z.next()
            plan.append(("set" if rng.random() < 0.1 else "get", k))
        gets_in = [k for op, k in plan if op == "get"]
        replies = r.pipeline([("GET", k) for k in gets_in]) if gets_in else []
        writes = [("SET", k, value) for op, k in plan if op == "set"]
        for k, rep in zip(gets_in, replies):
            gets += 1
            if rep is None:
                writes.append(("SET", k, value))
            else:
                hits += 1
        if writes:
            for rep in w.pipeline(writes):
                if isinstance(rep, Exception) and not str(rep).startswith(("TRYAGAIN", "UNCERTAIN")):
                    raise RuntimeError(rep)
        done += batch
    return hits, gets


def data_bytes(tmp, kind, n, value):
    """used_memory growth of a fresh server of `kind` when every key is loaded once."""
    t = (start_redis(tmp, f"probe-{kind}", ["--appendonly", "no"]) if kind == "redis"
         else start_raftis(tmp, f"probe-{kind}", 1)[0])
    try:
        used0 = int(info(t.port)["used_memory"])
        load(t.port, [("SET", "key:%08d" % i, value) for i in range(n)])
        settle(t.port)
        return int(info(t.port)["used_memory"]) - used0
    finally:
        for p in t.procs:
            p.kill()
            p.wait()


def run_hits(a, tmp):
    n, ops, value = a.keys // 10, a.ops, "v" * 100
    data = {k: data_bytes(tmp, k, n, value) for k in ("redis", "raftis")}
    print(f"{n} keys of 100 bytes, Zipf s=0.99, {ops} operations after {ops // 5} of warm-up "
          f"(90% GET cache-aside, 10% SET); the whole data set: {data['redis']} bytes in "
          f"redis-server, {data['raftis']} in raftis; maxmemory = a server's used_memory when "
          f"empty + 10% of its data set")
    rows = []
    for policy in a.policies.split(","):
        res = {}
        setups = [("redis-server", "redis"), ("raftis", "raftis-1"),
                  ("raftis 3 nodes, follower reads, hints on", "hints"),
                  ("raftis 3 nodes, follower reads, hints off", "nohints")]
        for label, kind in setups:
            if kind == "redis":
                t = start_redis(tmp, f"{policy}-{kind}", ["--appendonly", "no"])
                ports, procs, rport = [t.port], t.procs, t.port
            elif kind == "raftis-1":
                t = start_raftis(tmp, f"{policy}-{kind}", 1)[0]
                ports, procs, rport = [t.port], t.procs, t.port
            else:
                # Reads and writes at a follower; CONFIG SET is per node: every node is set.
                leader, follower = start_raftis(tmp, f"{policy}-{kind}", 3)
                ports, procs, rport = all_ports(leader), leader.procs, follower.port
            try:
                empty = int(info(ports[0])["used_memory"])
                maxmemory = empty + data["redis" if kind == "redis" else "raftis"] // 10
                for p in ports:
                    cli(p, "CONFIG", "SET", "maxmemory", str(maxmemory))
                    cli(p, "CONFIG", "SET", "maxmemory-policy", policy)
                    if kind != "redis":
                        cli(p, "CONFIG", "SET", "appendfsync", "no")
                        cli(p, "CONFIG", "SET", "raft-access-hints",
                            "0" if kind == "nohints" else str(a.hints))
                # Warm up with the same distribution, then measure.
                workload(rport, rport, n, ops // 5, value, seed=a.seed)
                hits, gets = workload(rport, rport, n, ops, value, seed=a.seed + 1)
                i = info(ports[0])
                keys = int(i.get("db0", "keys=0").split(",")[0].split("=")[1])
                res[label] = (hits / gets, keys, maxmemory, int(i.get("evicted_keys", 0)))
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
        base = res["redis-server"][0]
        for label, (ratio, keys, maxmemory, evicted) in res.items():
            rows.append([policy, label, "%.2f%%" % (100 * ratio),
                         "%+.2f" % (100 * (ratio - base)), keys, maxmemory, evicted])
    table(["policy", "target", "hit ratio", "vs redis (points)", "keys held", "maxmemory",
           "evicted_keys"], rows)


def all_ports(leader):
    """Client ports of every node of the group `leader` (compare.start_raftis's target) leads."""
    return [int(p.args[p.args.index("--port") + 1]) for p in leader.procs]


def leader_pid(leader):
    for p, port in zip(leader.procs, all_ports(leader)):
        if info(port).get("raft_role") == "leader":
            return p.pid
    raise RuntimeError("no leader")


def run_hintcost(a, tmp):
    """Rounds alternate on/off and off/on, so drift of the shared machine hits both alike."""
    on = str(a.hints)
    runs = {on: [], "0": []}
    order = []
    for r in range(a.rounds):
        order += [on, "0"] if r % 2 == 0 else ["0", on]
    for k, hints in enumerate(order):
        leader, follower = start_raftis(tmp, f"cost-{k}", 3)
        try:
            for p in all_ports(leader):
                cli(p, "CONFIG", "SET", "raft-access-hints", hints)
            load(leader.port, [("SET", "key:%012d" % i, "x" * 32) for i in range(100000)])
            pid = leader_pid(leader)
            sent0 = int(info(follower.port)["raft_bus_messages_sent"])
            cpu0 = cpu_s(pid)
            t0 = time.time()
            rps = bench(follower.port, "get", 50, 16, a.ops)
            secs = time.time() - t0
            cpu = cpu_s(pid) - cpu0
            sent = int(info(follower.port)["raft_bus_messages_sent"]) - sent0
            runs[hints].append((rps, cpu / secs, sent / secs))
        finally:
            for p in leader.procs:
                p.kill()
                p.wait()
    rows = []
    for hints, label in ((on, f"on ({on} keys/s)"), ("0", "off")):
        rs = runs[hints]
        mean = lambda i: sum(r[i] for r in rs) / len(rs)
        rows.append([label, " / ".join("%.0f" % r[0] for r in rs), "%.0f" % mean(0),
                     "%.2f" % mean(1), "%.0f" % mean(2)])
    table(["follower access hints", "GET rps at a follower per run (-c 50 -P 16)", "mean",
           "leader CPU (cores)", "follower bus messages/s"], rows)
    with_hints = sum(r[0] for r in runs[on]) / len(runs[on])
    without = sum(r[0] for r in runs["0"]) / len(runs["0"])
    print(f"throughput with hints / without: {with_hints / without:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=["bytes", "hits", "hintcost", "all"])
    ap.add_argument("--keys", type=int, default=1_000_000, help="keys of the bytes benchmark; a tenth for hits")
    ap.add_argument("--ops", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    ap.add_argument("--rounds", type=int, default=2, help="hintcost: on/off pairs")
    ap.add_argument("--hints", type=int, default=10000, help="raft-access-hints when on (the default)")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y redis-server redis-tools")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "raftis"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="raftis-membench-")
    try:
        if a.what in ("bytes", "all"):
            run_bytes(a, tmp)
        if a.what in ("hits", "all"):
            run_hits(a, tmp)
        if a.what in ("hintcost", "all"):
            run_hintcost(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
