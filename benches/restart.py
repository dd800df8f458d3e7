#!/usr/bin/env python3
"""Restart time with 1M keys: raftis (snapshot + WAL replay) against redis-server reloading its
AOF, in the same run.

Each server is loaded with `--keys` keys (`key:N`, 32-byte values) through pipelined SETs, then
`--tail` more keys are written after the last snapshot, so that raftis replays a WAL tail on top
of its snapshot and Redis replays commands after its base file. The server is killed with
SIGKILL and started again on the same directory; the time measured runs from the start of the
new process until it answers DBSIZE with every key (Redis answers -LOADING until it has loaded;
raftis accepts connections once the node has recovered and leads). Three rounds per target; the
median is reported.

Targets:
  redis-aof       appendonly yes, appendfsync everysec, no automatic rewrite: the AOF holds
                  every SET as a command
  redis-aof-rdb   the same, after BGREWRITEAOF: an RDB-preamble base file plus the tail's
                  commands (Redis's fastest AOF reload)
  raftis          one node: SAVE after the load (a snapshot), then the tail in the WAL
  raftis-wal      one node, no snapshot: every key replayed from the WAL

Usage: python3 benches/restart.py [--keys 1000000] [--tail 100000] [--rounds 3] [--no-build]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RAFTIS, ROOT, cli, free_port, wait_port  # noqa: E402
from memory import Conn, load, table  # noqa: E402


def dbsize(port):
    """DBSIZE, or None while the server does not answer it (not listening, or loading)."""
    try:
        c = Conn(port)
        c.s.settimeout(2.0)
        r = c.cmd("DBSIZE")
        c.s.close()
    except OSError:
        return None
    return r if isinstance(r, int) else None


def wait_until(what, timeout, f):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = f()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Server:
    def __init__(self, name, argv_for, port):
        self.name, self.argv_for, self.port, self.proc = name, argv_for, port, None

    def start(self):
        self.proc = subprocess.Popen(self.argv_for(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart_time(self, keys):
        """Seconds from the new process's start until it answers DBSIZE == keys."""
        self.kill9()
        t0 = time.perf_counter()
        self.start()
        while True:
            n = dbsize(self.port)
            if n == keys:
                return time.perf_counter() - t0
            if n is not None and n > keys:
                raise RuntimeError(f"{self.name}: DBSIZE {n} after restart, expected {keys}")
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"{self.name}: not back after 600 s")
            time.sleep(0.005)


def sets(start, end, value):
    return [("SET", f"key:{i}", value) for i in range(start, end)]


def redis_target(tmp, name, rewrite):
    port = free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    argv = lambda: ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "everysec", "--auto-aof-rewrite-percentage", "0"]
    return Server(name, argv, port), rewrite


def raftis_target(tmp, name):
    port, bus = free_port(), free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    argv = lambda: [RAFTIS, "--port", str(port), "--bus-port", str(bus), "--dir", d]
    return Server(name, argv, port)


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--tail", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "raftis"], cwd=ROOT, check=True)
    value = "v" * 32
    total = a.keys + a.tail
    tmp = tempfile.mkdtemp(prefix="raftis-restart-")
    servers = []
    rows = []
    try:
        for name, rewrite in (("redis-aof", False), ("redis-aof-rdb", True), ("raftis", None),
                              ("raftis-wal", None)):
            is_raftis = name.startswith("raftis")
            if is_raftis:
                s = raftis_target(tmp, name)
            else:
                s, rewrite = redis_target(tmp, name, rewrite)
            servers.append(s)
            s.start()
            wait_port(s.port)
            if is_raftis:
                wait_until("a leader", 20, lambda: cli(s.port, "INFO", "raft").find("raft_role:leader") >= 0)
            load(s.port, sets(0, a.keys, value))
            if name == "raftis":
                if cli(s.port, "SAVE") != "OK":
                    raise RuntimeError("raftis: SAVE failed")
            elif rewrite:
                cli(s.port, "BGREWRITEAOF")
                wait_until("the AOF rewrite", 300,
                           lambda: "aof_rewrite_in_progress:0" in cli(s.port, "INFO", "persistence")
                           and "aof_rewrite_scheduled:0" in cli(s.port, "INFO", "persistence"))
            load(s.port, sets(a.keys, total, value))
            if not is_raftis:
                time.sleep(1.5)  # everysec: let the tail reach the file before the kill
            times = [s.restart_time(total) for _ in range(a.rounds)]
            d = s.argv_for()[s.argv_for().index("--dir") + 1]
            rows.append([name, f"{statistics.median(times):.2f}", f"{max(times):.2f}",
                         f"{dir_bytes(d) / 1e6:.0f}"])
            s.kill9()
        base = {r[0]: float(r[1]) for r in rows}
        for r in rows:
            r.append(f"{base['raftis'] / float(r[1]):.2f}")
        print(f"restart with {a.keys} keys + {a.tail} written after the last snapshot/rewrite "
              f"(32-byte values), {a.rounds} rounds")
        table(["target", "median s", "worst s", "data dir MB", "raftis time / this"], rows)
    finally:
        for s in servers:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
