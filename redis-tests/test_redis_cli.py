"""redis-cli scripted: the same script piped into `redis-cli -p PORT` against redis-server and
against raftis (one node; three nodes, through a node other than the first) must print the
same output, in raw mode, in --no-raw mode and in RESP3 (-3).
"""

from __future__ import annotations

import difflib
import shutil
import subprocess

import pytest

from conftest import needs

pytestmark = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="no redis-cli")

BASIC = r"""
SET greeting "hello world"
GET greeting
GET missing
INCR counter
INCRBY counter 41
DECR counter
DECRBY counter 2
MSET a 1 b 2 "key with space" "v a l"
MGET a b "key with space" missing
EXISTS a b missing
DEL a missing
TYPE b
TYPE missing
EXPIRE b 100
TTL b
PEXPIRE b 100000000
PERSIST b
TTL b
PTTL missing
SET n 9223372036854775807
INCR n
SET t v NX
SET t w XX GET
SET t v EX 0
GET
NOSUCHCMD arg "two words"
SELECT 1
DBSIZE
SET only-in-1 x
SELECT 0
DBSIZE
EXISTS only-in-1
ECHO "quoted \"text\" and \x41\x00end"
PING
PING "pong text"
CONFIG GET databases
SET bin "\x00\xff\r\n"
GET bin
FLUSHDB
DBSIZE
"""

COLLECTIONS = r"""
HSET h f1 v1 f2 v2
HGET h f1
HINCRBY h n 5
HLEN h
RPUSH l a b c
LRANGE l 0 -1
LPOP l
ZADD z 1 a 2.5 b
ZRANGE z 0 -1 WITHSCORES
ZSCORE z b
SADD s x
SCARD s
MULTI
INCR counter
GET counter
EXEC
"""

MODES = {"raw": [], "no-raw": ["--no-raw"], "resp3": ["-3"]}


def assert_same_output(got: bytes, want: bytes) -> None:
    if got != want:
        diff = difflib.unified_diff(
            want.decode(errors="backslashreplace").splitlines(),
            got.decode(errors="backslashreplace").splitlines(),
            "redis-server", "raftis", lineterm="")
        pytest.fail("redis-cli output differs:\n" + "\n".join(diff))


def cli(port: int, script: str, flags: list[str]) -> bytes:
    out = subprocess.run(["redis-cli", "-p", str(port)] + flags,
                         input=("FLUSHALL\n" + script).encode(), capture_output=True, timeout=60)
    return out.stdout + out.stderr


@pytest.mark.parametrize("mode", MODES)
def test_script_prints_what_redis_prints(raftis, redis_server, mode):
    want = cli(redis_server.port, BASIC, MODES[mode])
    got = cli(raftis.ports[-1], BASIC, MODES[mode])
    assert_same_output(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_collections_script_prints_what_redis_prints(request, raftis, redis_server, mode):
    needs(request, raftis, "hset", "hget", "hincrby", "hlen", "rpush", "lrange", "lpop", "zadd",
          "zrange", "zscore", "sadd", "scard", "multi", "exec")
    want = cli(redis_server.port, COLLECTIONS, MODES[mode])
    got = cli(raftis.ports[-1], COLLECTIONS, MODES[mode])
    assert_same_output(got, want)
