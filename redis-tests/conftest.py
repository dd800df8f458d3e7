"""Fixtures for the real-client tests: redis-server, raftis as one node and raftis as three
nodes, each started once per test session on free ports and killed by PID at the end.

Each test that takes `target` runs against all three; its expectations are Redis's own, so the
`redis-server` run proves the expectations right and the raftis runs prove raftis matches.

`needs(request, target, *commands)`: for a feature raftis does not implement yet, the test is
marked xfail (not strict) when raftis does not list every command in COMMAND INFO, so it starts
counting by itself as soon as the commands land.
"""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402  (process helpers: free ports, start and kill by PID)

RAFTIS_BIN = os.environ.get("RAFTIS_BIN", os.path.join(difftest.ROOT, "target/debug/raftis"))


class Target:
    """One server under test: `ports` of its nodes (one for redis-server and raftis-1)."""

    def __init__(self, name: str, ports: list[int]):
        self.name = name
        self.ports = ports
        self._listed: dict[str, bool] = {}

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def is_raftis(self) -> bool:
        return self.name.startswith("raftis")

    def lists(self, command: str) -> bool:
        """Whether the server lists `command` (e.g. "hset" or "client|kill") in COMMAND INFO."""
        if command not in self._listed:
            f = difftest.one_shot(self.port, "COMMAND", "INFO", command)
            self._listed[command] = bool(f.v) and f.v[0].v is not None
        return self._listed[command]

    def roles(self) -> list[str]:
        """raft_role of each node (redis-server: "master")."""
        out = []
        for p in self.ports:
            info = difftest.one_shot(p, "INFO", "raft" if self.is_raftis else "replication")
            text = info.v.decode()
            role = "master"
            for line in text.splitlines():
                if line.startswith("raft_role:"):
                    role = line.split(":", 1)[1].strip()
            out.append(role)
        return out

    def __repr__(self):
        return self.name


_started: dict[str, Target] = {}
_tmp = tempfile.mkdtemp(prefix="raftis-clients-")
difftest.Procs.dirs.append(_tmp)


def _start(name: str) -> Target:
    if name not in _started:
        if name == "redis-server":
            ports = [difftest.start_redis(_tmp)]
        else:
            if not os.access(RAFTIS_BIN, os.X_OK):
                pytest.skip(f"no raftis binary at {RAFTIS_BIN} (cargo build, or $RAFTIS_BIN)")
            ports = difftest.start_raftis(RAFTIS_BIN, _tmp, 3 if name == "raftis-3" else 1)
        _started[name] = Target(name, ports)
    return _started[name]


@pytest.fixture(scope="session", autouse=True)
def _kill_servers_at_exit():
    yield
    difftest.Procs.kill_all()


@pytest.fixture(scope="session")
def redis_server() -> Target:
    return _start("redis-server")


@pytest.fixture(params=["redis-server", "raftis-1", "raftis-3"])
def target(request) -> Target:
    t = _start(request.param)
    difftest.one_shot(t.port, "FLUSHALL")
    return t


@pytest.fixture(params=["raftis-1", "raftis-3"])
def raftis(request) -> Target:
    t = _start(request.param)
    difftest.one_shot(t.port, "FLUSHALL")
    return t


def needs(request, target: Target, *commands: str) -> None:
    missing = [c for c in commands if not target.lists(c)]
    if missing:
        request.applymarker(pytest.mark.xfail(
            reason=f"{target.name} does not list {', '.join(missing)} yet", strict=False))
