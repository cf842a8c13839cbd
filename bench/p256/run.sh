#!/usr/bin/env bash
# ES256, ES384 and EdDSA verification benchmark: every candidate, natively and as wasm32-wasip1 in Node's
# V8 (TurboFan up front, as Envoy runs it). See README.md.
#   bench/p256/run.sh [FILTER]   timing tables, native then V8 (FILTER: part of candidate names)
#   bench/p256/run.sh sizes      .wasm size that each third-party candidate adds to the harness.
#                               Ours is not listed: linking oidc-gate brings its proxy-wasm
#                               entry point and so the whole filter; compare ./build.sh's size
#                               before and after the switch instead.
# ring is included when clang is installed (its C and assembly need it for wasm32).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="$here/../../target/bench-p256"
manifest=(--manifest-path "$here/Cargo.toml")
wasm="$CARGO_TARGET_DIR/wasm32-wasip1/release/p256-bench.wasm"

features=()
if command -v clang >/dev/null; then
  features=(--features ring)
else
  echo "clang not found: ring is left out" >&2
fi

timing() {
  cargo build --quiet --release "${manifest[@]}" "${features[@]}"
  cargo build --quiet --release --target wasm32-wasip1 "${manifest[@]}" "${features[@]}"
  "$CARGO_TARGET_DIR/release/p256-bench" "$@"
  echo
  node --no-liftoff --no-wasm-lazy-compilation --no-warnings "$here/../wasi-run.mjs" "$wasm" "$@"
}

sizes() {
  local candidates=(p256 ed25519-compact ed25519-dalek)
  command -v clang >/dev/null && candidates+=(ring)
  cargo build --quiet --release --target wasm32-wasip1 "${manifest[@]}" --no-default-features
  local base
  base=$(stat -c %s "$wasm")
  echo "| candidate | .wasm bytes | over the harness alone ($base) |"
  echo "|---|---:|---:|"
  for candidate in "${candidates[@]}"; do
    cargo build --quiet --release --target wasm32-wasip1 "${manifest[@]}" --no-default-features --features "$candidate"
    local size
    size=$(stat -c %s "$wasm")
    echo "| $candidate | $size | +$((size - base)) |"
  done
}

case "${1:-}" in
  sizes) sizes ;;
  *) timing "$@" ;;
esac
