#!/usr/bin/env python3
"""Record redis-server's replies into the command test scripts (testdata/*.txt).

Each line of a script is `COMMAND arg... => expected reply`. This tool sends every command to a
real redis-server (7.0) and rewrites the part after `=>` with what it answered, so the expected
replies in the tests are Redis's, not ours. The Rust test (`command::tests`) runs the same lines
against raftis and compares.

    redis-server --port 0 --unixsocket /tmp/rec.sock --save '' --enable-debug-command yes &
    python3 src/command/testdata/record.py /tmp/rec.sock [script.txt...]

Syntax shared with the Rust side:
- `#` starts a comment line; blank lines are kept.
- arguments are split on spaces; "double quoted" arguments may contain spaces and the escapes
  \\" \\\\ \\n \\r \\t \\xHH.
- `@advance N` sleeps N ms here and advances raftis's clock by N ms there.
- replies render as +status, -error, :int, "bulk", (nil), (nilarray), [a, b].
"""

import glob
import os
import socket
import sys
import time


def tokenize(line):
    out, i, n = [], 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        if line[i] == '"':
            i += 1
            buf = bytearray()
            while line[i] != '"':
                c = line[i]
                if c == "\\":
                    e = line[i + 1]
                    if e == "x":
                        buf.append(int(line[i + 2:i + 4], 16))
                        i += 4
                        continue
                    buf += {"n": b"\n", "r": b"\r", "t": b"\t", '"': b'"', "\\": b"\\"}[e]
                    i += 2
                    continue
                buf += c.encode()
                i += 1
            out.append(bytes(buf))
            i += 1
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            out.append(line[i:j].encode())
            i = j
    return out


def render_bytes(b):
    out = '"'
    for c in b:
        ch = chr(c)
        if ch == '"':
            out += '\\"'
        elif ch == "\\":
            out += "\\\\"
        elif ch == "\n":
            out += "\\n"
        elif ch == "\r":
            out += "\\r"
        elif ch == "\t":
            out += "\\t"
        elif 0x20 <= c < 0x7F:
            out += ch
        else:
            out += "\\x%02x" % c
    return out + '"'


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        """One RESP2 reply, rendered."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return "+" + rest.decode()
        if kind == b"-":
            return "-" + rest.decode()
        if kind == b":":
            return ":" + rest.decode()
        if kind == b"$":
            n = int(rest)
            return "(nil)" if n < 0 else render_bytes(self._take(n))
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return "(nilarray)"
            return "[" + ", ".join(self.read() for _ in range(n)) + "]"
        raise RuntimeError("unexpected reply type %r" % kind)

    def call(self, args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()


def record(conn, path):
    conn.call([b"FLUSHALL"])
    conn.call([b"SELECT", b"0"])
    lines = open(path).read().split("\n")
    out = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            out.append(line)
            continue
        if stripped.startswith("@advance "):
            time.sleep(int(stripped.split()[1]) / 1000.0)
            out.append(stripped)
            continue
        cmd = stripped.split(" => ")[0].rstrip()
        reply = conn.call(tokenize(cmd))
        out.append("%s => %s" % (cmd, reply))
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    sock = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sys.argv[2:] or sorted(glob.glob(os.path.join(here, "*.txt")))
    conn = Conn(sock)
    for p in paths:
        record(conn, p)
        print("recorded", p)


if __name__ == "__main__":
    main()
