"""redis-py 5.x against redis-server, raftis as one node and raftis as three nodes.

Every test runs against all three targets with Redis's own expectations (the redis-server run
proves the expectations). Features raftis does not list yet are written in full and marked
xfail at run time by `needs` (see conftest.py), so they count as soon as the commands land.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from conftest import Target, needs


def client(target: Target, node: int = 0, **kw) -> redis.Redis:
    kw.setdefault("decode_responses", True)
    return redis.Redis(host="127.0.0.1", port=target.ports[node], socket_timeout=10, **kw)


def other_node(target: Target) -> int:
    """Another node than node 0 when there is one (commands then cross the cluster)."""
    return 1 if len(target.ports) > 1 else 0


# ------------------------------------------------------------------------------------------
# Basic commands
# ------------------------------------------------------------------------------------------
def test_strings_and_counters(target):
    r = client(target)
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.get("missing") is None
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True) is True
    assert r.set("k", "x", get=True) == "w"
    assert r.incr("n") == 1
    assert r.incrby("n", 41) == 42
    assert r.decr("n") == 41
    assert r.decrby("n", 40) == 1
    assert r.mset({"a": "1", "b": "2", "c": "3"}) is True
    assert r.mget("a", "missing", "c") == ["1", None, "3"]
    assert r.exists("a", "b", "missing", "a") == 3
    assert r.delete("a", "b", "missing") == 2
    assert r.type("c") == "string"
    assert r.type("missing") == "none"
    assert r.dbsize() == 3
    assert r.echo("hello world") == "hello world"
    assert r.ping() is True


def test_expiry(target):
    r = client(target)
    r.set("k", "v")
    assert r.ttl("k") == -1
    assert r.pttl("missing") == -2
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert 99_000 <= r.pttl("k") <= 100_000
    assert r.pexpire("k", 200_000) is True
    assert 199 <= r.ttl("k") <= 200
    assert r.persist("k") is True
    assert r.ttl("k") == -1
    assert r.set("e", "v", ex=1000) is True
    assert 999 <= r.ttl("e") <= 1000
    assert r.set("e", "w", keepttl=True) is True
    assert 999 <= r.ttl("e") <= 1000
    assert r.expire("e", 0) is True
    assert r.get("e") is None


def test_select_databases_are_separate(target):
    r0, r1 = client(target), client(target, db=1)
    r0.set("k", "zero")
    r1.set("k", "one")
    assert r0.get("k") == "zero"
    assert r1.get("k") == "one"
    assert r1.dbsize() == 1
    r1.flushdb()
    assert r0.get("k") == "zero"
    assert r1.get("k") is None


def test_binary_safe_keys_and_values(target):
    r = client(target, decode_responses=False)
    key, val = b"\x00\xff key\r\n", bytes(range(256)) * 4
    assert r.set(key, val) is True
    assert r.get(key) == val
    assert r.set(b"", b"") is True
    assert r.get(b"") == b""
    assert r.exists(key, b"") == 2


def test_large_value(target):
    r = client(target, decode_responses=False)
    val = b"x" * (4 << 20)
    assert r.set("big", val) is True
    assert r.get("big") == val


def test_client_name_and_id(target):
    r = client(target)
    assert isinstance(r.client_id(), int)
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1"


# ------------------------------------------------------------------------------------------
# Pipelines and errors
# ------------------------------------------------------------------------------------------
def test_pipeline_without_transaction(target):
    r = client(target)
    p = r.pipeline(transaction=False)
    for i in range(100):
        p.set(f"k{i}", i)
    for i in range(100):
        p.incr(f"k{i}")
    p.mget([f"k{i}" for i in range(100)])
    out = p.execute()
    assert out[:100] == [True] * 100
    assert out[100:200] == list(range(1, 101))
    assert out[200] == [str(i) for i in range(1, 101)]


def test_pipeline_errors_in_the_middle(target):
    r = client(target)
    r.set("s", "not a number")
    p = r.pipeline(transaction=False)
    p.set("a", 1).incr("s").incr("a").get("a")
    out = p.execute(raise_on_error=False)
    assert out[0] is True
    assert isinstance(out[1], redis.ResponseError)
    assert str(out[1]) == "value is not an integer or out of range"
    assert out[2:] == [2, "2"]
    with pytest.raises(redis.ResponseError):
        r.pipeline(transaction=False).incr("s").execute()


@pytest.mark.parametrize("args, message", [
    (("GET",), "wrong number of arguments for 'get' command"),
    (("GET", "a", "b"), "wrong number of arguments for 'get' command"),
    (("NOSUCHCMD", "x"), "unknown command 'NOSUCHCMD', with args beginning with: 'x' "),
    (("SELECT", "100"), "DB index is out of range"),
    (("SELECT", "abc"), "value is not an integer or out of range"),
    (("SET", "k", "v", "EX", "0"), "invalid expire time in 'set' command"),
    (("SET", "k", "v", "NX", "XX"), "syntax error"),
    (("INCRBY", "k", "abc"), "value is not an integer or out of range"),
    (("EXPIRE", "k", "abc"), "value is not an integer or out of range"),
    (("CONFIG", "NOSUCH"), "unknown subcommand 'NOSUCH'. Try CONFIG HELP."),
])
def test_errors_carry_redis_messages(target, args, message):
    r = client(target)
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    assert str(e.value) == message


def test_counter_overflow_error(target):
    r = client(target)
    r.set("n", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="^increment or decrement would overflow$"):
        r.incr("n")
    assert r.get("n") == str(2**63 - 1)


def test_wrongtype_error(request, target):
    needs(request, target, "lpush")
    r = client(target)
    r.lpush("l", "x")
    with pytest.raises(redis.ResponseError) as e:
        r.get("l")
    assert str(e.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"


# ------------------------------------------------------------------------------------------
# RESP3
# ------------------------------------------------------------------------------------------
def test_resp3_handshake_and_replies(target):
    r = client(target, protocol=3)
    hello = r.execute_command("HELLO", "3")
    assert hello["proto"] == 3
    assert hello["server"] == "redis"
    assert isinstance(hello["id"], int)
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.get("missing") is None
    assert r.incr("n") == 1
    assert r.mget("k", "missing") == ["v", None]
    assert r.config_get("databases") == {"databases": "16"}
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("GET")


def test_resp3_collections(request, target):
    needs(request, target, "hset", "hgetall", "sadd", "smembers", "zadd", "zscore", "zrange")
    r = client(target, protocol=3)
    r.hset("h", mapping={"f1": "1", "f2": "2"})
    assert r.hgetall("h") == {"f1": "1", "f2": "2"}
    r.sadd("s", "a", "b")
    assert r.smembers("s") == {"a", "b"}
    r.zadd("z", {"m": 1.5, "n": 2})
    assert r.zscore("z", "m") == 1.5
    assert r.zrange("z", 0, -1, withscores=True) == [["m", 1.5], ["n", 2.0]]


# ------------------------------------------------------------------------------------------
# Three nodes: any node serves, followers forward writes, reads are linearizable
# ------------------------------------------------------------------------------------------
def test_follower_takes_writes_and_serves_reads(raftis):
    if len(raftis.ports) == 1:
        pytest.skip("one node: no follower")
    roles = raftis.roles()
    follower = next(i for i, role in enumerate(roles) if role == "follower")
    f = client(raftis, follower)
    assert f.set("k", "through-follower") is True
    for node in range(len(raftis.ports)):
        assert client(raftis, node).get("k") == "through-follower"
    p = f.pipeline(transaction=False)
    for _ in range(50):
        p.incr("n")
    assert p.execute() == list(range(1, 51))


def test_writes_through_every_node_are_linearizable(raftis):
    clients = [client(raftis, i) for i in range(len(raftis.ports))]
    seen = []
    for i in range(60):
        seen.append(clients[i % len(clients)].incr("n"))
    assert seen == list(range(1, 61))
    for c in clients:
        assert c.get("n") == "60"


# ------------------------------------------------------------------------------------------
# Not implemented by raftis yet (xfail until the commands are listed)
# ------------------------------------------------------------------------------------------
def test_transaction_pipeline(request, target):
    needs(request, target, "multi", "exec")
    r = client(target)
    p = r.pipeline(transaction=True)
    p.set("a", 1).incr("a").incrby("a", 10).get("a")
    assert p.execute() == [True, 2, 12, "12"]


def test_transaction_runtime_error_does_not_abort_others(request, target):
    needs(request, target, "multi", "exec")
    r = client(target)
    r.set("s", "text")
    p = r.pipeline(transaction=True)
    p.incr("s").set("b", "ok")
    out = p.execute(raise_on_error=False)
    assert isinstance(out[0], redis.ResponseError)
    assert out[1] is True
    assert r.get("b") == "ok"


def test_transaction_queue_time_error_aborts(request, target):
    needs(request, target, "multi", "exec")
    r = client(target)
    p = r.pipeline(transaction=True)
    p.set("a", 1).execute_command("GET")  # wrong arity: refused when queued
    with pytest.raises(redis.ResponseError) as e:
        p.execute()
    assert "EXECABORT" in str(e.value) or "wrong number of arguments" in str(e.value)
    assert r.get("a") is None


def test_watch_fails_when_a_watched_key_changes_on_another_node(request, target):
    needs(request, target, "watch", "multi", "exec", "unwatch")
    r, other = client(target), client(target, other_node(target))
    r.set("w", "1")
    with r.pipeline(transaction=True) as p:
        p.watch("w")
        assert p.get("w") == "1"
        other.set("w", "2")
        p.multi()
        p.set("w", "3")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == "2"

    def bump(p):
        v = int(p.get("w"))
        p.multi()
        p.set("w", v + 1)

    r.transaction(bump, "w")
    assert other.get("w") == "3"


def test_pubsub_messages_from_another_node(request, target):
    needs(request, target, "subscribe", "psubscribe", "publish", "unsubscribe", "pubsub|numsub")
    r, pub = client(target), client(target, other_node(target))
    p = r.pubsub()
    p.subscribe("news")
    p.psubscribe("n*")
    got = [p.get_message(timeout=2) for _ in range(2)]
    assert [m["type"] for m in got] == ["subscribe", "psubscribe"]
    # Subscriptions are per node (README: Differences): counts come from the node asked, so
    # ask the subscriber's node; PUBLISH through another node counts that node's subscribers.
    assert r.pubsub_numsub("news") == [("news", 1)]
    published = pub.publish("news", "hello")
    assert published == (0 if target.name == "raftis-3" else 2)
    msgs = []
    deadline = time.time() + 5
    while len(msgs) < 2 and time.time() < deadline:
        m = p.get_message(timeout=0.5)
        if m:
            msgs.append(m)
    assert sorted((m["type"], m["channel"], m["data"]) for m in msgs) == [
        ("message", "news", "hello"), ("pmessage", "news", "hello")]
    p.unsubscribe()
    p.punsubscribe()
    p.close()


def test_pubsub_resp3_push(request, target):
    needs(request, target, "subscribe", "publish")
    r = client(target, protocol=3)
    p = r.pubsub()
    p.subscribe("ch")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert client(target).publish("ch", "x") == 1
    deadline = time.time() + 5
    m = None
    while m is None and time.time() < deadline:
        m = p.get_message(timeout=0.5)
    assert m is not None and (m["type"], m["data"]) == ("message", "x")
    p.close()


def test_scan_iteration(request, target):
    needs(request, target, "scan")
    r = client(target)
    r.mset({f"key:{i}": i for i in range(120)})
    r.set("other", 1)
    assert set(r.scan_iter(match="key:*", count=7)) == {f"key:{i}" for i in range(120)}
    assert len(list(r.scan_iter(count=1000))) >= 121


def test_collection_scans(request, target):
    needs(request, target, "hset", "hscan", "sadd", "sscan", "zadd", "zscan")
    r = client(target)
    r.hset("h", mapping={f"f{i}": i for i in range(300)})
    assert dict(r.hscan_iter("h", count=10)) == {f"f{i}": str(i) for i in range(300)}
    r.sadd("s", *[f"m{i}" for i in range(300)])
    assert set(r.sscan_iter("s", count=10)) == {f"m{i}" for i in range(300)}
    r.zadd("z", {f"m{i}": i for i in range(300)})
    assert dict(r.zscan_iter("z", count=10)) == {f"m{i}": float(i) for i in range(300)}


def test_hashes(request, target):
    needs(request, target, "hset", "hget", "hgetall", "hincrby", "hdel", "hlen", "hexists")
    r = client(target)
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hget("h", "a") == "1"
    assert r.hincrby("h", "a", 5) == 6
    assert r.hgetall("h") == {"a": "6", "b": "2"}
    assert r.hexists("h", "b") is True
    assert r.hdel("h", "b", "missing") == 1
    assert r.hlen("h") == 1


def test_lists(request, target):
    needs(request, target, "rpush", "lpush", "lrange", "lpop", "rpop", "llen")
    r = client(target)
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lpush("l", "z") == 4
    assert r.lrange("l", 0, -1) == ["z", "a", "b", "c"]
    assert r.lpop("l") == "z"
    assert r.rpop("l", 2) == ["c", "b"]
    assert r.llen("l") == 1


def test_blocking_pop_woken_by_a_push_on_another_node(request, target):
    needs(request, target, "blpop", "rpush")
    r, other = client(target), client(target, other_node(target))
    t = threading.Timer(0.3, lambda: other.rpush("q", "job"))
    t.start()
    try:
        assert r.blpop(["q"], timeout=5) == ("q", "job")
    finally:
        t.cancel()


def test_sets_and_sorted_sets(request, target):
    needs(request, target, "sadd", "sismember", "scard", "sinter", "zadd", "zrange", "zincrby",
          "zrank")
    r = client(target)
    r.sadd("s1", "a", "b", "c")
    r.sadd("s2", "b", "c", "d")
    assert r.sinter("s1", "s2") == {"b", "c"}
    assert r.sismember("s1", "a") == 1
    assert r.scard("s2") == 3
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zincrby("z", 10, "a") == 11.0
    assert r.zrange("z", 0, -1) == ["b", "c", "a"]
    assert r.zrank("z", "a") == 2


def test_requirepass_keeps_connections_made_without_one(target):
    # As Redis: a client that connected while no password was set stays authenticated.
    admin = client(target)
    other = client(target)
    assert admin.ping() and other.ping()
    admin.config_set("requirepass", "s3cret")
    try:
        assert admin.ping() and other.ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            client(target).ping()
        assert client(target, password="s3cret").ping()
    finally:
        admin.config_set("requirepass", "")
    assert client(target).ping()


def test_admin_error_replies(target):
    r = client(target)
    for args, want in [
        (("EXEC", "x"), "Transaction discarded because of: wrong number of arguments for 'exec' command"),
        (("CLIENT", "KILL", "USER", "nobody"), "No such user 'nobody'"),
    ]:
        with pytest.raises(redis.exceptions.ResponseError) as e:
            r.execute_command(*args)
        assert str(e.value) == want, args
    # A plain name comes back spelled as it was asked for; a pattern gives the real names.
    assert r.execute_command("CONFIG", "GET", "MaxMemory") == ["MaxMemory", "0"]
    assert r.execute_command("CONFIG", "GET", "maxmemory-pol*") == ["maxmemory-policy", "noeviction"]


def wait_blocked(r: redis.Redis, n: int = 1):
    """Waits (with a deadline) until the server reports `n` clients blocked."""
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] < n:
        assert time.monotonic() < deadline, "no client blocked within 10 s"
        time.sleep(0.01)


def test_blocked_pop_ignores_a_key_recreated_with_another_type(request, target):
    # Redis 7.0 serves a blocked client only from a key of the type it waits for: a list key
    # replaced by a string leaves it blocked until its timeout (then nil), not WRONGTYPE.
    needs(request, target, "blpop", "set")
    r, other = client(target), client(target, other_node(target))
    other.delete("bq")
    done = []
    t = threading.Thread(target=lambda: done.append(r.blpop(["bq"], timeout=1)))
    t.start()
    try:
        wait_blocked(client(target))
        assert other.set("bq", "now a string")
        t.join(10)
        assert done == [None]
    finally:
        t.join(10)
        other.delete("bq")


def test_client_kill_closes_a_blocked_client_without_a_reply(request, target):
    needs(request, target, "blpop", "client|kill")
    admin = client(target)
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
    try:
        sock.sendall(b"CLIENT ID\r\n")
        line = sock.recv(64)
        assert line.startswith(b":")
        cid = int(line[1:].strip())
        sock.sendall(b"BLPOP never-pushed 0\r\n")
        wait_blocked(admin)
        assert admin.client_kill_filter(_id=cid) == 1
        rest = b""
        while chunk := sock.recv(64):
            rest += chunk
        assert rest == b"", "a killed client gets no reply"
    finally:
        sock.close()
