#!/usr/bin/env bash
# Proves raftis answers as Redis 7.0 does: the differential tester (default seeds, one and three
# nodes, RESP2 and RESP3) and the real-client tests (redis-py, redis-cli; redis-rs runs with
# `cargo test`). Installs what it needs when missing. Usage: bash redis-tests/run.sh
# Environment: RAFTIS_BIN (default target/debug/raftis, built if missing), DIFFTEST_ARGS (extra
# arguments for difftest.py, e.g. "--seeds 0-999").
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools
fi
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" - <<'PY' 2>/dev/null
import sys
import pytest, redis
sys.exit(0 if redis.__version__ == "5.3.1" and pytest.__version__ == "9.2.0" else 1)
PY
then
  "$PYTHON" -m pip install -q -r redis-tests/requirements.txt
fi

export RAFTIS_BIN="${RAFTIS_BIN:-$PWD/target/debug/raftis}"
if [ ! -x "$RAFTIS_BIN" ]; then
  cargo build --bin raftis
fi

# The tester on itself first (redis-server against redis-server, every template): a change to
# the generator or to the difference rules must not raise false alarms.
"$PYTHON" redis-tests/difftest.py --self-test --seeds 0-29
# shellcheck disable=SC2086  # DIFFTEST_ARGS is a list of arguments
"$PYTHON" redis-tests/difftest.py ${DIFFTEST_ARGS:-}
"$PYTHON" -m pytest -q -p no:cacheprovider redis-tests
