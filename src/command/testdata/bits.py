#!/usr/bin/env python3
"""Write bits.txt: the bitmap commands' errors, limits and edge cases by hand, then a seeded
sample of random bit commands over a few short keys (ranges in BYTE and BIT units, every
BITFIELD type and overflow mode), each followed by a GET of the key it wrote. Record the replies
with record.py:

    python3 src/command/testdata/bits.py 600 1 > src/command/testdata/bits.txt
    python3 src/command/testdata/record.py /tmp/rec.sock src/command/testdata/bits.txt
"""

import random
import sys

HAND = """\
# SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO (bitops.c). Replies recorded from
# redis-server 7.0.
SETBIT b 7 1 => ?
SETBIT b 7 1 => ?
SETBIT b 7 0 => ?
GET b => ?
OBJECT ENCODING b => ?
SETBIT b 0 1 => ?
SETBIT b 17 1 => ?
GET b => ?
STRLEN b => ?
GETBIT b 0 => ?
GETBIT b 1 => ?
GETBIT b 17 => ?
GETBIT b 100000 => ?
GETBIT nokey 0 => ?
GETBIT b -1 => ?
GETBIT b abc => ?
GETBIT b 4294967295 => ?
GETBIT b 4294967296 => ?
GETBIT nokey 4294967296 => ?
SETBIT b -1 1 => ?
SETBIT b abc 1 => ?
SETBIT b 4294967296 1 => ?
SETBIT b 9223372036854775807 1 => ?
SETBIT b 1 2 => ?
SETBIT b 1 -1 => ?
SETBIT b 1 abc => ?
SETBIT b 1 "" => ?
SETBIT b abc abc => ?
SETBIT b 1 => ?
GETBIT b => ?
# an integer-encoded string is read as its digits, and SETBIT makes it raw
SET n 12 => ?
OBJECT ENCODING n => ?
GETBIT n 2 => ?
GETBIT n 3 => ?
BITCOUNT n => ?
SETBIT n 7 0 => ?
GET n => ?
OBJECT ENCODING n => ?
# SETBIT keeps the TTL
SET t abc EX 1000 => ?
SETBIT t 100 1 => ?
TTL t => ?
# the last bit the 512 MB limit allows, then one past it
SETBIT big 4294967295 1 => ?
STRLEN big => ?
GETBIT big 4294967295 => ?
BITPOS big 1 -1 => ?
BITPOS big 1 -1 -1 BIT => ?
BITCOUNT big -1 -1 => ?
SETBIT big 4294967296 1 => ?
SETRANGE big 536870911 x => ?
SETRANGE big 536870912 x => ?
DEL big => ?
SETRANGE big 536870911 x => ?
STRLEN big => ?
DEL big => ?
# WRONGTYPE, after the argument checks
RPUSH l a => ?
SETBIT l 0 1 => ?
SETBIT l -1 1 => ?
SETBIT l 0 5 => ?
GETBIT l 0 => ?
GETBIT l -1 => ?
BITCOUNT l => ?
BITCOUNT l a b => ?
BITPOS l 1 => ?
BITPOS l 5 => ?
BITOP AND d l => ?
BITOP AND d s l => ?
BITFIELD l GET u8 0 => ?
BITFIELD l => ?
BITFIELD l SET u8 0 1 => ?
BITFIELD l SET u88 0 1 => ?
BITFIELD_RO l GET u8 0 => ?
BITFIELD_RO l SET u8 0 1 => ?
# BITCOUNT: the key is looked up first (a missing key is 0 whatever follows)
SET s foobar => ?
BITCOUNT s => ?
BITCOUNT s 0 0 => ?
BITCOUNT s 1 1 => ?
BITCOUNT s 0 -1 => ?
BITCOUNT s -2 -1 => ?
BITCOUNT s -1 -2 => ?
BITCOUNT s 5 2 => ?
BITCOUNT s 100 200 => ?
BITCOUNT s -100 100 => ?
BITCOUNT s 1 1 BYTE => ?
BITCOUNT s 5 30 BIT => ?
BITCOUNT s 5 30 bit => ?
BITCOUNT s 0 -1 BIT => ?
BITCOUNT s -1 -1 BIT => ?
BITCOUNT s -9 -1 BIT => ?
BITCOUNT s 3 3 BIT => ?
BITCOUNT s 7 8 BIT => ?
BITCOUNT s 47 47 BIT => ?
BITCOUNT s 48 100 BIT => ?
BITCOUNT s -9223372036854775808 9223372036854775807 BIT => ?
BITCOUNT s 0 -1 BAD => ?
BITCOUNT s 0 => ?
BITCOUNT s a b => ?
BITCOUNT s 0 b => ?
BITCOUNT s 0 1 BIT x => ?
BITCOUNT nokey => ?
BITCOUNT nokey 0 => ?
BITCOUNT nokey a b c d => ?
BITCOUNT => ?
SET e "" => ?
BITCOUNT e => ?
BITCOUNT e 0 -1 => ?
BITCOUNT e 0 -1 BIT => ?
# BITPOS: the bit argument is read first, then the key
SET p "\\xff\\xf0\\x00" => ?
BITPOS p 0 => ?
BITPOS p 1 => ?
BITPOS p 1 2 => ?
BITPOS p 0 0 0 => ?
BITPOS p 0 0 => ?
BITPOS p 1 2 -1 BYTE => ?
BITPOS p 0 7 15 BIT => ?
BITPOS p 0 3 11 BIT => ?
BITPOS p 0 8 11 BIT => ?
BITPOS p 0 12 13 BIT => ?
BITPOS p 1 7 15 BIT => ?
BITPOS p 1 17 23 BIT => ?
BITPOS p 0 0 7 BIT => ?
BITPOS p 0 0 -1 BIT => ?
BITPOS p 1 -1 -1 => ?
BITPOS p 1 -5 -3 => ?
BITPOS p 0 5 2 => ?
BITPOS p 1 9 BIT => ?
BITPOS p 0 9 BIT => ?
BITPOS p 0 100 => ?
SET ones "\\xff\\xff" => ?
BITPOS ones 0 => ?
BITPOS ones 0 0 => ?
BITPOS ones 0 0 -1 => ?
BITPOS ones 0 0 BIT => ?
BITPOS ones 0 3 BIT => ?
BITPOS ones 0 3 -1 BIT => ?
BITPOS ones 1 3 BIT => ?
BITPOS e 0 => ?
BITPOS e 1 => ?
BITPOS e 0 0 -1 BIT => ?
BITPOS nokey 0 => ?
BITPOS nokey 1 => ?
BITPOS nokey 0 5 10 BIT => ?
BITPOS nokey 1 a b c => ?
BITPOS nokey 2 => ?
BITPOS nokey -1 => ?
BITPOS nokey abc => ?
BITPOS p 2 => ?
BITPOS p 1 a => ?
BITPOS p 1 0 a => ?
BITPOS p 1 0 a BAD => ?
BITPOS p 1 0 1 BAD => ?
BITPOS p 1 0 1 BIT x => ?
BITPOS p => ?
# BITOP
SET k1 foobar => ?
SET k2 abcdef => ?
SET k3 "\\xff" => ?
BITOP AND dest k1 k2 => ?
GET dest => ?
OBJECT ENCODING dest => ?
BITOP OR dest k1 k2 k3 => ?
GET dest => ?
BITOP XOR dest k1 k2 k3 => ?
GET dest => ?
BITOP AND dest k1 k3 => ?
GET dest => ?
BITOP AND dest k1 nokey => ?
GET dest => ?
BITOP NOT dest k3 => ?
GET dest => ?
BITOP NOT dest k1 => ?
GET dest => ?
BITOP not dest k1 k2 => ?
BITOP NOT dest => ?
BITOP NAND dest k1 => ?
BITOP "and\\x00x" dest k1 => ?
BITOP or dest k1 => ?
GET dest => ?
EXPIRE dest 1000 => ?
BITOP OR dest k1 => ?
TTL dest => ?
BITOP OR dest nokey nokey2 => ?
EXISTS dest => ?
BITOP NOT dest nokey => ?
RPUSH dl a => ?
BITOP XOR dl k1 => ?
TYPE dl => ?
BITOP AND k1 k1 k2 => ?
GET k1 => ?
SET n 255 => ?
BITOP NOT dest n => ?
GET dest => ?
BITOP => ?
BITOP AND => ?
BITOP AND dest => ?
# BITFIELD
BITFIELD bf SET i8 0 100 GET i8 0 INCRBY i8 0 100 => ?
GET bf => ?
OBJECT ENCODING bf => ?
BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1 => ?
BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1 => ?
BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1 => ?
BITFIELD bf OVERFLOW FAIL INCRBY u2 102 1 => ?
BITFIELD bf overflow wrap incrby i5 3 -100 overflow sat incrby i5 3 -100 => ?
BITFIELD bf GET u8 #0 GET u8 #1 GET i4 #3 SET u8 #1 200 GET u8 8 => ?
BITFIELD bf GET u63 0 GET i64 0 GET i64 1 GET u1 7 GET i1 7 => ?
BITFIELD bf SET i64 0 -1 GET u63 0 GET u63 1 GET i64 0 => ?
BITFIELD bf SET i64 0 9223372036854775807 INCRBY i64 0 1 => ?
BITFIELD bf OVERFLOW SAT SET i64 0 9223372036854775807 INCRBY i64 0 1 INCRBY i64 0 -9223372036854775808 => ?
BITFIELD bf OVERFLOW FAIL SET i64 0 9223372036854775807 INCRBY i64 0 1 => ?
BITFIELD bf OVERFLOW SAT SET i8 0 -9223372036854775808 SET i8 0 -1000 SET i8 0 1000 GET i8 0 => ?
BITFIELD bf OVERFLOW WRAP SET i8 0 -9223372036854775808 SET i8 0 -1000 SET i8 0 1000 => ?
BITFIELD bf OVERFLOW FAIL SET i8 0 -129 SET i8 0 128 SET u8 0 256 SET u8 0 -1 GET u8 0 => ?
BITFIELD bf OVERFLOW SAT SET u8 0 -1 SET u8 0 256 SET u8 0 9223372036854775807 GET u8 0 => ?
BITFIELD bf OVERFLOW SAT INCRBY u63 0 9223372036854775807 INCRBY u63 0 -9223372036854775808 => ?
BITFIELD bf OVERFLOW WRAP INCRBY u63 0 9223372036854775807 INCRBY u63 0 1 INCRBY u63 0 -9223372036854775808 => ?
BITFIELD bf OVERFLOW WRAP INCRBY u8 0 9223372036854775807 INCRBY u8 0 -9223372036854775808 => ?
BITFIELD bf OVERFLOW WRAP INCRBY i8 0 9223372036854775807 INCRBY i8 0 -9223372036854775808 => ?
BITFIELD bf OVERFLOW SAT INCRBY i8 0 9223372036854775807 INCRBY i8 0 -9223372036854775808 => ?
BITFIELD bf GET i8 1000 GET u16 #1000 => ?
BITFIELD bf => ?
BITFIELD nokey GET u8 0 => ?
EXISTS nokey => ?
BITFIELD fail OVERFLOW FAIL INCRBY u8 16 1000 => ?
GET fail => ?
BITFIELD bf GET u64 0 => ?
BITFIELD bf GET i65 0 => ?
BITFIELD bf GET u0 0 => ?
BITFIELD bf GET x8 0 => ?
BITFIELD bf GET I8 0 => ?
BITFIELD bf GET i08 0 => ?
BITFIELD bf GET "" 0 => ?
BITFIELD bf GET "i8\\x00junk" 0 => ?
BITFIELD bf GET i8 -1 => ?
BITFIELD bf GET i8 #-1 => ?
BITFIELD bf GET i8 # => ?
BITFIELD bf GET i8 abc => ?
BITFIELD bf GET i8 4294967295 => ?
BITFIELD bf GET i8 4294967296 => ?
BITFIELD bf GET i64 #67108863 => ?
BITFIELD bf GET i64 #67108864 => ?
BITFIELD bf GET i8 #2305843009213693953 => ?
BITFIELD bf SET i8 0 abc => ?
BITFIELD bf INCRBY i8 0 1.5 => ?
BITFIELD bf SET i8 0 => ?
BITFIELD bf GET i8 => ?
BITFIELD bf INCRBY i8 0 => ?
BITFIELD bf OVERFLOW => ?
BITFIELD bf OVERFLOW BAD GET i8 0 => ?
BITFIELD bf OVERFLOW fail GET i8 0 => ?
BITFIELD bf GET i8 0 BAD => ?
BITFIELD bf GET i8 0 SET i8 0 abc => ?
BITFIELD bf SET i8 0 1 GET x8 0 => ?
BITFIELD bf SET i8 0 1 GET i8 0 SET => ?
BITFIELD => ?
SET t2 abc EX 1000 => ?
BITFIELD t2 SET u8 100 255 => ?
TTL t2 => ?
STRLEN t2 => ?
BITFIELD edge SET i8 4294967288 -1 => ?
STRLEN edge => ?
BITFIELD edge SET i64 4294967295 -1 => ?
STRLEN edge => ?
BITFIELD edge GET u8 4294967288 => ?
DEL edge => ?
# BITFIELD_RO
BITFIELD_RO bf GET u8 0 GET i4 #1 => ?
BITFIELD_RO bf => ?
BITFIELD_RO nokey GET u8 0 => ?
BITFIELD_RO bf GET u8 0 SET u8 0 1 => ?
BITFIELD_RO bf INCRBY u8 0 1 => ?
BITFIELD_RO nokey SET u8 0 1 => ?
BITFIELD_RO bf SET u8 0 abc => ?
BITFIELD_RO bf OVERFLOW FAIL GET u8 0 => ?
BITFIELD_RO bf GET u64 0 => ?
BITFIELD_RO => ?
"""

KEYS = ["a", "b", "c"]
VALUES = ["", "x", "\\xff", "\\x00", "ab", "\\x0f\\xf0", "foobar", "\\xaa\\x55\\xaa\\x55\\xaa",
          "123", "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x01"]
INTS = ["0", "1", "2", "3", "5", "7", "8", "9", "15", "16", "-1", "-2", "-3", "-8", "-9",
        "-16", "-100", "100"]
TYPES = ["i1", "i3", "i7", "i8", "i9", "i16", "i31", "i63", "i64", "u1", "u3", "u8", "u9",
         "u16", "u32", "u63"]
FOFFS = ["0", "1", "3", "5", "7", "8", "11", "13", "40", "63", "#0", "#1", "#2"]
FVALS = ["0", "1", "-1", "3", "7", "100", "-100", "127", "128", "-129", "255", "256",
         "65535", "9223372036854775807", "-9223372036854775808", "4611686018427387904"]


def one(rng):
    k = rng.choice(KEYS)
    r = rng.random()
    if r < 0.12:
        return [f'SET {k} "{rng.choice(VALUES)}"']
    if r < 0.2:
        return [f"SETBIT {k} {rng.randint(0, 80)} {rng.randint(0, 1)}", f"GET {k}"]
    if r < 0.27:
        return [f"GETBIT {k} {rng.randint(0, 80)}"]
    if r < 0.4:
        unit = rng.choice(["", " BYTE", " BIT", " BIT"])
        return [f"BITCOUNT {k} {rng.choice(INTS)} {rng.choice(INTS)}{unit}"]
    if r < 0.58:
        bit = rng.randint(0, 1)
        rest = rng.choice([
            "", f" {rng.choice(INTS)}", f" {rng.choice(INTS)} {rng.choice(INTS)}",
            f" {rng.choice(INTS)} {rng.choice(INTS)} BIT",
            f" {rng.choice(INTS)} {rng.choice(INTS)} BYTE"])
        return [f"BITPOS {k} {bit}{rest}"]
    if r < 0.66:
        op = rng.choice(["AND", "OR", "XOR", "NOT"])
        n = 1 if op == "NOT" else rng.randint(1, 3)
        d = rng.choice(KEYS)
        return [f"BITOP {op} {d} " + " ".join(rng.choice(KEYS) for _ in range(n)), f"GET {d}"]
    ops = []
    for _ in range(rng.randint(1, 4)):
        q = rng.random()
        if q < 0.3:
            ops.append(f"GET {rng.choice(TYPES)} {rng.choice(FOFFS)}")
        elif q < 0.55:
            ops.append(f"SET {rng.choice(TYPES)} {rng.choice(FOFFS)} {rng.choice(FVALS)}")
        elif q < 0.85:
            ops.append(f"INCRBY {rng.choice(TYPES)} {rng.choice(FOFFS)} {rng.choice(FVALS)}")
        else:
            ops.append(f"OVERFLOW {rng.choice(['WRAP', 'SAT', 'FAIL'])}")
    if r < 0.72:
        return [f"BITFIELD_RO {k} " + " ".join(o for o in ops if o.startswith("GET"))]
    return [f"BITFIELD {k} " + " ".join(ops), f"GET {k}"]


def main():
    n, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    out = [HAND.rstrip("\n"), "# seeded random commands (bits.py %d %d)" % (n, seed), "FLUSHALL => ?"]
    for _ in range(n):
        out += [line + " => ?" for line in one(rng)]
    print("\n".join(out))


if __name__ == "__main__":
    main()
