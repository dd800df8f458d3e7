#!/usr/bin/env python3
"""Leader failover time: how long writes stop when the leader of a three-node group is killed.

Starts three raftis nodes on loopback, then `--rounds` times: keeps a writer busy (SET through
a surviving node, one at a time), kills the leader with SIGKILL, and measures the time from the
kill to the first write acknowledged afterwards; then restarts the killed node and waits until
it has caught up. Prints every round, the median and the worst.

Usage: python3 benches/failover.py [--rounds 20] [--no-build] [-- extra raftis args]
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
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


class Conn:
    """A minimal RESP2 client with a timeout."""

    def __init__(self, port, timeout=2.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, _, rest = self.buf.partition(b"\r\n")
        if line[:1] == b"$":
            n = int(line[1:])
            while len(rest) < max(n, 0) + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                rest += chunk
            self.buf = rest[n + 2:] if n >= 0 else rest
            return rest[:n] if n >= 0 else None
        self.buf = rest
        return line

    def close(self):
        self.s.close()


def info(port, field):
    try:
        c = Conn(port, 1.0)
        text = c.cmd("INFO", "raft")
        c.close()
    except OSError:
        return None
    for line in (text or b"").decode().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "raftis"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="raftis-failover-")
    ports = [(free_port(), free_port()) for _ in range(3)]
    peers = ",".join(f"{i + 1}@127.0.0.1:{c}@{b}" for i, (c, b) in enumerate(ports))
    procs = [None, None, None]

    def start(i):
        c, b = ports[i]
        d = os.path.join(tmp, f"n{i + 1}")
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(d, "raftis.log"), "a")
        procs[i] = subprocess.Popen([RAFTIS, "--port", str(c), "--bus-port", str(b), "--dir", d,
                                     "--node-id", str(i + 1), "--peers", peers, *a.extra],
                                    stdout=subprocess.DEVNULL, stderr=log)

    def leader():
        for i in range(3):
            if procs[i] and info(ports[i][0], "raft_role") == "leader":
                return i
        return None

    def wait(cond, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v is not None and v is not False:
                return v
            time.sleep(0.02)
        sys.exit(f"timed out waiting for {what}")

    gaps = []
    try:
        for i in range(3):
            start(i)
        for r in range(a.rounds):
            l = wait(leader, "a leader")
            others = [i for i in range(3) if i != l]
            wait(lambda: all(info(ports[i][0], "raft_leader_id") == str(l + 1) for i in others), "followers")
            writer = Conn(ports[others[0]][0])
            assert writer.cmd("SET", "k", "before") == b"+OK"
            procs[l].send_signal(signal.SIGKILL)
            procs[l].wait()
            killed = time.monotonic()
            n = 0
            while True:
                n += 1
                try:
                    if writer.cmd("SET", "k", f"after-{r}-{n}") == b"+OK":
                        break
                except OSError:
                    writer = Conn(ports[others[0]][0])
                time.sleep(0.002)
            gap = time.monotonic() - killed
            gaps.append(gap)
            writer.close()
            print(f"round {r + 1}: writes resumed {gap * 1000:.0f} ms after the leader was killed", flush=True)
            procs[l] = None
            start(l)
            wait(lambda: info(ports[l][0], "raft_applied_index") == info(ports[others[0]][0], "raft_applied_index")
                 and info(ports[l][0], "raft_leader_id") not in (None, "0"), "the restarted node to catch up")
        gaps.sort()
        print(f"failover over {len(gaps)} rounds: median {statistics.median(gaps) * 1000:.0f} ms, "
              f"worst {gaps[-1] * 1000:.0f} ms, best {gaps[0] * 1000:.0f} ms")
    finally:
        for p in procs:
            if p:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
