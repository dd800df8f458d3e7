#!/usr/bin/env python3
"""A seeded sample of INCRBYFLOAT operands, for checking raftis's 80-bit long double emulation
(src/longdouble.rs) against redis-server 7.0 on x86-64.

    # write the sample as a command script (expected replies left empty), then record them:
    python3 src/command/testdata/incrbyfloat.py script 2000 1 > src/command/testdata/incrbyfloat.txt
    python3 src/command/testdata/record.py /tmp/rec.sock src/command/testdata/incrbyfloat.txt

    # compare two live servers on a larger sample (e.g. redis-server and raftis), any seed:
    python3 src/command/testdata/incrbyfloat.py compare /tmp/rec.sock 127.0.0.1:7000 100000 7

The operands mix the shapes that stress parsing, rounding and printing: integers of every size,
short and long decimals, scientific notation across the whole exponent range (subnormals and
the largest values included), hexadecimal floats, exact binary fractions that tie at the 17th
decimal, near-cancellations, and strings Redis refuses.
"""

import random
import socket
import sys

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

SPECIAL = [
    "0", "-0", "+0", "0.0", "-0.0", "1", "-1", "+1", ".5", "5.", "-.5", "1.e3", "1e+3", "1E-3",
    "inf", "-inf", "+inf", "Infinity", "-INFINITY", "nan", "-nan", "NaN", "nan(1)", "infinit",
    "", " 1", "1 ", "\t1", "1\n", "abc", "1a", "1e", "1e+", "e1", ".", "-", "+", "--1", "+-1",
    "1..2", "1,5", "0x", "0x.", "0x.p1", "0x1p", "0x1P-3", "0X.8", "0x1.8p1", "0xABCDEFp-20",
    "1e-4950", "-1e-4950", "1e-4952", "1e-5000", "1.18973149535723176509e4932", "1e5000",
    "3.6451995318824746025e-4951", "1.9e-4951", "1.8e-4951", "3.3621031431120935063e-4932",
    "0x1p-16445", "0x1p-16446", "0x1p16384", "5e-18", "6e-18", "-5e-18",
    "1.5e-17", "2.5e-17", "0x1p-18", "0x3p-19", "9223372036854775807", "-9223372036854775808",
    "18446744073709551615", "18446744073709551616", "18446744073709551617",
    "36893488147419103231", "0.30000000000000000", "0.1", "0.2", "0.3", "0.7", "1.1", "3.14",
]

# Long operands (near Redis's 5120-byte limit, or printing thousands of digits): each is
# tried once as a value and once as an increment, not drawn at random.
LONG = [
    "0." + "0" * 5000 + "1", "1" + "0" * 4000, "0" * 5119, "0" * 5118 + "1", "1" * 5119,
    "1" * 5120, "1e4931", "0x1p16383", "-1e4931", "1e4932", "1.18973149535723176502e4932",
    "-1.18973149535723176502e4932",
]


def digits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def sign(rng):
    return rng.choice(["", "", "", "-", "+"]) if rng.random() < 0.5 else ""


def halfway(rng):
    """The exact decimal of a point halfway between two neighbouring 80-bit values, or a hair
    above or below it: only a correctly rounded parse gets these right."""
    m = rng.randrange(2 ** 63, 2 ** 64)
    e = rng.randint(-80, 40) if rng.random() < 0.85 else rng.randint(-4000, 200)
    num = 2 * m + 1  # value = num * 2^(e-1)
    nudge = rng.randrange(3)
    if e - 1 >= 0:
        v = num << (e - 1)
        return [str(v), "%d.0000001" % v, "%d.9999999" % (v - 1)][nudge]
    k = 1 - e
    d = str(num * 5 ** k).rjust(k + 1, "0")
    text = d[:-k] + "." + d[-k:]
    if nudge == 1:
        text += "0000001"
    elif nudge == 2:
        # Just below: the last digit of a halfway point's decimals is 5.
        text = text[:-1] + "49999999"
    return text


def operand(rng):
    kind = rng.randrange(13)
    if kind == 12:
        return sign(rng) + halfway(rng)
    s = sign(rng)
    if kind == 0:
        return s + str(rng.randint(0, 10 ** rng.randint(1, 7)))
    if kind == 1:
        return s + str(rng.randint(0, 2 ** rng.randint(60, 130)))
    if kind == 2:
        k = rng.randint(1, 8)
        return s + str(rng.randint(0, 10 ** rng.randint(0, 6))) + "." + digits(rng, k)
    if kind == 3:
        n = rng.randint(15, 40)
        d = digits(rng, n)
        p = rng.randint(0, n)
        return s + d[:p] + "." + d[p:]
    if kind == 4:
        m = digits(rng, rng.randint(1, 21))
        if len(m) > 1 and rng.random() < 0.5:
            m = m[0] + "." + m[1:]
        e = rng.choice([rng.randint(-30, 30), rng.randint(-400, 400), rng.randint(-4960, 4935)])
        return s + m + rng.choice("eE") + str(e)
    if kind == 5:
        h = "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(rng.randint(1, 24)))
        if rng.random() < 0.5:
            p = rng.randint(0, len(h))
            h = h[:p] + "." + h[p:]
        if h == ".":
            h = "1"
        e = "p%d" % rng.randint(-16500, 16400) if rng.random() < 0.3 else (
            "p%d" % rng.randint(-80, 80) if rng.random() < 0.7 else "")
        return s + "0x" + h + e
    if kind == 6:
        # An exact binary fraction: its decimal expansion is finite, and many tie at 17 decimals.
        k = rng.randint(1, 80)
        m = rng.randint(1, 2 ** rng.randint(1, 64))
        q, r = divmod(m * 10 ** k, 2 ** k)
        assert r == 0
        ip, fp = divmod(q, 10 ** k)
        return s + "%d.%0*d" % (ip, k, fp)
    if kind == 7:
        return s + rng.choice(["1", "2", "3", "4", "5", "6", "7", "8", "9"]) + "e-" + str(
            rng.randint(15, 20))
    if kind == 8:
        return rng.choice(SPECIAL)
    if kind == 9:
        return s + "0." + digits(rng, rng.randint(1, 30))
    if kind == 10:
        return s + str(rng.randint(0, 999)) + "." + digits(rng, rng.randint(15, 25))
    return s + digits(rng, rng.randint(1, 3)) + "." + digits(rng, rng.randint(1, 3))


def negate(x):
    if x.startswith("-"):
        return x[1:]
    if x.startswith("+"):
        return "-" + x[1:]
    return "-" + x


def pair(rng):
    if rng.random() < 0.1:
        # Plus zero: the reply shows how the operand itself was parsed.
        return operand(rng), "0"
    if rng.random() < 0.1:
        a = operand(rng)
        b = negate(a)
        if len(b) > 1 and rng.random() < 0.7 and b[-1].isdigit():
            b = b[:-1] + rng.choice("0123456789")
        return a, b
    return operand(rng), operand(rng)


def quote(arg):
    out = '"'
    for ch in arg:
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
        else:
            out += ch
    return out + '"'


def script(n, seed):
    rng = random.Random(seed)
    print("# INCRBYFLOAT on a seeded sample (incrbyfloat.py script %d %d); replies recorded from"
          % (n, seed))
    print("# redis-server 7.0.15 on x86-64 (80-bit long double).")
    for _ in range(n):
        a, b = pair(rng)
        print("SET f %s => ?" % quote(a))
        print("INCRBYFLOAT f %s => ?" % quote(b))
    print("# Long operands.")
    for x in LONG:
        print("SET f %s => ?" % quote(x))
        print("INCRBYFLOAT f 1 => ?")
        print("SET f 1 => ?")
        print("INCRBYFLOAT f %s => ?" % quote(x))
    print("# Accumulated rounding: the same key incremented many times.")
    for _ in range(10):
        print("DEL f => ?")
        inc = operand(rng)
        for _ in range(20):
            print("INCRBYFLOAT f %s => ?" % quote(inc))


class Conn:
    def __init__(self, addr):
        if ":" in addr:
            host, port = addr.rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)))
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(addr)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.buf += data
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def _reply(self):
        line = self._line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return line

    def pipeline(self, cmds):
        out = b""
        for args in cmds:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a.encode() if isinstance(a, str) else a
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return [self._reply() for _ in cmds]


def compare(a_addr, b_addr, n, seed):
    rng = random.Random(seed)
    a, b = Conn(a_addr), Conn(b_addr)
    bad = 0
    done = 0
    while done < n:
        batch = [pair(rng) for _ in range(min(500, n - done))]
        cmds = []
        for x, y in batch:
            cmds += [["SET", "incrbyfloat:cmp", x], ["INCRBYFLOAT", "incrbyfloat:cmp", y]]
        ra, rb = a.pipeline(cmds), b.pipeline(cmds)
        for i, (x, y) in enumerate(batch):
            if ra[2 * i + 1] != rb[2 * i + 1]:
                bad += 1
                if bad <= 20:
                    print("DIFF %r + %r: %r vs %r" % (x, y, ra[2 * i + 1], rb[2 * i + 1]))
        done += len(batch)
    print("%d cases, %d differences" % (n, bad))
    return bad


def main():
    mode = sys.argv[1]
    if mode == "script":
        script(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "compare":
        sys.exit(1 if compare(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])) else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
