#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian/Ubuntu machine, then runs
# formatting and lint checks and every test (unit, Raft simulation, process-level cluster and
# durability tests, linearizability under faults, the differential comparison with real
# redis-server, real-client tests). Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v tc >/dev/null 2>&1 || need_apt+=(iproute2)   # tests/partition.rs cuts the bus with tc
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
# The packaged service is not needed: tests start their own servers on free ports.
if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo bench --no-run
cargo test --all-targets
# Against real redis-server: the differential tester and the real clients (redis-py,
# redis-cli; redis-rs runs in cargo test above). Installs its Python packages when missing.
bash redis-tests/run.sh
