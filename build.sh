#!/usr/bin/env bash
# oidc-gate build entry point.
#   ./build.sh          build dist/plugin.wasm (release, wasm32-wasip1, LTO) and print its size
#   ./build.sh test     lint, unit tests, then the integration suite (real Envoy + IdP)
#   ./build.sh demo     run the local demo: IdP + Envoy with the filter + an app
#   ./build.sh setup    install what the tests and the demo need (idempotent)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

WASM_TARGET=wasm32-wasip1

ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
    rustup target add "$WASM_TARGET"
  fi
}

build() {
  ensure_wasm_target
  cargo build --quiet --target "$WASM_TARGET" --release
  mkdir -p dist
  cp "target/$WASM_TARGET/release/oidc_gate.wasm" dist/plugin.wasm
  echo "dist/plugin.wasm: $(stat -c %s dist/plugin.wasm) bytes"
}

lint() {
  ensure_wasm_target
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  cargo fmt --check
  cargo clippy --quiet --all-targets -- -D warnings
  cargo clippy --quiet --target "$WASM_TARGET" --all-targets -- -D warnings
}

setup() {
  ensure_wasm_target
  bash tests/setup.sh
}

case "${1:-build}" in
  build) build ;;
  setup) setup ;;
  test)
    lint
    cargo test --quiet
    build
    setup
    .venv/bin/python -m pytest tests "${@:2}"
    ;;
  demo)
    build
    setup
    exec .venv/bin/python tests/demo.py "${@:2}"
    ;;
  bench)
    build
    exec bench/run.sh "${@:2}"
    ;;
  *)
    echo "usage: $0 [build|test|demo|setup]" >&2
    exit 2
    ;;
esac
