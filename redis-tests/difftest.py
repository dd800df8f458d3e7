#!/usr/bin/env python3
"""Differential tester: the same seeded random command sequences go to a real redis-server and to
raftis (one node, and three nodes with the commands spread round-robin over them), over raw
sockets, in RESP2 and RESP3; the reply BYTES are compared.

Invariants:
- A command raftis lists (COMMAND LIST) must answer exactly as redis-server 7.0 does. The only
  exceptions are the DIFFERENCES table below, each with its reason, and those compare by a
  stated property rather than ignoring the reply.
- A sequence is a list of (client, args). Client c of a sequence is one connection to Redis and
  one to raftis (in three-node mode, to node c % 3). Commands run one at a time, Redis first,
  then raftis, and each reply is compared before the next command is sent, so any history
  raftis gives must be the one Redis gives (raftis is linearizable).
- Everything is reproducible from the seed: the generator uses only its own random.Random.
- Every process this script starts is killed by its PID at exit, also on Ctrl-C or an exception.

Not here: performance, failures (kill -9, partitions): see tests/cluster.rs.

Stdlib only. Usage: python3 redis-tests/difftest.py --help
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

REPLY_TIMEOUT_S = 10.0
STARTUP_TIMEOUT_S = 30.0

# --------------------------------------------------------------------------------------------
# Documented differences. Everything not listed here is compared byte for byte.
# (command names as COMMAND LIST spells them, upper case; kind; reason)
# --------------------------------------------------------------------------------------------
DIFFERENCES = [
    (["INFO"], "type",
     "INFO describes each server's own state (uptime, memory, clients, a Raft section): "
     "only the reply type is compared"),
    (["CLIENT|LIST", "CLIENT|INFO"], "type",
     "connection ids, addresses, ages and buffer sizes belong to each server: only the reply "
     "type is compared"),
    (["CLIENT|ID"], "type", "connection ids count each server's own connections"),
    (["HELLO"], "hello",
     "the `id` field is the connection id (as CLIENT ID); `role` is the node's Raft role, "
     "`replica` on a follower (which still takes writes and forwards them); the rest must match"),
    (["TIME"], "time", "wall clock: the two replies must be within 2 s of each other"),
    (["TTL", "EXPIRETIME"], "tol1",
     "time passes between the two servers' commands: seconds compared within 1"),
    (["OBJECT|IDLETIME", "OBJECT|FREQ"], "type",
     "Redis shares one object among all keys holding a small integer (0-9999) and reports that "
     "shared object's access time and frequency; raftis keeps them per key: only the reply type "
     "is compared"),
    (["PTTL", "PEXPIRETIME"], "tol1000",
     "time passes between the two servers' commands: milliseconds compared within 1000"),
    (["SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS", "HGETALL", "KEYS",
      "PUBSUB|CHANNELS", "CONFIG|GET"], "unordered",
     "the order of a hash table's elements is not specified by Redis: compared as multisets "
     "(field/value pairs stay paired)"),
    (["SCAN", "SSCAN", "HSCAN", "ZSCAN"], "scan",
     "a cursor encodes a position in one implementation's hash table: both replies must be "
     "[cursor, elements]; when both cursors are 0 the elements must match as multisets"),
    (["SPOP", "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER", "RANDOMKEY"], "random",
     "random choice: compared by reply type, count, distinctness and membership (checked on "
     "redis-server); SPOP's choice is replayed on redis-server so both keep the same data"),
    (["COMMAND", "COMMAND|COUNT", "COMMAND|LIST", "COMMAND|INFO", "COMMAND|DOCS"], "subset",
     "raftis implements a subset of Redis's commands: without command names these must list a "
     "subset of what Redis lists, entry for entry; with names, byte for byte except that a "
     "container's subcommands (a dict in Redis, flagged nondeterministic_output_order) may come "
     "in any order"),
    (["UNSUBSCRIBE", "PUNSUBSCRIBE"], "unsub",
     "without arguments Redis walks its dict of the connection's channels: the confirmations "
     "come in unspecified order; compared as a multiset of channels, counts n-1 down to 0"),
    (["(pub/sub messages)"], "pmessages",
     "when several of a connection's patterns match one PUBLISH, Redis sends the pmessages in "
     "the order of its pattern dict: such a run is compared as a multiset (the stream of "
     "messages per connection is otherwise compared in order, byte for byte)"),
    (["PUBLISH", "PUBSUB|CHANNELS", "PUBSUB|NUMSUB", "PUBSUB|NUMPAT"], "per_node",
     "with three nodes: subscriptions are per node (as on a Redis Cluster node), so PUBLISH's "
     "count and PUBSUB's answers count the subscribers of the node asked; only the reply type is "
     "compared there (one node: byte for byte)"),
    (["DEBUG"], "digest",
     "DEBUG DIGEST / DIGEST-VALUE: raftis mixes each key's absolute deadline into the digest (so "
     "replicas prove they agree on TTLs), Redis only the fact that a key has one: byte for byte "
     "when no key involved has a TTL, otherwise 40 hex digits"),
]
KIND = {name: kind for names, kind, _ in DIFFERENCES for name in names if kind != "per_node"}
PER_NODE = {name for names, kind, _ in DIFFERENCES for name in names if kind == "per_node"}

# Known raftis bugs, found by this tester and not yet fixed. With --known (the default) the
# generator does not produce commands these match, so the rest of the surface is still tested;
# they are printed at the end of every run. --no-known generates them again.
# Each: (id, command names, predicate on the args as bytes, reproduction, what is wrong)
KNOWN: list[tuple[str, tuple[str, ...], object, str, str]] = [
    ("T1", ("client|reply",), lambda a: True,
     "CLIENT REPLY OFF|SKIP -> the next replies are suppressed on both servers",
     "not a raftis bug: this tester counts one reply per command, so it does not generate "
     "CLIENT REPLY (tested in redis-tests/test_redis_cli.py instead)"),
]


def differences_markdown() -> str:
    out = ["# Documented differences between raftis and redis-server 7.0", "",
           "Generated by `python3 redis-tests/difftest.py --write-differences` from the table in "
           "`difftest.py`. Every reply not listed here is compared byte for byte.", "",
           "| commands | compared by | reason |", "|---|---|---|"]
    for names, kind, reason in DIFFERENCES:
        out.append(f"| {', '.join(n.replace('|', ' ') for n in names)} | {kind} | {reason} |")
    out.append("")
    out.append("Also: the tester starts redis-server with `--enable-debug-command yes` (Redis "
               "refuses DEBUG by default; raftis allows DEBUG DIGEST/DIGEST-VALUE/SLEEP), and "
               "never generates relative TTLs short enough to expire during a sequence nor "
               "absolute ones in the past for SET/GETEX (when such a key is removed depends on "
               "Redis's active expire cycle, so DBSIZE would differ by timing, not by behaviour). "
               "CONFIG GET is generated only for parameters both servers are configured alike "
               "for: not port, bind, dir, or appendonly (raftis always keeps its Raft log).")
    out.append("")
    out.append("W1 (WATCH): raftis's EXEC fails when a watched key's contents or TTL changed, not "
               "when it was merely written (see the README). When Redis answers EXEC with a null "
               "reply and raftis runs the transaction, the tester checks on Redis that every "
               "watched key still holds what it held at WATCH (DEBUG DIGEST-VALUE); if so it runs "
               "the same transaction on Redis without the WATCH and compares that reply.")
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------
class Procs:
    """Every child this script starts, killed by PID at exit."""

    children: list[subprocess.Popen] = []
    dirs: list[str] = []

    @classmethod
    def spawn(cls, args: list[str], log_path: str) -> subprocess.Popen:
        log = open(log_path, "ab")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        log.close()
        cls.children.append(p)
        return p

    @classmethod
    def kill_all(cls) -> None:
        for p in cls.children:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        cls.children.clear()
        for d in cls.dirs:
            shutil.rmtree(d, ignore_errors=True)
        cls.dirs.clear()


atexit.register(Procs.kill_all)


def _on_term(signum, frame):  # SIGTERM/SIGHUP: exit through atexit so children die too
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGHUP, _on_term)


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_until(what: str, f, timeout: float = STARTUP_TIMEOUT_S):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = f()
            if v:
                return v
        except (OSError, RespError) as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what} (last error: {last})")


def one_shot(port: int, *args) -> Frame:
    c = Conn(port, timeout=2.0)
    try:
        c.send(args)
        return c.read_frame()
    finally:
        c.close()


def start_redis(tmp: str) -> int:
    port = free_ports(1)[0]
    d = os.path.join(tmp, f"redis-{port}")
    os.makedirs(d)
    Procs.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--enable-debug-command", "yes", "--dir", d,
                 "--daemonize", "no"], os.path.join(d, "log"))
    wait_until("redis-server to answer PING", lambda: one_shot(port, "PING").v == b"PONG")
    return port


def start_raftis(binary: str, tmp: str, n: int) -> list[int]:
    ports = free_ports(2 * n)
    peers = ",".join(f"{i + 1}@127.0.0.1:{ports[2 * i]}@{ports[2 * i + 1]}" for i in range(n))
    for i in range(n):
        d = os.path.join(tmp, f"raftis-{n}-{i + 1}")
        os.makedirs(d)
        args = [binary, "--port", str(ports[2 * i]), "--bus-port", str(ports[2 * i + 1]),
                "--dir", d, "--node-id", str(i + 1)]
        if n > 1:
            args += ["--peers", peers]
        Procs.spawn(args, os.path.join(d, "log"))
    client_ports = [ports[2 * i] for i in range(n)]

    def leader_known():
        leaders = set()
        for p in client_ports:
            info = one_shot(p, "INFO", "raft").v.decode()
            f = dict(l.split(":", 1) for l in info.splitlines() if ":" in l)
            leaders.add(f.get("raft_leader_id", "0"))
        return len(leaders) == 1 and "0" not in leaders

    wait_until(f"a {n}-node raftis to agree on a leader", leader_known)
    for p in client_ports:  # every node serves reads and forwards writes before we start
        wait_until(f"node on port {p} to serve", lambda p=p: one_shot(p, "DBSIZE").t == ":")
        wait_until(f"node on port {p} to accept writes",
                   lambda p=p: one_shot(p, "SET", "difftest:probe", "1").raw == b"+OK\r\n")
    one_shot(client_ports[0], "FLUSHALL")
    return client_ports


# --------------------------------------------------------------------------------------------
# RESP
# --------------------------------------------------------------------------------------------
class RespError(Exception):
    pass


class Frame:
    """One RESP2/RESP3 value: t is its type byte as a str, v its payload (bytes, a list of
    Frames, a list of (Frame, Frame) for maps, or None), raw its exact bytes."""

    __slots__ = ("t", "v", "raw")

    def __init__(self, t, v, raw=b""):
        self.t, self.v, self.raw = t, v, raw

    def is_error(self):
        return self.t in "-!"

    def items(self):
        return self.v if isinstance(self.v, list) else []

    def __repr__(self):
        return f"Frame({self.t}, {self.raw!r})"


AGGREGATES = "*~>"


def encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A raw socket connection with a RESP reader and a model of the session state the tester
    needs to know how many replies to read (protocol, subscriptions, MULTI)."""

    def __init__(self, port: int, timeout: float = REPLY_TIMEOUT_S):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.multi = False
        self.queued: list[list[bytes]] = []
        self.messages: list[bytes] = []
        self.ever_subscribed = False
        self.db = 0
        # WATCHed keys: (db, key, DEBUG DIGEST-VALUE when watched), on the Redis side only.
        self.watched: list[tuple[int, bytes, bytes]] = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, args):
        self.sock.sendall(encode(args))

    def subscribed(self):
        return bool(self.channels or self.patterns)

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise RespError("connection closed")
        self.buf += data

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < self.pos + n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return data

    def _frame(self) -> Frame:
        start = self.pos
        line = self._line()
        if not line:
            raise RespError("empty line in reply")
        t, rest = chr(line[0]), line[1:]
        if t in "+-:,#(":
            f = Frame(t, rest)
        elif t == "_":
            f = Frame(t, None)
        elif t in "$!=":
            n = int(rest)
            f = Frame(t, None if n < 0 else self._exact(n))
        elif t in AGGREGATES:
            n = int(rest)
            f = Frame(t, None if n < 0 else [self._frame() for _ in range(n)])
        elif t == "%":
            n = int(rest)
            f = Frame(t, [(self._frame(), self._frame()) for _ in range(n)])
        elif t == "|":  # attribute: precedes the value it describes
            for _ in range(int(rest)):
                self._frame()
                self._frame()
            inner = self._frame()
            f = Frame(inner.t, inner.v)
        else:
            raise RespError(f"bad reply type byte {line[:20]!r}")
        f.raw = bytes(self.buf[start:self.pos])
        return f

    def read_frame(self) -> Frame:
        f = self._frame()
        del self.buf[:self.pos]
        self.pos = 0
        return f

    def is_message(self, f: Frame) -> bool:
        """An out-of-band pub/sub message or tracking push, not a reply."""
        if f.t not in "*>" or not f.v:
            return False
        kind = f.v[0].v
        if f.t == ">" and kind in (b"message", b"pmessage", b"smessage", b"invalidate"):
            return True
        return f.t == "*" and self.subscribed() and kind in (b"message", b"pmessage")

    def read_replies(self, n: int) -> list[Frame]:
        out = []
        while len(out) < n:
            f = self.read_frame()
            if self.is_message(f):
                self.messages.append(f.raw)
            else:
                out.append(f)
                self._track_pubsub(f)
        return out

    def _track_pubsub(self, f: Frame):
        if f.t not in "*>" or not f.v or len(f.v) != 3 or f.v[0].t != "$":
            return
        kind, name = f.v[0].v, f.v[1].v
        if kind == b"subscribe":
            self.channels.add(name)
            self.ever_subscribed = True
        elif kind == b"psubscribe":
            self.patterns.add(name)
            self.ever_subscribed = True
        elif kind == b"unsubscribe":
            self.channels.discard(name)
        elif kind == b"punsubscribe":
            self.patterns.discard(name)

    def drain_messages(self, quiet_s: float):
        """Reads what arrives within quiet_s (out-of-band messages only are expected)."""
        self.sock.settimeout(quiet_s)
        try:
            while True:
                if self.pos < len(self.buf):
                    f = self.read_frame()
                else:
                    try:
                        self._fill()
                    except socket.timeout:
                        return
                    continue
                self.messages.append(f.raw)
        finally:
            self.sock.settimeout(REPLY_TIMEOUT_S)


def lower(b) -> bytes:
    return (b if isinstance(b, bytes) else str(b).encode()).lower()


def expected_replies(conn: Conn, args: list[bytes]) -> int:
    """How many replies a command produces (Redis's own session state decides)."""
    if conn.multi:
        return 1
    name = lower(args[0])
    if name in (b"subscribe", b"psubscribe", b"ssubscribe"):
        return max(1, len(args) - 1)
    if name in (b"unsubscribe", b"punsubscribe"):
        if len(args) > 1:
            return len(args) - 1
        return max(1, len(conn.channels if name == b"unsubscribe" else conn.patterns))
    return 1


def update_session(conn: Conn, args: list[bytes], replies: list[Frame]):
    name = lower(args[0])
    r = replies[0]
    if conn.multi and r.raw == b"+QUEUED\r\n":
        conn.queued.append(args)
        return
    if name == b"multi" and r.raw == b"+OK\r\n":
        conn.multi = True
        conn.queued = []
    elif name in (b"exec", b"discard") and conn.multi:
        conn.multi = False
    elif name == b"reset" and not r.is_error():
        conn.multi = False
        conn.channels.clear()
        conn.patterns.clear()
        conn.db = 0
    elif name == b"select" and r.raw == b"+OK\r\n":
        conn.db = int(args[1])
    if name in (b"exec", b"discard", b"unwatch", b"reset") and not (
            name == b"exec" and r.raw.startswith(b"-ERR EXEC without")):
        conn.watched = []


def watch_digests(r: "Conn", args: list[bytes]) -> None:
    """After a successful WATCH on the Redis side: remember what each key held."""
    keys = [k for k in args[1:] if not any(w[0] == r.db and w[1] == k for w in r.watched)]
    if not keys:
        return
    r.send([b"DEBUG", b"DIGEST-VALUE"] + keys)
    digests = r.read_replies(1)[0].items()
    r.watched += [(r.db, k, d.raw) for k, d in zip(keys, digests)]


def watched_unchanged(r: "Conn", watched) -> bool:
    """Whether every watched key still holds what it held when watched (Redis side)."""
    here = r.db
    same = True
    for db, key, digest in watched:
        if db != r.db:
            r.send([b"SELECT", str(db).encode()])
            r.read_replies(1)
            r.db = db
        r.send([b"DEBUG", b"DIGEST-VALUE", key])
        if r.read_replies(1)[0].items()[0].raw != digest:
            same = False
    if r.db != here:
        r.send([b"SELECT", str(here).encode()])
        r.read_replies(1)
        r.db = here
    return same


# --------------------------------------------------------------------------------------------
# The generator: a table of command templates
# --------------------------------------------------------------------------------------------
KEYS = {
    "string": [b"s1", b"s2", b"{t}s3"],
    "hash": [b"h1", b"h2"],
    "list": [b"l1", b"l2"],
    "set": [b"S1", b"S2"],
    "zset": [b"z1", b"z2"],
    "odd": [b"", b"\x00\xff", b"a b", b"x\r\ny", b"k"],
}
ALL_KEYS = [k for ks in KEYS.values() for k in ks]
LONG = b"v" * 70          # > 64 bytes: hash/zset leave listpack; > 44: raw string
BIG_INT = b"9223372036854775807"
VALUES = [b"", b"0", b"1", b"-1", b"10", b"42", b"3.14", b"abc", b"foo bar", b"\x00\xff\x01",
          b"x\r\ny", BIG_INT, b"-9223372036854775808", b"9223372036854775808", b"1e3", b"inf",
          b"nan", b" 1", b"1 ", b"0x10", b"007", b"-0", b"5.0", b"1.5e308", b"x" * 45, LONG]
INTS = [b"0", b"1", b"2", b"3", b"-1", b"-2", b"-3", b"5", b"10", b"100", b"-100", b"abc", b"",
        b"1.5", BIG_INT, b"-9223372036854775808", b"9223372036854775808", b" 1", b"+1", b"01",
        b"-0"]
SMALL = [b"0", b"1", b"2", b"3", b"-1", b"-2", b"5", b"10", b"-10"]
FLOATS = [b"0", b"1", b"-1", b"1.5", b"-2.25", b"0.1", b"1e3", b"-1e-3", b"inf", b"-inf", b"+inf",
          b"nan", b"abc", b"", b"1e308", b"1.7976931348623157e308", b"1e400", b"5.0e0", b" 1",
          b"0x10", BIG_INT]
SCORES = [b"0", b"1", b"2", b"3", b"-1", b"1.5", b"-2.5", b"10", b"inf", b"-inf", b"+inf", b"nan",
          b"abc", b"", b"1e2", b"9007199254740993", b"1e400", b"-0"]
SCORE_RANGES = [b"-inf", b"+inf", b"inf", b"0", b"1", b"(1", b"2", b"(2", b"1.5", b"(1.5",
                b"-1", b"(-1", b"abc", b"(abc", b"nan", b"(", b"10"]
LEX_RANGES = [b"-", b"+", b"[a", b"(a", b"[b", b"(b", b"[c", b"(c", b"a", b"[", b"(", b"[\x00",
              b"[zzz", b"(1"]
MEMBERS = [b"a", b"b", b"c", b"d", b"1", b"2", b"3", b"-5", b"100", b"", b"\x00", b"a b", LONG]
FIELDS = [b"f1", b"f2", b"f3", b"", b"x y", b"\x00", LONG]
CHANNELS = [b"ch1", b"ch2", b"news.a", b"news.b", b""]
PATTERNS = [b"ch*", b"news.*", b"*", b"n?ws.a", b"[cn]*"]
GLOBS = [b"*", b"s*", b"?1", b"[hs]*", b"*\x00*", b"h[^1]", b"", b"\\*", b"z?", b"[a-z]*",
         b"S*", b"*1"]
TYPES = [b"string", b"hash", b"list", b"set", b"zset", b"stream", b"nosuch", b"STRING"]
DBS = [b"0", b"1", b"2", b"15", b"16", b"-1", b"abc", b""]
FUTURE_S = [b"100000", b"200000", b"999999"]
EXPIRE_S = FUTURE_S + [b"0", b"-1", b"-100", b"abc", b"", b"1.5", BIG_INT,
                       b"9223372036854775806", b"-9223372036854775808", b"4611686018427387904"]
FUTURE_AT = [b"4102444800", b"4102444801", b"5000000000"]
EXPIRE_AT = FUTURE_AT + [b"1", b"0", b"-1", b"abc", BIG_INT, b"100"]
SET_EX = FUTURE_S + [b"0", b"-1", b"abc", BIG_INT, b"1.5", b""]
BLOCK_TIMEOUTS = [b"0.01", b"0.01", b"0.02", b"-1", b"abc", b"nan", b"inf" ]  # never 0: blocks forever
CONFIG_PARAMS = [b"databases", b"timeout", b"proto-max-bulk-len", b"maxmemory",
                 b"maxmemory-policy", b"hash-max-listpack-entries", b"set-max-intset-entries",
                 b"zset-max-listpack-value", b"list-max-listpack-size", b"notify-keyspace-events",
                 b"nosuchparam", b"lfu-log-factor", b"maxclients"]


class Gen:
    """Random argument helpers over the small keyspace; one random.Random per sequence."""

    def __init__(self, rng: random.Random, listed: set[str]):
        self.rng = rng
        self.listed = listed

    def pick(self, xs):
        return self.rng.choice(xs)

    def chance(self, p):
        return self.rng.random() < p

    def n(self, lo, hi):
        return self.rng.randint(lo, hi)

    def key(self, kind=None):
        r = self.rng.random()
        if kind and r < 0.75:
            return self.pick(KEYS[kind])
        if r < 0.9:
            return self.pick(ALL_KEYS)
        return self.pick(KEYS["odd"])

    def keys(self, kind=None, lo=1, hi=3):
        return [self.key(kind) for _ in range(self.n(lo, hi))]

    def val(self):
        if self.chance(0.005):
            return b"y" * 9000  # a large element: quicklist nodes, raw strings
        return self.pick(VALUES)

    def int_(self):
        return self.pick(SMALL) if self.chance(0.7) else self.pick(INTS)

    def count(self):
        return self.pick(SMALL) if self.chance(0.75) else self.pick(INTS)

    def float_(self):
        return self.pick(FLOATS)

    def member(self):
        return self.pick(MEMBERS)

    def members(self, lo=1, hi=4):
        return [self.member() for _ in range(self.n(lo, hi))]

    def field(self):
        return self.pick(FIELDS)

    def score(self):
        return self.pick(SCORES[:10]) if self.chance(0.8) else self.pick(SCORES)

    def opt(self, p, *args):
        return list(args) if self.chance(p) else []

    def one_of(self, *choices):
        return list(self.pick(choices))

    def numkeys(self, kind):
        ks = self.keys(kind, 1, 3)
        n = str(len(ks)).encode()
        if self.chance(0.1):
            n = self.pick([b"0", b"-1", b"abc", b"5", b"1"])
        return [n] + ks


def ttl_opts(g: Gen):
    return g.pick([[], [], [b"EX", g.pick(SET_EX)], [b"PX", g.pick([b"100000000", b"0", b"-5", b"abc"])],
                   [b"EXAT", g.pick(FUTURE_AT + [b"0", b"abc"])],
                   [b"PXAT", g.pick([b"4102444800000", b"0", b"abc"])], [b"KEEPTTL"]])


def set_cmd(g: Gen):
    args = [b"SET", g.key("string"), g.val()] + ttl_opts(g)
    args += g.pick([[], [], [b"NX"], [b"XX"], [b"NX", b"XX"]])
    args += g.opt(0.2, b"GET")
    if g.chance(0.05):
        args += [g.pick([b"EX", b"BADOPT", b"KEEPTTL", b"PX", b"get"])]
    if g.chance(0.2):
        head, tail = args[:3], args[3:]
        g.rng.shuffle(tail)
        args = head + tail
    return args


def getex_cmd(g: Gen):
    return [b"GETEX", g.key("string")] + g.pick([
        [], [b"EX", g.pick(SET_EX)], [b"PX", g.pick([b"100000000", b"0", b"-1"])],
        [b"EXAT", g.pick(FUTURE_AT + [b"0"])], [b"PXAT", b"4102444800000"], [b"PERSIST"],
        [b"PERSIST", b"EX", b"100000"], [b"EX"], [b"BAD"]])


def lcs_cmd(g: Gen):
    args = [b"LCS", g.key("string"), g.key("string")]
    for o in g.rng.sample([[b"LEN"], [b"IDX"], [b"MINMATCHLEN", g.pick(SMALL)], [b"WITHMATCHLEN"],
                           [b"BADOPT"]], g.n(0, 2)):
        args += o
    return args


# Bit offsets: edges of a byte, the 512 MB limit's first refused offset, and junk. The last
# accepted offset (4294967295: a 512 MB string) is drawn rarely, by setbit_cmd.
BIT_OFFSETS = SMALL + [b"7", b"8", b"15", b"31", b"63", b"100", b"1000", b"abc", b"", b"1.5",
                       b"4294967296", b"9223372036854775807", b"-9223372036854775808"]
BIT_UNITS = [b"BYTE", b"BIT", b"bit", b"byte", b"BAD"]
FIELD_TYPES = [b"i1", b"i5", b"i8", b"i16", b"i32", b"i63", b"i64", b"u1", b"u7", b"u8", b"u16",
               b"u63", b"u8", b"i8", b"u64", b"i65", b"u0", b"x8", b"", b"i08", b"I8"]
FIELD_OFFSETS = [b"0", b"1", b"3", b"7", b"8", b"13", b"64", b"#0", b"#1", b"#2", b"#5", b"-1",
                 b"abc", b"#-1", b"#", b"100000", b"#1000"]
FIELD_VALUES = [b"0", b"1", b"-1", b"5", b"100", b"127", b"128", b"-128", b"-129", b"255",
                b"256", b"1000", b"-1000", b"9223372036854775807", b"-9223372036854775808",
                b"abc", b"1.5"]


def setbit_cmd(g: Gen):
    offset = g.pick(BIT_OFFSETS) if g.chance(0.995) else b"4294967295"
    return [b"SETBIT", g.key("string"), offset, g.pick([b"0", b"1", b"1", b"2", b"-1", b"abc"])]


def bitcount_cmd(g: Gen):
    return [b"BITCOUNT", g.key("string")] + g.pick([
        [], [g.int_(), g.int_()], [g.int_(), g.int_(), g.pick(BIT_UNITS)], [g.int_()]])


def bitpos_cmd(g: Gen):
    bit = g.pick([b"0", b"1", b"0", b"1", b"2", b"-1", b"abc"])
    return [b"BITPOS", g.key("string"), bit] + g.pick([
        [], [g.int_()], [g.int_(), g.int_()], [g.int_(), g.int_(), g.pick(BIT_UNITS)]])


def bitop_cmd(g: Gen):
    op = g.pick([b"AND", b"OR", b"XOR", b"NOT", b"and", b"not", b"NAND"])
    n = 1 if op.lower() == b"not" and g.chance(0.8) else g.n(1, 3)
    return [b"BITOP", op, g.key("string")] + g.keys("string", n, n)


def bitfield_ops(g: Gen, writes=True):
    args = []
    for _ in range(g.n(0, 4)):
        r = g.rng.random()
        if r < 0.4 or not writes and r < 0.9:
            args += [b"GET", g.pick(FIELD_TYPES), g.pick(FIELD_OFFSETS)]
        elif r < 0.6:
            args += [b"SET", g.pick(FIELD_TYPES), g.pick(FIELD_OFFSETS), g.pick(FIELD_VALUES)]
        elif r < 0.8:
            args += [b"INCRBY", g.pick(FIELD_TYPES), g.pick(FIELD_OFFSETS),
                     g.pick(FIELD_VALUES)]
        elif r < 0.97:
            args += [b"OVERFLOW", g.pick([b"WRAP", b"SAT", b"FAIL", b"fail", b"BAD"])]
        else:
            args += [g.pick([b"GET", b"OVERFLOW", b"BAD"])]
    return args


def expire_cmd(name, times):
    def f(g: Gen):
        args = [name, g.key(), g.pick(times)]
        if g.chance(0.3):
            args += g.rng.sample([b"NX", b"XX", b"GT", b"LT", b"BAD"], g.n(1, 2))
        return args
    return f


def scan_opts(g: Gen, with_type=False):
    args = []
    if g.chance(0.4):
        args += [b"MATCH", g.pick(GLOBS)]
    if g.chance(0.4):
        args += [b"COUNT", g.pick([b"1", b"2", b"10", b"1000", b"0", b"-1", b"abc"])]
    if with_type and g.chance(0.3):
        args += [b"TYPE", g.pick(TYPES)]
    if g.chance(0.05):
        args += [g.pick([b"MATCH", b"BAD", b"COUNT"])]
    return args


def zrange_cmd(g: Gen):
    by = g.pick([None, None, b"BYSCORE", b"BYLEX"])
    if by == b"BYSCORE":
        lo, hi = g.pick(SCORE_RANGES), g.pick(SCORE_RANGES)
    elif by == b"BYLEX":
        lo, hi = g.pick(LEX_RANGES), g.pick(LEX_RANGES)
    else:
        lo, hi = g.int_(), g.int_()
    args = [b"ZRANGE", g.key("zset"), lo, hi] + ([by] if by else [])
    args += g.opt(0.3, b"REV")
    if g.chance(0.3):
        args += [b"LIMIT", g.int_(), g.count()]
    args += g.opt(0.4, b"WITHSCORES")
    return args


def zrangestore_cmd(g: Gen):
    args = zrange_cmd(g)
    args = [b"ZRANGESTORE", g.key("zset")] + args[1:]
    return [a for a in args if a != b"WITHSCORES" or g.chance(0.1)]


def zbyscore(name, rev=False):
    def f(g: Gen):
        args = [name, g.key("zset"), g.pick(SCORE_RANGES), g.pick(SCORE_RANGES)]
        args += g.opt(0.4, b"WITHSCORES")
        if g.chance(0.3):
            args += [b"LIMIT", g.int_(), g.count()]
        return args
    return f


def zbylex(name):
    def f(g: Gen):
        args = [name, g.key("zset"), g.pick(LEX_RANGES), g.pick(LEX_RANGES)]
        if g.chance(0.3):
            args += [b"LIMIT", g.int_(), g.count()]
        return args
    return f


def zsetop(name, store=False):
    def f(g: Gen):
        ks = g.keys(g.pick(["zset", "zset", "set"]), 1, 3)
        n = str(len(ks)).encode() if g.chance(0.9) else g.pick([b"0", b"-1", b"abc", b"9"])
        args = [name] + ([g.key("zset")] if store else []) + [n] + ks
        if g.chance(0.3) and name not in (b"ZDIFF", b"ZDIFFSTORE"):
            args += [b"WEIGHTS"] + [g.pick([b"1", b"2", b"-1", b"0.5", b"inf", b"abc"])
                                    for _ in range(len(ks) if g.chance(0.9) else 1)]
        if g.chance(0.3) and name not in (b"ZDIFF", b"ZDIFFSTORE"):
            args += [b"AGGREGATE", g.pick([b"SUM", b"MIN", b"MAX", b"avg"])]
        if not store:
            args += g.opt(0.4, b"WITHSCORES")
        return args
    return f


def zadd_cmd(g: Gen):
    args = [b"ZADD", g.key("zset")]
    for o in (b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"):
        if g.chance(0.12):
            args.append(o)
    for _ in range(g.n(1, 3) if b"INCR" not in args or g.chance(0.2) else 1):
        args += [g.score(), g.member()]
    if g.chance(0.03):
        args.append(g.score())
    return args


def lpos_cmd(g: Gen):
    args = [b"LPOS", g.key("list"), g.val() if g.chance(0.4) else g.member()]
    for o in g.rng.sample([[b"RANK", g.int_()], [b"COUNT", g.count()],
                           [b"MAXLEN", g.count()]], g.n(0, 2)):
        args += o
    return args


def pubsub_block(g: Gen):
    """One client subscribes, others publish and count, then it unsubscribes."""
    chans = g.rng.sample(CHANNELS, g.n(1, 3))
    items = [(0, [b"SUBSCRIBE"] + chans)]
    if g.chance(0.5):
        items.append((0, [b"PSUBSCRIBE"] + g.rng.sample(PATTERNS, g.n(1, 2))))
    for _ in range(g.n(1, 4)):
        items.append((g.pick([1, 2]), g.pick([
            [b"PUBLISH", g.pick(CHANNELS), g.val()],
            [b"PUBSUB", b"NUMSUB"] + g.rng.sample(CHANNELS, g.n(0, 3)),
            [b"PUBSUB", b"NUMPAT"],
            [b"PUBSUB", b"CHANNELS"] + g.opt(0.5, g.pick(PATTERNS))])))
    if g.chance(0.3):
        items.append((0, [b"PING"] + g.opt(0.5, b"hi")))
    if g.chance(0.2):
        items.append((0, [b"GET", g.key()]))  # refused in RESP2 subscribed mode
    items.append((0, [b"UNSUBSCRIBE"] + g.opt(0.3, g.pick(chans))))
    items.append((0, [b"PUNSUBSCRIBE"]))
    if g.chance(0.3):
        items.append((0, [b"UNSUBSCRIBE"]))
    return items


def multi_block(g: Gen, inner):
    """MULTI, a few commands from the table, EXEC or DISCARD, on one client."""
    items = [(0, [b"MULTI"])]
    for _ in range(g.n(0, 5)):
        items.append((0, inner()))
    items.append((0, [b"EXEC"] if g.chance(0.85) else [b"DISCARD"]))
    return items


def watch_block(g: Gen, inner):
    """WATCH on one client, maybe a write to a watched key from another, then MULTI/EXEC."""
    ks = g.keys(None, 1, 2)
    items = [(0, [b"WATCH"] + ks)]
    if g.chance(0.6):
        items.append((1, g.pick([[b"SET", ks[0], g.val()], [b"DEL", ks[0]], [b"GET", ks[0]],
                                 [b"EXPIRE", ks[0], b"100000"], [b"PERSIST", ks[0]],
                                 [b"INCR", ks[0]], [b"SET", b"other", b"1"]])))
    if g.chance(0.2):
        items.append((0, [b"UNWATCH"]))
    items.append((0, [b"MULTI"]))
    for _ in range(g.n(0, 3)):
        items.append((0, inner()))
    items.append((0, [b"EXEC"]))
    return items


def client_kill(g: Gen):
    return g.pick([[b"CLIENT", b"KILL", b"1.2.3.4:5"], [b"CLIENT", b"KILL", b"ID", b"999999999"],
                   [b"CLIENT", b"KILL", b"ID", b"abc"], [b"CLIENT", b"KILL", b"ADDR", b"1.2.3.4:5"],
                   [b"CLIENT", b"KILL", b"BADOPT", b"x"], [b"CLIENT", b"KILL", b"ID"],
                   [b"CLIENT", b"KILL", b"ID", b"999999999", b"SKIPME", b"maybe"]])


# (name as COMMAND LIST spells it, weight, generator, flags)
# flags: "nomutate": never mutated (blocking commands, reply counting); "random": a random
# write, kept out of MULTI; "block": the generator returns [(client offset, args), ...].
T = [
    # strings
    ("get", 4, lambda g: [b"GET", g.key("string")], ""),
    ("set", 5, set_cmd, ""),
    ("setnx", 1, lambda g: [b"SETNX", g.key("string"), g.val()], ""),
    ("setex", 1, lambda g: [b"SETEX", g.key("string"), g.pick(SET_EX), g.val()], ""),
    ("psetex", 1, lambda g: [b"PSETEX", g.key("string"), g.pick([b"100000000", b"0", b"-1", b"abc"]), g.val()], ""),
    ("getset", 1, lambda g: [b"GETSET", g.key("string"), g.val()], ""),
    ("getdel", 1, lambda g: [b"GETDEL", g.key("string")], ""),
    ("getex", 1, getex_cmd, ""),
    ("mget", 2, lambda g: [b"MGET"] + g.keys("string", 1, 4), ""),
    ("mset", 2, lambda g: [b"MSET"] + [x for _ in range(g.n(1, 3)) for x in (g.key("string"), g.val())] + g.opt(0.05, b"odd"), ""),
    ("msetnx", 1, lambda g: [b"MSETNX"] + [x for _ in range(g.n(1, 3)) for x in (g.key("string"), g.val())], ""),
    ("append", 2, lambda g: [b"APPEND", g.key("string"), g.val()], ""),
    ("strlen", 1, lambda g: [b"STRLEN", g.key("string")], ""),
    ("getrange", 1, lambda g: [b"GETRANGE", g.key("string"), g.int_(), g.int_()], ""),
    ("substr", 1, lambda g: [b"SUBSTR", g.key("string"), g.int_(), g.int_()], ""),
    ("setrange", 1, lambda g: g.pick([
        [b"SETRANGE", g.key("string"), g.pick(SMALL + [b"100", b"-1", b"abc"]), g.val()],
        [b"SETRANGE", g.key("string"), b"536870911", b""],
        [b"SETRANGE", g.key("string"), b"536870912", b"x"]]), ""),
    ("incr", 2, lambda g: [b"INCR", g.key("string")], ""),
    ("decr", 1, lambda g: [b"DECR", g.key("string")], ""),
    ("incrby", 2, lambda g: [b"INCRBY", g.key("string"), g.int_()], ""),
    ("decrby", 1, lambda g: [b"DECRBY", g.key("string"), g.int_()], ""),
    ("incrbyfloat", 2, lambda g: [b"INCRBYFLOAT", g.key("string"), g.float_()], ""),
    ("lcs", 1, lcs_cmd, ""),
    # bitmaps
    ("setbit", 2, setbit_cmd, ""),
    ("getbit", 2, lambda g: [b"GETBIT", g.key("string"), g.pick(BIT_OFFSETS)], ""),
    ("bitcount", 2, bitcount_cmd, ""),
    ("bitpos", 2, bitpos_cmd, ""),
    ("bitop", 1, bitop_cmd, ""),
    ("bitfield", 2, lambda g: [b"BITFIELD", g.key("string")] + bitfield_ops(g), ""),
    ("bitfield_ro", 1, lambda g: [b"BITFIELD_RO", g.key("string")] + bitfield_ops(g, False), ""),
    # keys
    ("del", 2, lambda g: [b"DEL"] + g.keys(None, 1, 3), ""),
    ("unlink", 1, lambda g: [b"UNLINK"] + g.keys(None, 1, 3), ""),
    ("exists", 2, lambda g: [b"EXISTS"] + g.keys(None, 1, 3), ""),
    ("touch", 1, lambda g: [b"TOUCH"] + g.keys(None, 1, 3), ""),
    ("type", 2, lambda g: [b"TYPE", g.key()], ""),
    ("rename", 1, lambda g: [b"RENAME", g.key(), g.key()], ""),
    ("renamenx", 1, lambda g: [b"RENAMENX", g.key(), g.key()], ""),
    ("copy", 1, lambda g: [b"COPY", g.key(), g.key()] + g.opt(0.3, b"DB", g.pick(DBS)) + g.opt(0.4, b"REPLACE"), ""),
    ("move", 1, lambda g: [b"MOVE", g.key(), g.pick(DBS)], ""),
    ("keys", 1, lambda g: [b"KEYS", g.pick(GLOBS)], ""),
    ("scan", 1, lambda g: [b"SCAN", g.pick([b"0", b"0", b"abc", b"18446744073709551616"])] + scan_opts(g, True), ""),
    ("randomkey", 1, lambda g: [b"RANDOMKEY"], ""),
    ("dbsize", 1, lambda g: [b"DBSIZE"], ""),
    ("expire", 2, expire_cmd(b"EXPIRE", EXPIRE_S), ""),
    ("pexpire", 1, expire_cmd(b"PEXPIRE", [b"100000000", b"0", b"-1", b"abc", BIG_INT]), ""),
    ("expireat", 1, expire_cmd(b"EXPIREAT", EXPIRE_AT), ""),
    ("pexpireat", 1, expire_cmd(b"PEXPIREAT", [b"4102444800000", b"1", b"0", b"abc", BIG_INT]), ""),
    ("ttl", 2, lambda g: [b"TTL", g.key()], ""),
    ("pttl", 1, lambda g: [b"PTTL", g.key()], ""),
    ("expiretime", 1, lambda g: [b"EXPIRETIME", g.key()], ""),
    ("pexpiretime", 1, lambda g: [b"PEXPIRETIME", g.key()], ""),
    ("persist", 1, lambda g: [b"PERSIST", g.key()], ""),
    ("object|encoding", 2, lambda g: [b"OBJECT", b"ENCODING", g.key()], ""),
    ("object|freq", 0.3, lambda g: [b"OBJECT", b"FREQ", g.key()], ""),
    ("object|idletime", 0.5, lambda g: [b"OBJECT", b"IDLETIME", g.key()], ""),
    ("object|refcount", 0.5, lambda g: [b"OBJECT", b"REFCOUNT", g.key()], ""),
    ("object|help", 0.1, lambda g: [b"OBJECT", b"HELP"], ""),
    ("object", 0.2, lambda g: [b"OBJECT", g.pick([b"NOSUCH", b"encoding"])] + g.opt(0.5, g.key()), ""),
    ("swapdb", 0.3, lambda g: [b"SWAPDB", g.pick(DBS[:4]), g.pick(DBS)], ""),
    ("select", 1, lambda g: [b"SELECT", g.pick(DBS)], ""),
    ("flushdb", 0.2, lambda g: [b"FLUSHDB"] + g.opt(0.3, g.pick([b"ASYNC", b"SYNC", b"BAD"])), ""),
    ("flushall", 0.1, lambda g: [b"FLUSHALL"] + g.opt(0.3, g.pick([b"ASYNC", b"SYNC", b"BAD"])), ""),
    # hashes
    ("hset", 4, lambda g: [b"HSET", g.key("hash")] + [x for _ in range(g.n(1, 3)) for x in (g.field(), g.val())] + g.opt(0.03, b"odd"), ""),
    ("hsetnx", 1, lambda g: [b"HSETNX", g.key("hash"), g.field(), g.val()], ""),
    ("hget", 2, lambda g: [b"HGET", g.key("hash"), g.field()], ""),
    ("hmget", 1, lambda g: [b"HMGET", g.key("hash")] + [g.field() for _ in range(g.n(1, 3))], ""),
    ("hmset", 1, lambda g: [b"HMSET", g.key("hash")] + [x for _ in range(g.n(1, 2)) for x in (g.field(), g.val())], ""),
    ("hdel", 1, lambda g: [b"HDEL", g.key("hash")] + [g.field() for _ in range(g.n(1, 3))], ""),
    ("hlen", 1, lambda g: [b"HLEN", g.key("hash")], ""),
    ("hstrlen", 1, lambda g: [b"HSTRLEN", g.key("hash"), g.field()], ""),
    ("hexists", 1, lambda g: [b"HEXISTS", g.key("hash"), g.field()], ""),
    ("hkeys", 1, lambda g: [b"HKEYS", g.key("hash")], ""),
    ("hvals", 1, lambda g: [b"HVALS", g.key("hash")], ""),
    ("hgetall", 2, lambda g: [b"HGETALL", g.key("hash")], ""),
    ("hincrby", 2, lambda g: [b"HINCRBY", g.key("hash"), g.field(), g.int_()], ""),
    ("hincrbyfloat", 1, lambda g: [b"HINCRBYFLOAT", g.key("hash"), g.field(), g.float_()], ""),
    ("hrandfield", 1, lambda g: [b"HRANDFIELD", g.key("hash")] + (g.opt(0.7, g.count()) and [g.count()] + g.opt(0.4, b"WITHVALUES")), ""),
    ("hscan", 1, lambda g: [b"HSCAN", g.key("hash"), g.pick([b"0", b"0", b"abc"])] + scan_opts(g), ""),
    # lists
    ("lpush", 3, lambda g: [b"LPUSH", g.key("list")] + [g.val() for _ in range(g.n(1, 3))], ""),
    ("rpush", 3, lambda g: [b"RPUSH", g.key("list")] + [g.val() for _ in range(g.n(1, 3))], ""),
    ("lpushx", 1, lambda g: [b"LPUSHX", g.key("list"), g.val()], ""),
    ("rpushx", 1, lambda g: [b"RPUSHX", g.key("list"), g.val()], ""),
    ("lpop", 2, lambda g: [b"LPOP", g.key("list")] + g.opt(0.4, g.count()), ""),
    ("rpop", 2, lambda g: [b"RPOP", g.key("list")] + g.opt(0.4, g.count()), ""),
    ("llen", 1, lambda g: [b"LLEN", g.key("list")], ""),
    ("lrange", 3, lambda g: [b"LRANGE", g.key("list"), g.int_(), g.int_()], ""),
    ("lindex", 1, lambda g: [b"LINDEX", g.key("list"), g.int_()], ""),
    ("lset", 1, lambda g: [b"LSET", g.key("list"), g.int_(), g.val()], ""),
    ("linsert", 1, lambda g: [b"LINSERT", g.key("list"), g.pick([b"BEFORE", b"AFTER", b"after", b"MIDDLE"]), g.val(), g.val()], ""),
    ("lrem", 1, lambda g: [b"LREM", g.key("list"), g.count(), g.val()], ""),
    ("ltrim", 1, lambda g: [b"LTRIM", g.key("list"), g.int_(), g.int_()], ""),
    ("lpos", 1, lpos_cmd, ""),
    ("lmove", 1, lambda g: [b"LMOVE", g.key("list"), g.key("list"), g.pick([b"LEFT", b"RIGHT", b"UP"]), g.pick([b"LEFT", b"RIGHT"])], ""),
    ("rpoplpush", 1, lambda g: [b"RPOPLPUSH", g.key("list"), g.key("list")], ""),
    ("lmpop", 1, lambda g: [b"LMPOP"] + g.numkeys("list") + [g.pick([b"LEFT", b"RIGHT", b"BAD"])] + g.opt(0.4, b"COUNT", g.count()), ""),
    ("blpop", 0.5, lambda g: [b"BLPOP"] + g.keys("list", 1, 2) + [g.pick(BLOCK_TIMEOUTS)], "nomutate"),
    ("brpop", 0.5, lambda g: [b"BRPOP"] + g.keys("list", 1, 2) + [g.pick(BLOCK_TIMEOUTS)], "nomutate"),
    ("blmove", 0.3, lambda g: [b"BLMOVE", g.key("list"), g.key("list"), g.pick([b"LEFT", b"RIGHT"]), g.pick([b"LEFT", b"RIGHT"]), g.pick(BLOCK_TIMEOUTS)], "nomutate"),
    ("brpoplpush", 0.3, lambda g: [b"BRPOPLPUSH", g.key("list"), g.key("list"), g.pick(BLOCK_TIMEOUTS)], "nomutate"),
    ("blmpop", 0.3, lambda g: [b"BLMPOP", g.pick(BLOCK_TIMEOUTS)] + g.numkeys("list") + [g.pick([b"LEFT", b"RIGHT"])] + g.opt(0.4, b"COUNT", g.count()), "nomutate"),
    # sets
    ("sadd", 4, lambda g: [b"SADD", g.key("set")] + g.members(), ""),
    ("srem", 2, lambda g: [b"SREM", g.key("set")] + g.members(1, 2), ""),
    ("smembers", 2, lambda g: [b"SMEMBERS", g.key("set")], ""),
    ("sismember", 1, lambda g: [b"SISMEMBER", g.key("set"), g.member()], ""),
    ("smismember", 1, lambda g: [b"SMISMEMBER", g.key("set")] + g.members(1, 3), ""),
    ("scard", 1, lambda g: [b"SCARD", g.key("set")], ""),
    ("spop", 1, lambda g: [b"SPOP", g.key("set")] + g.opt(0.5, g.count()), "random"),
    ("srandmember", 1, lambda g: [b"SRANDMEMBER", g.key("set")] + g.opt(0.6, g.count()), ""),
    ("smove", 1, lambda g: [b"SMOVE", g.key("set"), g.key("set"), g.member()], ""),
    ("sinter", 1, lambda g: [b"SINTER"] + g.keys("set", 1, 3), ""),
    ("sintercard", 1, lambda g: [b"SINTERCARD"] + g.numkeys("set") + g.opt(0.4, b"LIMIT", g.count()), ""),
    ("sinterstore", 1, lambda g: [b"SINTERSTORE", g.key("set")] + g.keys("set", 1, 3), ""),
    ("sunion", 1, lambda g: [b"SUNION"] + g.keys("set", 1, 3), ""),
    ("sunionstore", 1, lambda g: [b"SUNIONSTORE", g.key("set")] + g.keys("set", 1, 3), ""),
    ("sdiff", 1, lambda g: [b"SDIFF"] + g.keys("set", 1, 3), ""),
    ("sdiffstore", 1, lambda g: [b"SDIFFSTORE", g.key("set")] + g.keys("set", 1, 3), ""),
    ("sscan", 1, lambda g: [b"SSCAN", g.key("set"), g.pick([b"0", b"0", b"abc"])] + scan_opts(g), ""),
    # sorted sets
    ("zadd", 4, zadd_cmd, ""),
    ("zrem", 1, lambda g: [b"ZREM", g.key("zset")] + g.members(1, 2), ""),
    ("zscore", 1, lambda g: [b"ZSCORE", g.key("zset"), g.member()], ""),
    ("zmscore", 1, lambda g: [b"ZMSCORE", g.key("zset")] + g.members(1, 3), ""),
    ("zincrby", 2, lambda g: [b"ZINCRBY", g.key("zset"), g.score(), g.member()], ""),
    ("zcard", 1, lambda g: [b"ZCARD", g.key("zset")], ""),
    ("zcount", 1, lambda g: [b"ZCOUNT", g.key("zset"), g.pick(SCORE_RANGES), g.pick(SCORE_RANGES)], ""),
    ("zlexcount", 1, lambda g: [b"ZLEXCOUNT", g.key("zset"), g.pick(LEX_RANGES), g.pick(LEX_RANGES)], ""),
    ("zrange", 3, zrange_cmd, ""),
    ("zrangebyscore", 1, zbyscore(b"ZRANGEBYSCORE"), ""),
    ("zrevrangebyscore", 1, zbyscore(b"ZREVRANGEBYSCORE"), ""),
    ("zrevrange", 1, lambda g: [b"ZREVRANGE", g.key("zset"), g.int_(), g.int_()] + g.opt(0.4, b"WITHSCORES"), ""),
    ("zrangebylex", 1, zbylex(b"ZRANGEBYLEX"), ""),
    ("zrevrangebylex", 1, zbylex(b"ZREVRANGEBYLEX"), ""),
    ("zrank", 1, lambda g: [b"ZRANK", g.key("zset"), g.member()], ""),
    ("zrevrank", 1, lambda g: [b"ZREVRANK", g.key("zset"), g.member()], ""),
    ("zpopmin", 1, lambda g: [b"ZPOPMIN", g.key("zset")] + g.opt(0.4, g.count()), ""),
    ("zpopmax", 1, lambda g: [b"ZPOPMAX", g.key("zset")] + g.opt(0.4, g.count()), ""),
    ("bzpopmin", 0.3, lambda g: [b"BZPOPMIN"] + g.keys("zset", 1, 2) + [g.pick(BLOCK_TIMEOUTS)], "nomutate"),
    ("bzpopmax", 0.3, lambda g: [b"BZPOPMAX"] + g.keys("zset", 1, 2) + [g.pick(BLOCK_TIMEOUTS)], "nomutate"),
    ("zmpop", 1, lambda g: [b"ZMPOP"] + g.numkeys("zset") + [g.pick([b"MIN", b"MAX", b"BAD"])] + g.opt(0.4, b"COUNT", g.count()), ""),
    ("bzmpop", 0.3, lambda g: [b"BZMPOP", g.pick(BLOCK_TIMEOUTS)] + g.numkeys("zset") + [g.pick([b"MIN", b"MAX"])] + g.opt(0.4, b"COUNT", g.count()), "nomutate"),
    ("zrangestore", 1, zrangestore_cmd, ""),
    ("zunion", 1, zsetop(b"ZUNION"), ""),
    ("zinter", 1, zsetop(b"ZINTER"), ""),
    ("zdiff", 1, zsetop(b"ZDIFF"), ""),
    ("zunionstore", 1, zsetop(b"ZUNIONSTORE", True), ""),
    ("zinterstore", 1, zsetop(b"ZINTERSTORE", True), ""),
    ("zdiffstore", 1, zsetop(b"ZDIFFSTORE", True), ""),
    ("zremrangebyrank", 1, lambda g: [b"ZREMRANGEBYRANK", g.key("zset"), g.int_(), g.int_()], ""),
    ("zremrangebyscore", 1, lambda g: [b"ZREMRANGEBYSCORE", g.key("zset"), g.pick(SCORE_RANGES), g.pick(SCORE_RANGES)], ""),
    ("zremrangebylex", 1, lambda g: [b"ZREMRANGEBYLEX", g.key("zset"), g.pick(LEX_RANGES), g.pick(LEX_RANGES)], ""),
    ("zrandmember", 1, lambda g: [b"ZRANDMEMBER", g.key("zset")] + (g.opt(0.7, g.count()) and [g.count()] + g.opt(0.4, b"WITHSCORES")), ""),
    ("zscan", 1, lambda g: [b"ZSCAN", g.key("zset"), g.pick([b"0", b"0", b"abc"])] + scan_opts(g), ""),
    # transactions (single commands; the blocks are below)
    ("multi", 0.3, lambda g: [b"MULTI"], "nomutate"),
    ("exec", 0.3, lambda g: [b"EXEC"], "nomutate"),
    ("discard", 0.2, lambda g: [b"DISCARD"], "nomutate"),
    ("watch", 0.3, lambda g: [b"WATCH"] + g.keys(None, 1, 2), ""),
    ("unwatch", 0.2, lambda g: [b"UNWATCH"], ""),
    # pub/sub
    ("publish", 1, lambda g: [b"PUBLISH", g.pick(CHANNELS), g.val()], ""),
    ("pubsub|channels", 0.3, lambda g: [b"PUBSUB", b"CHANNELS"] + g.opt(0.5, g.pick(PATTERNS)), ""),
    ("pubsub|numsub", 0.3, lambda g: [b"PUBSUB", b"NUMSUB"] + g.rng.sample(CHANNELS, g.n(0, 2)), ""),
    ("pubsub|numpat", 0.3, lambda g: [b"PUBSUB", b"NUMPAT"], ""),
    ("pubsub|help", 0.05, lambda g: [b"PUBSUB", b"HELP"], ""),
    # connection and server
    ("ping", 1, lambda g: [b"PING"] + g.opt(0.4, g.val()), ""),
    ("echo", 1, lambda g: [b"ECHO", g.val()], ""),
    ("time", 0.3, lambda g: [b"TIME"], ""),
    ("auth", 0.3, lambda g: [b"AUTH"] + g.pick([[b"pw"], [b"default", b"pw"], [b"nouser", b"pw"], [b"a", b"b", b"c"]]), ""),
    ("hello", 0.4, lambda g: [b"HELLO"] + g.pick([[], [b"2"], [b"3"], [b"4"], [b"abc"], [b"1"],
                                                   [b"3", b"SETNAME", b"me"], [b"2", b"AUTH", b"default", b"pw"],
                                                   [b"3", b"BADOPT"], [b"SETNAME", b"x"]]), ""),
    ("reset", 0.1, lambda g: [b"RESET"], "nomutate"),
    ("quit", 0.05, lambda g: [b"QUIT"], "nomutate"),
    ("client|id", 0.3, lambda g: [b"CLIENT", b"ID"], ""),
    ("client|setname", 0.3, lambda g: [b"CLIENT", b"SETNAME", g.pick([b"conn1", b"", b"a b", b"x\ny", b"ok-name"])], ""),
    ("client|getname", 0.3, lambda g: [b"CLIENT", b"GETNAME"], ""),
    ("client|list", 0.1, lambda g: [b"CLIENT", b"LIST"] + g.pick([[], [b"TYPE", b"normal"], [b"TYPE", b"bad"], [b"ID", b"abc"]]), ""),
    ("client|info", 0.1, lambda g: [b"CLIENT", b"INFO"], ""),
    ("client|kill", 0.2, client_kill, "nomutate"),
    ("client|reply", 0.1, lambda g: [b"CLIENT", b"REPLY", g.pick([b"ON", b"on", b"maybe"])], "nomutate"),
    ("client|no-evict", 0.1, lambda g: [b"CLIENT", b"NO-EVICT", g.pick([b"on", b"off", b"bad"])], ""),
    ("client|getredir", 0.1, lambda g: [b"CLIENT", b"GETREDIR"], ""),
    ("client|trackinginfo", 0.1, lambda g: [b"CLIENT", b"TRACKINGINFO"], ""),
    ("client|tracking", 0.1, lambda g: [b"CLIENT", b"TRACKING", g.pick([b"off", b"bad", b"OFF"])], "nomutate"),
    ("client|caching", 0.1, lambda g: [b"CLIENT", b"CACHING", g.pick([b"yes", b"no", b"bad"])], ""),
    ("client|unblock", 0.1, lambda g: [b"CLIENT", b"UNBLOCK", g.pick([b"999999999", b"abc"])] + g.opt(0.3, g.pick([b"TIMEOUT", b"ERROR", b"bad"])), ""),
    ("client|pause", 0.1, lambda g: [b"CLIENT", b"PAUSE", g.pick([b"abc", b"-1"])], "nomutate"),
    ("client|unpause", 0.1, lambda g: [b"CLIENT", b"UNPAUSE"], ""),
    ("client|help", 0.05, lambda g: [b"CLIENT", b"HELP"], ""),
    ("client", 0.1, lambda g: [b"CLIENT", g.pick([b"NOSUCH", b"id"])] + g.opt(0.4, b"x"), "nomutate"),
    ("config|get", 0.4, lambda g: [b"CONFIG", b"GET"] + g.rng.sample(CONFIG_PARAMS, g.n(1, 2)), ""),
    ("config|set", 0.2, lambda g: [b"CONFIG", b"SET"] + g.pick([[b"timeout", b"0"], [b"nosuchparam", b"1"],
                                                               [b"databases", b"4"], [b"timeout", b"abc"],
                                                               [b"maxmemory-policy", b"noeviction"],
                                                               [b"timeout", b"0", b"timeout", b"0"], [b"timeout"]]), "nomutate"),
    ("config|resetstat", 0.1, lambda g: [b"CONFIG", b"RESETSTAT"], ""),
    ("config|help", 0.05, lambda g: [b"CONFIG", b"HELP"], ""),
    ("config", 0.05, lambda g: [b"CONFIG", g.pick([b"NOSUCH", b"get"])], "nomutate"),
    ("info", 0.2, lambda g: [b"INFO"] + g.opt(0.5, g.pick([b"server", b"keyspace", b"nosuch", b"all", b"raft"])), ""),
    ("debug", 0.4, lambda g: g.pick([[b"DEBUG", b"DIGEST"], [b"DEBUG", b"DIGEST-VALUE"] + g.keys(None, 0, 2),
                                     [b"DEBUG", b"SLEEP", b"0"], [b"DEBUG", b"NOSUCH"]]), "nomutate"),
    ("command|count", 0.1, lambda g: [b"COMMAND", b"COUNT"], ""),
    ("command|list", 0.1, lambda g: [b"COMMAND", b"LIST"] + g.pick([[], [b"FILTERBY", b"PATTERN", b"g*"], [b"FILTERBY", b"BAD", b"x"]]), ""),
    ("command|info", 0.3, lambda g: [b"COMMAND", b"INFO"] + [g.pick(g.listed_names) for _ in range(g.n(0, 2))] + g.opt(0.2, b"nosuchcmd"), ""),
    ("command|docs", 0.2, lambda g: [b"COMMAND", b"DOCS"] + [g.pick(g.listed_names) for _ in range(g.n(1, 2))], ""),
    ("command|getkeys", 0.4, lambda g: [b"COMMAND", b"GETKEYS"] + g.inner(), ""),
    ("command|getkeysandflags", 0.2, lambda g: [b"COMMAND", b"GETKEYSANDFLAGS"] + g.inner(), ""),
    ("command|help", 0.05, lambda g: [b"COMMAND", b"HELP"], ""),
    ("", 0.3, lambda g: [g.pick([b"NOSUCHCMD", b"", b"foo bar", b"\x00"])] + g.opt(0.5, g.val(), g.val()), ""),
]

BLOCKS = [
    # (commands that must all be listed, weight, generator(g, inner))
    (("multi", "exec", "discard"), 3, multi_block),
    (("watch", "multi", "exec"), 2, watch_block),
    (("subscribe", "unsubscribe", "psubscribe", "punsubscribe", "publish", "pubsub|numsub",
      "pubsub|numpat", "pubsub|channels"), 1, lambda g, inner: pubsub_block(g)),
]


TEMPLATE_NAMES = {t[0] for t in T if t[0]} | {t[0].split("|")[0] for t in T if "|" in t[0]}
BLOCK_NAMES = {n for b in BLOCKS for n in b[0]}


def known_match(args) -> tuple | None:
    name = lower(args[0]).decode(errors="replace")
    if len(args) > 1 and name in ("object", "client", "config", "command", "pubsub"):
        name += "|" + lower(args[1]).decode(errors="replace")
    for k in KNOWN:
        if (name in k[1] or "*" in k[1]) and k[2](args):
            return k
    return None


class Generator:
    def __init__(self, listed: set[str], use_known: bool, skipped: Counter):
        self.listed = listed
        self.use_known = use_known
        self.templates = [t for t in T if t[0] == "" or t[0] in listed]
        self.blocks = [b for b in BLOCKS if all(n in listed for n in b[0])]
        self.skipped = sorted({t[0] for t in T if t[0] and t[0] not in listed})
        self.skipped_blocks = [b[0][0] for b in BLOCKS if b not in self.blocks]
        self.known_skipped = skipped

    def sequence(self, seed: int, length: int, nclients: int) -> list[tuple[int, list[bytes]]]:
        rng = random.Random(seed)
        g = Gen(rng, self.listed)
        # raftis's own commands (RAFT.*) are not Redis's: COMMAND INFO/DOCS of them differ.
        g.listed_names = sorted(n.encode() for n in self.listed if not n.startswith("raft."))
        in_multi = [False] * nclients
        weights = [t[1] for t in self.templates]

        def one(client, allow_random=True):
            for _ in range(100):
                name, _, fn, flags = rng.choices(self.templates, weights)[0]
                if "random" in flags and not allow_random:
                    continue
                args = fn(g)
                if "nomutate" not in flags and rng.random() < 0.04:
                    args = mutate(g, args)
                if self.use_known and known_match(args):
                    self.known_skipped[known_match(args)[0]] += 1
                    continue
                return args
            return [b"PING"]

        def inner():
            args = one(0, allow_random=False)
            while lower(args[0]) in (b"multi", b"exec", b"discard", b"watch", b"quit", b"reset",
                                     b"hello", b"blpop", b"brpop", b"blmove", b"brpoplpush",
                                     b"blmpop", b"bzpopmin", b"bzpopmax", b"bzmpop"):
                args = one(0, allow_random=False)
            return args

        g.inner = inner
        out = []
        i = 0
        while len(out) < length:
            client = i % nclients
            i += 1
            if self.blocks and rng.random() < 0.08:
                _, _, fn = rng.choices(self.blocks, [b[1] for b in self.blocks])[0]
                items = fn(g, inner)
                if any(in_multi[(client + off) % nclients] for off, _ in items):
                    continue
                for off, args in items:
                    out.append(((client + off) % nclients, args))
                continue
            args = one(client, allow_random=not in_multi[client])
            name = lower(args[0])
            if in_multi[client] and name in (b"subscribe", b"psubscribe"):
                continue
            if name == b"multi":
                in_multi[client] = True
            elif name in (b"exec", b"discard", b"reset", b"quit"):
                in_multi[client] = False
            out.append((client, args))
        return out[:length]


def mutate(g: Gen, args: list[bytes]) -> list[bytes]:
    """Wrong arity and junk arguments."""
    r = g.rng.random()
    if r < 0.35 and len(args) > 1:
        return args[:-1]
    if r < 0.5:
        return args[:1]
    if r < 0.8:
        return args + [g.pick([g.val(), b"abc", b"-1", b"XX", b"WITHSCORES", b"COUNT"])]
    if len(args) > 1:
        a = list(args)
        a[g.n(1, len(a) - 1)] = g.pick([b"", b"abc", b"-1", b"nan", BIG_INT])
        return a
    return args


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------
RAFTIS_OWN = re.compile(rb"raft\.(node|transfer-leader)")


def cmd_name(args) -> str:
    """The command's name as COMMAND LIST spells it, upper case ("CLIENT|ID"); "(UNKNOWN)" for a
    name no template knows."""
    name = lower(args[0]).decode(errors="replace")
    if len(args) > 1:
        full = f"{name}|{lower(args[1]).decode(errors='replace')}"
        if full in TEMPLATE_NAMES:
            return full.upper()
    return name.upper() if name in TEMPLATE_NAMES or name in BLOCK_NAMES else "(UNKNOWN)"


def pairs_of(f: Frame) -> list[tuple[bytes, bytes]] | None:
    """Field/value pairs of a map, a flat array, or an array of 2-arrays."""
    if f.t == "%":
        return [(k.raw, v.raw) for k, v in f.v]
    items = f.items()
    if items and all(e.t == "*" and e.v is not None and len(e.v) == 2 for e in items):
        return [(e.v[0].raw, e.v[1].raw) for e in items]
    if len(items) % 2:
        return None
    return [(items[i].raw, items[i + 1].raw) for i in range(0, len(items), 2)]


def multiset_equal(r: Frame, x: Frame, paired: bool) -> bool:
    if r.t != x.t:
        return False
    if r.t == "%":
        return Counter((k.raw, v.raw) for k, v in r.v) == Counter((k.raw, v.raw) for k, v in x.v)
    if r.v is None or x.v is None:
        return r.raw == x.raw
    if paired:
        pr, px = pairs_of(r), pairs_of(x)
        if pr is not None and px is not None:
            return Counter(pr) == Counter(px)
    return Counter(e.raw for e in r.v) == Counter(e.raw for e in x.v)


def canon_commands(f: Frame, subs: bool = True, keep=None) -> bytes:
    """COMMAND INFO / DOCS replies with every container's subcommands sorted (Redis keeps them
    in a dict, so their order is unspecified). Works for RESP2 (flat pairs) and RESP3 (maps).
    With `subs=False` a container's subcommands are left out: raftis lists only the subcommands
    it answers, so in the "subset" comparison a container is compared by its own fields. With
    `keep` (a set of full names such as "client|id"), only those subcommands are kept."""
    def kept(name: Frame) -> bool:
        return keep is None or (name.v or b"").decode(errors="replace").lower() in keep
    if f.t == "%":
        parts = []
        for k, v in f.v:
            if k.v == b"subcommands" and not subs:
                continue
            if k.v == b"subcommands":
                subs = v.v if v.t == "%" else list(zip(v.v[::2], v.v[1::2]))
                parts.append(k.raw + b"%" + b"".join(sorted(
                    canon_commands(Frame("*", list(p)), subs, keep) for p in subs if kept(p[0]))))
            else:
                parts.append(k.raw + canon_commands(v, keep=keep))
        return b"%" + b"".join(parts)
    if f.t in AGGREGATES and f.v is not None:
        items = f.v
        # a COMMAND INFO entry: [name, arity, flags, first, last, step, acl, tips, keys, subs]
        if len(items) == 10 and items[0].t == "$" and items[1].t == ":" and items[9].t == "*":
            head = b"".join(canon_commands(e, subs, keep) for e in items[:9])
            if not subs:
                return b"*C" + head
            return b"*C" + head + b"".join(sorted(
                canon_commands(e, keep=keep) for e in items[9].v if kept(e.v[0])))
        out = []
        i = 0
        while i < len(items):
            e = items[i]
            if e.t == "$" and e.v == b"subcommands" and i + 1 < len(items) \
                    and items[i + 1].t == "*":
                v = items[i + 1].v
                if not subs:
                    i += 2
                    continue
                out.append(e.raw + b"*" + b"".join(sorted(
                    canon_commands(Frame("*", [a, b]), keep=keep)
                    for a, b in zip(v[::2], v[1::2]) if kept(a))))
                i += 2
                continue
            out.append(canon_commands(e, subs, keep))
            i += 1
        return f.t.encode() + b"".join(out)
    return f.raw


def canon_messages(raws: list[bytes]) -> list:
    """A connection's pub/sub messages, each run of pmessages for the same published message
    sorted (see the "pmessages" difference)."""
    out, run, key = [], [], None
    for raw in raws:
        c = Conn.__new__(Conn)
        c.buf, c.pos = bytearray(raw), 0
        f = c._frame()
        k = (f.v[2].raw, f.v[3].raw) if f.v and len(f.v) == 4 and f.v[0].v == b"pmessage" \
            else None
        if k is None or k != key:
            out.extend(sorted(run))
            run = []
        key = k
        if k is None:
            out.append(raw)
        else:
            run.append(raw)
    return out + sorted(run)


def numeric(f: Frame):
    try:
        return int(f.v)
    except (TypeError, ValueError):
        return None


class Checker:
    """Compares one reply pair; may query (and, for SPOP, repair) the Redis side."""

    def __init__(self):
        self.property_checks = Counter()
        # Set by the Runner: commands spread over several raftis nodes.
        self.multi_node = False
        # Set per mode: the command names raftis lists (COMMAND LIST), subcommands included.
        self.listed: set[str] | None = None

    def compare(self, args, r: Frame, x: Frame, rconn: Conn | None, queued=None) -> str | None:
        if r.raw == x.raw:
            return None
        name = cmd_name(args)
        if name == "EXEC" and queued is not None and r.t == x.t and r.v is not None \
                and x.v is not None and len(r.v) == len(x.v) and len(r.v) == len(queued):
            for i, (qa, re_, xe) in enumerate(zip(queued, r.v, x.v)):
                why = self.compare(qa, re_, xe, None)
                if why:
                    return f"EXEC element {i + 1} ({cmd_name(qa)}): {why}"
            return None
        kind = "per_node" if self.multi_node and name in PER_NODE else KIND.get(name)
        if kind is None or r.is_error() or x.is_error():
            return "replies differ"
        self.property_checks[name] += 1
        if r.t != x.t:
            return "reply types differ"
        if kind in ("type", "per_node"):
            return None
        if kind == "hello":
            def masked(f):
                def hide(k, v):
                    return k.v == b"id" or (k.v == b"role" and v.v in (b"master", b"replica"))
                if f.t == "%":
                    return [(k.raw, b"" if hide(k, v) else v.raw) for k, v in f.v]
                it = f.items()
                return [b"" if i > 0 and hide(it[i - 1], e) else e.raw for i, e in enumerate(it)]
            return None if masked(r) == masked(x) else "HELLO replies differ beyond the id"
        if kind == "time":
            try:
                a, b = int(r.v[0].v), int(x.v[0].v)
                return None if abs(a - b) <= 2 else f"clocks {abs(a - b)} s apart"
            except (TypeError, ValueError, IndexError):
                return "TIME reply is not [seconds, microseconds]"
        if kind in ("tol1", "tol1000"):
            tol = 1000 if kind == "tol1000" else (2 if name == "OBJECT|IDLETIME" else 1)
            a, b = numeric(r), numeric(x)
            if a is None or b is None or (a < 0) != (b < 0) or (a < 0 and a != b):
                return "replies differ"
            return None if abs(a - b) <= tol else f"differ by {abs(a - b)} (tolerance {tol})"
        if kind == "unordered":
            return None if multiset_equal(r, x, name in ("HGETALL", "CONFIG|GET")) else \
                "replies differ as multisets"
        if kind == "scan":
            if not (r.t == "*" and len(r.v) == 2 and len(x.v) == 2 and x.v[1].t == r.v[1].t):
                return "SCAN reply shapes differ"
            if r.v[0].v == b"0" and x.v[0].v == b"0":
                return None if multiset_equal(r.v[1], x.v[1], name in ("HSCAN", "ZSCAN")) else \
                    "complete scans return different elements"
            return None
        if kind == "subset":
            if name == "COMMAND|COUNT":
                return None if 0 < int(x.v) <= int(r.v) else "more commands than Redis"
            if name in ("COMMAND|INFO", "COMMAND|DOCS") and len(args) > 2:
                # A container's subcommands that raftis does not list are left out of Redis's.
                keep = self.listed
                return None if canon_commands(r, keep=keep) == canon_commands(x, keep=keep) \
                    else "replies differ"
            if r.t == "%":
                rs = Counter(canon_commands(Frame("*", [k, v]), False) for k, v in r.v)
                xs = Counter(canon_commands(Frame("*", [k, v]), False) for k, v in x.v)
            elif name == "COMMAND|DOCS":
                rs = Counter(canon_commands(Frame("*", p), False) for p in zip(r.v[::2], r.v[1::2]))
                xs = Counter(canon_commands(Frame("*", p), False) for p in zip(x.v[::2], x.v[1::2]))
            else:
                rs = Counter(canon_commands(e, False) for e in r.items())
                xs = Counter(canon_commands(e, False) for e in x.items())
            extra = xs - rs
            # raftis's own commands (RAFT.NODE, RAFT.TRANSFER-LEADER) are not Redis's.
            for k in [k for k in extra if RAFTIS_OWN.search(k if isinstance(k, bytes) else str(k).encode())]:
                del extra[k]
            return None if not extra else \
                f"{len(extra)} entries Redis does not have, e.g. {esc(next(iter(extra)))[:300]}"
        if kind == "digest":
            return self.check_digest(args, r, x, rconn)
        if kind == "random":
            return self.check_random(name, args, r, x, rconn)
        return "replies differ"

    def compare_many(self, args, rr: list[Frame], xr: list[Frame]) -> str | None:
        """Commands with several replies (the subscribe family)."""
        if len(rr) == 1 or b"".join(f.raw for f in rr) == b"".join(f.raw for f in xr):
            return None
        name = cmd_name(args)
        if KIND.get(name) == "unsub" and len(args) == 1:
            self.property_checks[name] += 1
            def chans(fs):
                return Counter(f.v[1].raw for f in fs if f.v and len(f.v) == 3)
            def counts(fs):
                return [f.v[2].raw for f in fs if f.v and len(f.v) == 3]
            if chans(rr) == chans(xr) and counts(rr) == counts(xr) and \
                    all(f.t == g.t and f.v[0].raw == g.v[0].raw for f, g in zip(rr, xr)):
                return None
        return "replies differ"

    def check_digest(self, args, r: Frame, x: Frame, rconn: Conn | None) -> str | None:
        def hex40(f):
            return f.t in "+$" and f.v is not None and re.fullmatch(rb"[0-9a-f]{40}", f.v)
        sub = lower(args[1]) if len(args) > 1 else b""
        if sub == b"digest":
            if not hex40(x):
                return "not a digest"
            if rconn is None:
                return None
            rconn.send([b"INFO", b"keyspace"])
            info = rconn.read_replies(1)[0].v or b""
            if re.search(rb"expires=[1-9]", info):
                return None
            return "digests differ (and no key has a TTL)"
        if sub == b"digest-value" and r.t == x.t == "*" and len(r.v) == len(x.v):
            for k, re_, xe in zip(args[2:], r.v, x.v):
                if re_.raw == xe.raw:
                    continue
                if not hex40(xe):
                    return "not a digest"
                if rconn is None:
                    continue
                rconn.send([b"PTTL", k])
                if rconn.read_replies(1)[0].raw in (b":-1\r\n", b":-2\r\n"):
                    return f"digests of {esc(k)} differ (and it has no TTL)"
            return None
        return "replies differ"

    def check_random(self, name, args, r: Frame, x: Frame, rconn: Conn | None) -> str | None:
        if r.v is None or x.v is None:
            return "one reply is null"
        if r.t in "$":  # a single element
            if rconn is None:
                return None
            if name == "SPOP":
                return self.spop_fixup(args, [r], [x], rconn)
            if name == "RANDOMKEY":
                rconn.send([b"EXISTS", x.v])
            else:
                probe = {"SRANDMEMBER": b"SISMEMBER", "HRANDFIELD": b"HEXISTS",
                         "ZRANDMEMBER": b"ZSCORE"}[name]
                rconn.send([probe, args[1], x.v])
            got = rconn.read_replies(1)[0]
            return None if got.raw not in (b":0\r\n", b"$-1\r\n", b"_\r\n") and not got.is_error() \
                else f"{esc(x.v)} is not in the collection on Redis"
        rs, xs = r.items(), x.items()
        if len(rs) != len(xs):
            return f"counts differ: Redis {len(rs)}, raftis {len(xs)}"
        with_pairs = len(args) > 3 and lower(args[3]) in (b"withvalues", b"withscores")
        if with_pairs and x.t != "%":
            xp = pairs_of(x)
            if xp is None:
                return "bad pairs"
            elems = [p[0] for p in xp]
        else:
            xp = None
            elems = [e.raw for e in xs]
        count = numeric(Frame(":", args[2])) if len(args) > 2 else None
        if count is not None and count > 0 and len(set(elems)) != len(elems):
            return "repeated elements for a positive count"
        if name == "SPOP":
            return self.spop_fixup(args, rs, xs, rconn) if rconn else None
        if rconn is None:
            return None
        q = {"SRANDMEMBER": [b"SMEMBERS", args[1]], "HRANDFIELD": [b"HGETALL", args[1]],
             "ZRANDMEMBER": [b"ZRANGE", args[1], b"0", b"-1", b"WITHSCORES"]}[name]
        rconn.send(q)
        whole = rconn.read_replies(1)[0]
        if name == "SRANDMEMBER":
            universe = {e.raw for e in whole.items()}
            bad = [e for e in elems if e not in universe]
        else:
            wp = pairs_of(whole) or []
            if xp is not None:
                universe = set(wp)
                bad = [p for p in xp if p not in universe]
            else:
                universe = {p[0] for p in wp}
                bad = [e for e in elems if e not in universe]
        return None if not bad else f"{esc(repr(bad[0]).encode())} is not in the collection on Redis"

    def spop_fixup(self, args, rs: list[Frame], xs: list[Frame], rconn: Conn) -> str | None:
        """Makes Redis's set what raftis's is: put back what Redis popped, check raftis's
        choice was a member, remove it."""
        popped_r = [e.v for e in rs if e.v is not None]
        popped_x = [e.v for e in xs if e.v is not None]
        if popped_r:
            rconn.send([b"SADD", args[1]] + popped_r)
            rconn.read_replies(1)
        rconn.send([b"SMEMBERS", args[1]])
        members = {e.v for e in rconn.read_replies(1)[0].items()}
        bad = [m for m in popped_x if m not in members]
        if popped_x:
            rconn.send([b"SREM", args[1]] + popped_x)
            rconn.read_replies(1)
        if len(set(popped_x)) != len(popped_x):
            return "SPOP returned a member twice"
        return None if not bad else f"{esc(bad[0])} was not a member"


# --------------------------------------------------------------------------------------------
# Running sequences
# --------------------------------------------------------------------------------------------
def esc(b: bytes) -> str:
    out = []
    for c in b:
        ch = chr(c)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= c < 127:
            out.append(ch)
        else:
            out.append(f"\\x{c:02x}")
    return "".join(out)


def cli_arg(a: bytes) -> str:
    if a and re.fullmatch(rb"[A-Za-z0-9_.:{}*?\[\]^|+\-()=/<>,@#$%&!~]+", a) and b'"' not in a:
        return a.decode()
    return '"' + esc(a) + '"'


def cli_line(args) -> str:
    return " ".join(cli_arg(a if isinstance(a, bytes) else str(a).encode()) for a in args)


LEX_COMMANDS = {b"zrangebylex": 1, b"zrevrangebylex": 1, b"zlexcount": 1, b"zremrangebylex": 1,
                b"zrange": 1, b"zrangestore": 2}


def defined_lex_range(r: "Conn", args: list[bytes]) -> list[bytes]:
    """A lex range over a skiplist whose members have different scores is undefined in Redis
    (its answer depends on the random levels of the skiplist, so it changes from run to run):
    such a command is replaced by ZCARD of its key, on both servers. Checked on the Redis side
    before sending (not inside MULTI, where the state at EXEC is not known yet)."""
    name = lower(args[0])
    pos = LEX_COMMANDS.get(name)
    if pos is None or len(args) <= pos or r.multi or r.subscribed():
        return args
    if name in (b"zrange", b"zrangestore") and not any(lower(a) == b"bylex" for a in args):
        return args
    key = args[pos]
    r.send([b"OBJECT", b"ENCODING", key])
    enc = r.read_replies(1)[0]
    if enc.v != b"skiplist":
        return args
    r.send([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
    items = r.read_replies(1)[0]
    flat = items.items()
    # RESP2: member, score, member, score...; RESP3: [member, score] pairs.
    scores = {e.items()[1].raw for e in flat} if flat and flat[0].t == "*" else \
        {e.raw for e in flat[1::2]}
    return [b"ZCARD", key] if len(scores) > 1 else args


class Mismatch(Exception):
    def __init__(self, index, args, client, why, r: bytes, x: bytes):
        super().__init__(why)
        self.index, self.args, self.client, self.why, self.r, self.x = index, args, client, why, r, x


class Runner:
    def __init__(self, redis_port: int, raftis_ports: list[int], resp: int, checker: Checker):
        self.redis_port = redis_port
        self.raftis_ports = raftis_ports
        self.resp = resp
        self.checker = checker
        # A plain connection to redis-server for the checker's queries (and SPOP's repair)
        # on behalf of a subscribed client, whose own connection cannot take them.
        self._side: Conn | None = None
        self._side_db = 0
        checker.multi_node = len(raftis_ports) > 1
        self.counts = Counter()
        self.compared = 0

    def side(self, r: Conn) -> Conn:
        if self._side is None:
            self._side = Conn(self.redis_port)
            self._side_db = 0
        if self._side_db != r.db:
            self._side.send([b"SELECT", str(r.db).encode()])
            self._side.read_replies(1)
            self._side_db = r.db
        return self._side

    def _open(self, client: int) -> tuple[Conn, Conn]:
        r = Conn(self.redis_port)
        x = Conn(self.raftis_ports[client % len(self.raftis_ports)])
        if self.resp == 3:
            for c in (r, x):
                c.send([b"HELLO", b"3"])
            rr, xr = r.read_replies(1)[0], x.read_replies(1)[0]
            why = self.checker.compare([b"HELLO", b"3"], rr, xr, None)
            if why:
                raise Mismatch(-1, [b"HELLO", b"3"], client, why, rr.raw, xr.raw)
        return r, x

    def run(self, seq, count=True) -> None:
        """Raises Mismatch at the first difference."""
        nclients = max([c for c, _ in seq], default=0) + 1
        conns = []
        try:
            for c in range(nclients):
                conns.append(self._open(c))
            r0, x0 = conns[0]
            for c in (r0, x0):
                c.send([b"FLUSHALL"])
            rr, xr = r0.read_replies(1)[0], x0.read_replies(1)[0]
            if rr.raw != xr.raw:
                raise Mismatch(-1, [b"FLUSHALL"], 0, "FLUSHALL failed", rr.raw, xr.raw)
            for r, x in conns:
                for c in (r, x):
                    c.send([b"SELECT", b"0"])
                    c.read_replies(1)
            for i, (client, args) in enumerate(seq):
                r, x = conns[client]
                args = defined_lex_range(r, args)
                n = expected_replies(r, args)
                queued = list(r.queued) if r.multi else None
                watched = list(r.watched)
                r.send(args)
                rr = r.read_replies(n)
                update_session(r, args, rr)
                if lower(args[0]) == b"watch" and rr[0].raw == b"+OK\r\n":
                    watch_digests(r, args)
                try:
                    x.send(args)
                    xr = x.read_replies(n)
                except (OSError, RespError) as e:
                    raise Mismatch(i, args, client, f"raftis did not reply: {e}",
                                   b"".join(f.raw for f in rr), b"") from None
                update_session(x, args, xr)
                why = self.checker.compare_many(args, rr, xr)
                if why:
                    raise Mismatch(i, args, client, why, b"".join(f.raw for f in rr),
                                   b"".join(f.raw for f in xr))
                for rf, xf in zip(rr, xr) if len(rr) == 1 else ():
                    if lower(args[0]) == b"exec" and watched and rf.v is None and \
                            xf.t in AGGREGATES and xf.v is not None and \
                            watched_unchanged(r, watched):
                        # Documented difference W1: the watched keys were written but hold
                        # what they held (SET to the same value...): Redis aborts, raftis
                        # runs the transaction. Run it on Redis too and compare that.
                        self.checker.property_checks["EXEC (W1)"] += 1
                        r.send([b"MULTI"])
                        r.read_replies(1)
                        for q in queued or []:
                            r.send(q)
                            r.read_replies(1)
                        r.send([b"EXEC"])
                        rf = r.read_replies(1)[0]
                        rr = [rf]
                    rconn = None if r.multi else self.side(r) if r.subscribed() else r
                    why = self.checker.compare(args, rf, xf, rconn, queued)
                    if why:
                        raise Mismatch(i, args, client, why, b"".join(f.raw for f in rr),
                                       b"".join(f.raw for f in xr))
                if count:
                    self.compared += 1
                    self.counts[cmd_name(args)] += 1
                if lower(args[0]) == b"quit" and rr[0].raw == b"+OK\r\n":
                    r.close()
                    x.close()
                    conns[client] = self._open(client)
            for client, (r, x) in enumerate(conns):
                if not (r.ever_subscribed or x.ever_subscribed or r.messages or x.messages):
                    continue
                r.drain_messages(0.05)
                deadline = time.time() + 2.0
                while len(x.messages) < len(r.messages) and time.time() < deadline:
                    x.drain_messages(0.05)
                x.drain_messages(0.05)
                if canon_messages(r.messages) != canon_messages(x.messages):
                    raise Mismatch(len(seq) - 1, [b"(pub/sub messages received)"], client,
                                   "pub/sub messages differ", b"".join(r.messages),
                                   b"".join(x.messages))
        except (OSError, RespError) as e:
            raise Mismatch(-1, [b"(connection)"], 0, f"connection error: {e}", b"", b"") from None
        finally:
            for r, x in conns:
                r.close()
                x.close()
            if self._side is not None:
                self._side.close()
                self._side = None


def shrink(runner: Runner, seq, first: Mismatch):
    """Delta debugging (ddmin): the smallest sequence found that still fails on the same
    command name."""
    target = cmd_name(first.args)

    def fails(s):
        if not s:
            return None
        try:
            runner.run(s, count=False)
        except Mismatch as m:
            if cmd_name(m.args) == target:
                return m
        return None

    cur = seq[:first.index + 1] if first.index >= 0 else seq
    last = fails(cur)
    if last is None:
        return seq, first  # does not reproduce on fresh servers (timing?): report as found
    n = 2
    while len(cur) >= 2:
        chunk = max(1, len(cur) // n)
        reduced = False
        for start in range(0, len(cur), chunk):
            cand = cur[:start] + cur[start + chunk:]
            m = fails(cand)
            if m:
                cur, last, reduced = cand, m, True
                n = max(n - 1, 2)
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(cur), n * 2)
    return cur, last


def short(b: bytes, limit: int = 700) -> str:
    e = esc(b)
    return e + '"' if len(e) <= limit else e[:limit] + f'"... ({len(b)} bytes)'


def print_mismatch(seed, mode, resp, seq, m: Mismatch, nodes):
    print(f"\nMISMATCH seed={seed} mode={mode} resp={resp}: {m.why}")
    print(f"minimal sequence ({len(seq)} commands; [client@node]):")
    for c, args in seq:
        tag = f"[c{c}@n{c % nodes + 1}] " if mode == 3 or len({cc for cc, _ in seq}) > 1 else ""
        print(f"  {tag}{cli_line(args)}")
    print(f"  redis-server: \"{short(m.r)}")
    print(f"  raftis:       \"{short(m.x)}")
    print(f"  reproduce: python3 redis-tests/difftest.py --seeds {seed} --mode {mode} --resp {resp}")


# --------------------------------------------------------------------------------------------
def parse_seeds(s: str) -> list[int]:
    out = []
    for part in s.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        else:
            out.append(int(part))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-199", help="e.g. 0-199 or 5,7,10-12 (default 0-199)")
    ap.add_argument("--length", type=int, default=100, help="commands per sequence (default 100)")
    ap.add_argument("--mode", default="both", choices=["1", "3", "both"],
                    help="raftis as one node, three nodes, or both (default both)")
    ap.add_argument("--resp", default="both", choices=["2", "3", "both"])
    ap.add_argument("--raftis", default=os.environ.get("RAFTIS_BIN",
                                                      os.path.join(ROOT, "target/debug/raftis")))
    ap.add_argument("--redis-port", type=int, help="use a running redis-server (it is FLUSHALLed)")
    ap.add_argument("--raftis-ports", help="use running raftis nodes, e.g. 7001 or 7001,7002,7003")
    ap.add_argument("--self-test", action="store_true",
                    help="compare redis-server with a second redis-server over every template: "
                         "proves the generator and the DIFFERENCES rules raise no false alarms")
    ap.add_argument("--no-known", action="store_true",
                    help="also generate the commands of known raftis bugs (KNOWN table)")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--keep-going", action="store_true",
                    help="go on after a mismatch (default: stop at the first)")
    ap.add_argument("--write-differences", action="store_true",
                    help="write redis-tests/DIFFERENCES.md from the table and exit")
    ap.add_argument("--print", dest="print_seq", action="store_true",
                    help="print the generated sequences instead of running them")
    a = ap.parse_args(argv)

    if a.write_differences:
        with open(os.path.join(HERE, "DIFFERENCES.md"), "w") as f:
            f.write(differences_markdown())
        print("wrote redis-tests/DIFFERENCES.md")
        return 0

    seeds = parse_seeds(a.seeds)
    modes = [1, 3] if a.mode == "both" else [int(a.mode)]
    resps = [2, 3] if a.resp == "both" else [int(a.resp)]
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="raftis-difftest-")
    Procs.dirs.append(tmp)

    if not a.raftis_ports and not a.self_test and not os.access(a.raftis, os.X_OK):
        print(f"raftis binary not found at {a.raftis} (cargo build, or --raftis/$RAFTIS_BIN)")
        return 2
    redis_port = a.redis_port or start_redis(tmp)
    given = [int(p) for p in a.raftis_ports.split(",")] if a.raftis_ports else None

    checker = Checker()
    total = Counter()
    compared = 0
    sequences = 0
    failures = 0
    skipped_printed = False
    known_skipped = Counter()
    for mode in modes:
        if given and len(given) != mode:
            continue
        if a.self_test:
            other = start_redis(tmp)
            ports = [other] * mode
        else:
            ports = given or start_raftis(a.raftis, tmp, mode)
        listed_reply = one_shot(ports[0], "COMMAND", "LIST")
        listed = {e.v.decode().lower() for e in listed_reply.items()}
        checker.listed = listed
        gen = Generator(listed, use_known=not (a.no_known or a.self_test), skipped=known_skipped)
        if not skipped_printed:
            print(f"raftis lists {len(listed)} commands; templates used: "
                  f"{len(gen.templates) - 1} of {len(T) - 1}")
            print(f"skipped (not listed by raftis yet): {' '.join(gen.skipped) or '(none)'}")
            if gen.skipped_blocks:
                print(f"skipped blocks: {' '.join(gen.skipped_blocks)}")
            skipped_printed = True
        for resp in resps:
            runner = Runner(redis_port, ports, resp, checker)
            t_mode = time.time()
            for seed in seeds:
                seq = gen.sequence(seed, a.length, 3 if mode == 3 else 1)
                if a.print_seq:
                    for c, args in seq:
                        print(f"[c{c}] {cli_line(args)}")
                    continue
                sequences += 1
                try:
                    runner.run(seq)
                except Mismatch as m:
                    failures += 1
                    small, m2 = (seq, m) if a.no_shrink else shrink(runner, seq, m)
                    print_mismatch(seed, mode, resp, small, m2, mode)
                    if not a.keep_going:
                        break
            compared += runner.compared
            total.update(runner.counts)
            print(f"mode {mode} resp {resp}: {len(seeds)} seeds, {runner.compared} commands, "
                  f"{time.time() - t_mode:.1f}s")
            if failures and not a.keep_going:
                break
        if failures and not a.keep_going:
            break

    print(f"\ncompared {sequences} sequences, {compared} commands "
          f"({len(total)} distinct) in {time.time() - t0:.1f}s")
    print("per command: " + ", ".join(f"{k}={v}" for k, v in sorted(total.items())))
    if checker.property_checks:
        print("compared by property (DIFFERENCES): " +
              ", ".join(f"{k}={v}" for k, v in sorted(checker.property_checks.items())))
    if KNOWN:
        print(f"\nknown raftis bugs ({'not generated' if not a.no_known else 'generated'}):")
        for kid, names, _, repro, what in KNOWN:
            n = known_skipped[kid]
            print(f"  {kid} [{' '.join(esc(n.upper().encode()) or '(empty)' for n in names)}] {what}" +
                  (f" ({n} commands not generated)" if n else "") + f"\n      {repro}")
    if failures:
        print(f"\nFAILED: {failures} mismatching sequence(s)")
        return 1
    print("\nOK: every reply matched")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
