"""Unit tests of difftest.py itself, no servers: the RESP reader, each comparison rule catches a
planted difference, the shrinker finds the minimal failing sequence, the generator is
deterministic per seed and only generates listed commands."""

from __future__ import annotations

import difftest as d


def frame(raw: bytes) -> d.Frame:
    c = d.Conn.__new__(d.Conn)
    c.buf, c.pos = bytearray(raw), 0
    f = c.read_frame()
    assert f.raw == raw
    return f


def cmp(args, r: bytes, x: bytes):
    return d.Checker().compare([a.encode() for a in args], frame(r), frame(x), None)


def test_reader_parses_every_resp3_type_and_keeps_raw_bytes():
    raw = (b"*9\r\n+OK\r\n-ERR x\r\n:5\r\n$3\r\na\r\n\r\n_\r\n,1.5\r\n#t\r\n(12345678901234567890\r\n"
           b"%1\r\n$1\r\nk\r\n~2\r\n:1\r\n=7\r\ntxt:abc\r\n")
    f = frame(raw)
    assert [e.t for e in f.v] == ["+", "-", ":", "$", "_", ",", "#", "(", "%"]
    assert f.v[3].v == b"a\r\n"
    k, v = f.v[8].v[0]
    assert k.v == b"k" and v.t == "~" and v.v[1].t == "="
    assert frame(b"$-1\r\n").v is None and frame(b"*-1\r\n").v is None


def test_bytes_must_match_outside_the_differences_table():
    assert cmp(["GET", "k"], b"$1\r\na\r\n", b"$1\r\na\r\n") is None
    assert cmp(["GET", "k"], b"$1\r\na\r\n", b"$1\r\nb\r\n")
    assert cmp(["LRANGE", "l", "0", "-1"], b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
               b"*2\r\n$1\r\nb\r\n$1\r\na\r\n")  # ordered: order matters


def test_unordered_replies_compare_as_multisets_with_pairs_kept():
    a = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    assert cmp(["SMEMBERS", "s"], a, b"*2\r\n$1\r\nb\r\n$1\r\na\r\n") is None
    assert cmp(["SMEMBERS", "s"], a, b"*2\r\n$1\r\na\r\n$1\r\na\r\n")
    assert cmp(["SMEMBERS", "s"], b"~1\r\n$1\r\na\r\n", b"*1\r\n$1\r\na\r\n")  # type differs
    h = b"*4\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n2\r\n"
    assert cmp(["HGETALL", "h"], h, b"*4\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n1\r\n") is None
    assert cmp(["HGETALL", "h"], h, b"*4\r\n$1\r\nf\r\n$1\r\n2\r\n$1\r\ng\r\n$1\r\n1\r\n")


def test_ttl_tolerance_and_signs():
    assert cmp(["TTL", "k"], b":100\r\n", b":99\r\n") is None
    assert cmp(["TTL", "k"], b":100\r\n", b":97\r\n")
    assert cmp(["TTL", "k"], b":-1\r\n", b":-2\r\n")
    assert cmp(["PTTL", "k"], b":100000\r\n", b":99500\r\n") is None
    assert cmp(["PTTL", "k"], b":100000\r\n", b":98000\r\n")


def test_hello_ignores_only_id_and_role():
    def hello(id_, role, version=b"7.0.15"):
        return (b"%3\r\n$7\r\nversion\r\n$" + str(len(version)).encode() + b"\r\n" + version +
                b"\r\n$2\r\nid\r\n:" + id_ + b"\r\n$4\r\nrole\r\n$" + str(len(role)).encode() +
                b"\r\n" + role + b"\r\n")
    assert cmp(["HELLO", "3"], hello(b"5", b"master"), hello(b"9", b"replica")) is None
    assert cmp(["HELLO", "3"], hello(b"5", b"master"), hello(b"5", b"master", b"6.2.0"))


def test_scan_compares_elements_only_of_complete_scans():
    done = b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n"
    assert cmp(["SCAN", "0"], done, b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nb\r\n")
    assert cmp(["SCAN", "0"], done, b"*2\r\n$1\r\n4\r\n*0\r\n") is None


def test_random_replies_are_checked_by_count_and_distinctness():
    two = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    assert cmp(["SRANDMEMBER", "s", "2"], two, b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n") is None
    assert cmp(["SRANDMEMBER", "s", "2"], two, b"*1\r\n$1\r\nb\r\n")
    assert cmp(["SRANDMEMBER", "s", "2"], two, b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n")
    assert cmp(["SRANDMEMBER", "s", "-2"], two, b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n") is None
    assert cmp(["RANDOMKEY"], b"$1\r\na\r\n", b"$-1\r\n")


def test_exec_elements_use_their_own_rules():
    q = [[b"SMEMBERS", b"s"], [b"GET", b"k"]]
    r = frame(b"*2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nv\r\n")
    ok = frame(b"*2\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nv\r\n")
    bad = frame(b"*2\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nw\r\n")
    assert d.Checker().compare([b"EXEC"], r, ok, None, q) is None
    assert "element 2" in d.Checker().compare([b"EXEC"], r, bad, None, q)


def test_command_docs_ignore_subcommand_order_only():
    def docs(subs, summary=b"s"):
        inner = b"".join(b"$" + str(len(s)).encode() + b"\r\n" + s + b"\r\n*2\r\n$7\r\nsummary\r\n$1\r\n"
                         + summary + b"\r\n" for s in subs)
        return (b"*2\r\n$1\r\nc\r\n*2\r\n$11\r\nsubcommands\r\n*" + str(2 * len(subs)).encode()
                + b"\r\n" + inner)
    a = docs([b"c|a", b"c|b"])
    assert cmp(["COMMAND", "DOCS", "c"], a, docs([b"c|b", b"c|a"])) is None
    assert cmp(["COMMAND", "DOCS", "c"], a, docs([b"c|b", b"c|a"], b"t"))


def test_unsubscribe_without_arguments_is_a_multiset_with_descending_counts():
    def unsub(ch, n):
        return frame(b"*3\r\n$11\r\nunsubscribe\r\n$1\r\n" + ch + b"\r\n:" + n + b"\r\n")
    redis = [unsub(b"a", b"1"), unsub(b"b", b"0")]
    c = d.Checker()
    assert c.compare_many([b"UNSUBSCRIBE"], redis, [unsub(b"b", b"1"), unsub(b"a", b"0")]) is None
    assert c.compare_many([b"UNSUBSCRIBE"], redis, [unsub(b"b", b"0"), unsub(b"a", b"1")])
    assert c.compare_many([b"UNSUBSCRIBE", b"a", b"b"], redis,
                          [unsub(b"b", b"1"), unsub(b"a", b"0")])


def test_pmessage_runs_are_sorted_but_message_order_is_kept():
    def pm(pat, ch, data):
        return (b"*4\r\n$8\r\npmessage\r\n$" + str(len(pat)).encode() + b"\r\n" + pat + b"\r\n$"
                + str(len(ch)).encode() + b"\r\n" + ch + b"\r\n$1\r\n" + data + b"\r\n")
    a, b = pm(b"*", b"c", b"1"), pm(b"c*", b"c", b"1")
    later = pm(b"*", b"c", b"2")
    assert d.canon_messages([a, b, later]) == d.canon_messages([b, a, later])
    assert d.canon_messages([a, later]) != d.canon_messages([later, a])


class FakeRunner:
    """Fails when both SET x and GET x are in the sequence, in that order."""

    def __init__(self):
        self.runs = 0

    def run(self, seq, count=True):
        self.runs += 1
        seen_set = False
        for i, (c, args) in enumerate(seq):
            if args == [b"SET", b"x"]:
                seen_set = True
            if args == [b"GET", b"x"] and seen_set:
                raise d.Mismatch(i, args, c, "planted", b"", b"")


def test_shrink_finds_the_two_commands_that_matter():
    seq = [(0, [b"PING"])] * 20 + [(0, [b"SET", b"x"])] + [(0, [b"PING"])] * 30 + \
        [(0, [b"GET", b"x"])] + [(0, [b"PING"])] * 10
    runner = FakeRunner()
    first = d.Mismatch(51, [b"GET", b"x"], 0, "planted", b"", b"")
    small, m = d.shrink(runner, seq, first)
    assert small == [(0, [b"SET", b"x"]), (0, [b"GET", b"x"])]
    assert m.index == 1


def test_generator_is_deterministic_and_only_uses_listed_commands():
    listed = {"get", "set", "del", "multi", "exec", "discard", "incr"}
    g1 = d.Generator(listed, True, d.Counter())
    g2 = d.Generator(listed, True, d.Counter())
    a, b = g1.sequence(42, 200, 3), g2.sequence(42, 200, 3)
    assert a == b
    assert a != g1.sequence(43, 200, 3)
    names = {d.lower(args[0]).decode() for _, args in a}
    assert names <= listed | {"nosuchcmd", "", "foo bar", "\x00"}
    assert {c for c, _ in a} == {0, 1, 2}


def test_expected_replies_follow_the_subscription_state():
    c = d.Conn.__new__(d.Conn)
    c.channels, c.patterns, c.multi = {b"a", b"b"}, set(), False
    assert d.expected_replies(c, [b"SUBSCRIBE", b"x", b"y", b"x"]) == 3
    assert d.expected_replies(c, [b"UNSUBSCRIBE"]) == 2
    assert d.expected_replies(c, [b"PUNSUBSCRIBE"]) == 1
    c.multi = True
    assert d.expected_replies(c, [b"SUBSCRIBE", b"x", b"y"]) == 1
