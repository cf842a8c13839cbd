#!/usr/bin/env bash
# oidc-gate's own work per request inside V8, without Envoy: the filter's request path run by
# a minimal proxy-wasm host in Node (host.mjs). See README.md.
#   bench/vm/run.sh                  time per request of every case
#   bench/vm/run.sh --profile CASE   then a CPU profile of CASE: where its time goes, by function
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="$root/target/bench-vm"
cases=(bearer session session-4-chunks fresh-RS256 fresh-ES256 fresh-EdDSA)

profile=""
if [[ "${1:-}" == "--profile" ]]; then
  profile="${2:?--profile needs a case: ${cases[*]}}"
fi

# The module of dist/plugin.wasm, unstripped so that profiles name its functions.
CARGO_PROFILE_RELEASE_STRIP=none cargo build --quiet --release --lib --target wasm32-wasip1 \
  --manifest-path "$root/Cargo.toml"
cargo build --quiet --release --example mint-sessions --manifest-path "$root/Cargo.toml"
module="$CARGO_TARGET_DIR/wasm32-wasip1/release/oidc_gate.wasm"
mint="$CARGO_TARGET_DIR/release/examples/mint-sessions"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
node "$here/credentials.mjs" "$work" 5000
# A session cookie as long as a login's at the test IdP, and one of 4 chunks (15 KB).
echo "Cookie: $("$mint" "$work/config.json" 1 --id-token-bytes 700)" >"$work/session.txt"
echo "Cookie: $("$mint" "$work/config.json" 1 --forward-token-bytes 11000)" >"$work/session-4-chunks.txt"

run() {
  local requests="$1"; shift
  # TurboFan compiles the whole module before it runs, as in Envoy (Node would compile each
  # function at its first call otherwise, and profiles would count that as its time).
  node --no-liftoff --no-wasm-lazy-compilation --no-warnings "$@" "$here/host.mjs" "$module" "$work/config.json" "$work/jwks.json" "$requests"
}
for case in "${cases[@]}"; do
  printf '%-17s %s\n' "$case" "$(run "$work/$case.txt")"
done
if [[ -n "$profile" ]]; then
  echo
  run "$work/$profile.txt" --cpu-prof --cpu-prof-dir "$work/profile" >/dev/null
  node "$here/top.mjs" "$work"/profile/*.cpuprofile 30
fi
