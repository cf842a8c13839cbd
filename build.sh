#!/usr/bin/env bash
# oidc-gate build entry point.
#   ./build.sh          build dist/plugin.wasm (release, wasm32-wasip1, LTO) and print its size
#   ./build.sh test     lint, unit tests, a 5 s fuzz smoke per target, then the integration suite
#   ./build.sh fuzz [SECONDS] [TARGET...]   fuzz every target (or those named) SECONDS each (60)
#   ./build.sh demo [--keep-logs] [--port P]   run the local demo: IdP + Envoy with the filter + an app
#   ./build.sh setup    install what the tests and the demo need (idempotent)
#   ./build.sh oci      build, then write dist/oci: an OCI image layout of plugin.wasm (Istio)
#   ./build.sh push REF [skopeo copy options]   push dist/oci to REF (registry/repo:tag) with skopeo
#   ./build.sh release VERSION   reproducible release files in dist/release/VERSION, overlays pinned
#   ./build.sh push-release VERSION [skopeo copy options]   push that release's image (RELEASE_IMAGE)
#   ./build.sh bench    build, then benchmark against Envoy jwt_authn and ext_authz (bench/README.md)
#   ./build.sh chaos    build, then IdP outages, IdP faults and a soak under load (bench/README.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

WASM_TARGET=wasm32-wasip1

ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
    rustup target add "$WASM_TARGET"
  fi
}

# Build paths must not reach the artifacts, so that a build in another checkout or on another
# machine gives the same bytes. Cargo names this crate's sources relative to the checkout; the
# dependencies' sources (panic locations) sit under the cargo home, which is remapped. The flags
# do not name the checkout, so every checkout shares the dependencies' cached builds. Only the
# artifact builds get them, each with --target (so build scripts and proc macros, which run on
# the host, stay unflagged): set for the whole script, they would rebuild the tests' tree.
artifact_cargo() {
  CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" cargo "$@"
}

build() {
  ensure_wasm_target
  # --lib: the native tools in src/bin/ are not part of the module.
  artifact_cargo build --quiet --lib --target "$WASM_TARGET" --release
  mkdir -p dist
  cp "${CARGO_TARGET_DIR:-target}/$WASM_TARGET/release/oidc_gate.wasm" dist/plugin.wasm
  echo "dist/plugin.wasm: $(stat -c %s dist/plugin.wasm) bytes"
}

lint() {
  ensure_wasm_target
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  cargo fmt --check
  cargo fmt --check --manifest-path fuzz/Cargo.toml
  cargo clippy --quiet --all-targets -- -D warnings
  cargo clippy --quiet --target "$WASM_TARGET" --all-targets -- -D warnings
}

setup() {
  ensure_wasm_target
  bash tests/setup.sh
}

# --- Fuzzing (fuzz/, cargo-fuzz) ------------------------------------------------------------
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, ...); RUSTC_BOOTSTRAP lets the
# stable toolchain accept them. --debug-assertions keeps overflow checks and debug assertions on
# in the optimised build (cargo-fuzz's default too; stated so it stays so).
FUZZ_FLAGS=(--debug-assertions)

ensure_cargo_fuzz() {
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
}

# fuzz [SECONDS] [TARGET...]: each target from its seeds (fuzz/seeds/) plus the corpus it grew
# before (fuzz/corpus/, not in git). Fails when any target finds a crash, naming the reproducer.
fuzz() {
  local seconds="${1:-60}"
  [[ $# -gt 0 ]] && shift
  ensure_cargo_fuzz
  # Only for cargo-fuzz: set for the whole script, it would reach the plugin's own build (some
  # build scripts probe for nightly features) and change the module.
  local -x RUSTC_BOOTSTRAP=1
  cargo fuzz build "${FUZZ_FLAGS[@]}"
  local targets=("$@") failed=() target log
  [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo fuzz list)
  log="$(mktemp)"
  for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    if cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
      echo "fuzz $target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || echo done)"
    else
      tail -n 40 "$log" >&2
      echo "fuzz $target: FAILED, reproducer: $(grep -oE "fuzz/artifacts/$target/[a-z-]+[0-9a-f]{40}" "$log" | head -n 1)" >&2
      echo "  rerun: RUSTC_BOOTSTRAP=1 cargo fuzz run ${FUZZ_FLAGS[*]} $target <reproducer>" >&2
      failed+=("$target")
    fi
  done
  rm -f "$log"
  if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: crashes in ${failed[*]}" >&2
    return 1
  fi
}

# --- OCI image (Istio WasmPlugin url: oci://...) ---------------------------------------------
# The layout is written by istio/oci_layout.py (Python standard library only): the "compat"
# Wasm image Istio's agent accepts, reproducible for the same plugin.wasm.
OCI_LAYOUT_DIR="${OCI_LAYOUT:-dist/oci}"

crate_version() {
  sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1
}

oci() {
  python3 istio/oci_layout.py dist/plugin.wasm "$OCI_LAYOUT_DIR" --tag "${OCI_TAG:-$(crate_version)}"
}

# push REF [skopeo copy options...]: REF is registry/repository:tag (docker:// optional), e.g.
#   ./build.sh push ghcr.io/acme/oidc-gate:0.1.0
#   ./build.sh push 127.0.0.1:5000/oidc-gate:0.1.0 --dest-tls-verify=false
# Digests are preserved, so the pushed manifest digest is the one `./build.sh oci` printed.
push() {
  local ref="${1:-}"
  if [[ -z "$ref" || "$ref" == -* ]]; then
    echo "usage: $0 push REGISTRY/REPOSITORY:TAG [skopeo copy options]" >&2
    exit 2
  fi
  shift
  ref="${ref#docker://}"
  if [[ ! -f "$OCI_LAYOUT_DIR/index.json" ]]; then
    echo "push: $OCI_LAYOUT_DIR is not an OCI layout; run ./build.sh oci first" >&2
    exit 1
  fi
  if ! command -v skopeo >/dev/null; then
    echo "push: skopeo is required (Debian/Ubuntu: apt-get install skopeo)" >&2
    exit 1
  fi
  local tag digestfile digest
  tag="$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["manifests"][0]; print(m["annotations"]["org.opencontainers.image.ref.name"])' "$OCI_LAYOUT_DIR/index.json")"
  digestfile="$(mktemp)"
  skopeo copy --quiet --preserve-digests --digestfile "$digestfile" "$@" \
    "oci:$OCI_LAYOUT_DIR:$tag" "docker://$ref"
  digest="$(cat "$digestfile")"
  rm -f "$digestfile"
  echo "pushed $ref"
  echo "  manifest digest: $digest"
  echo "  WasmPlugin: url: oci://$ref"
  echo "              sha256: ${digest#sha256:}"
}

# --- Release (docs/releasing.md) ------------------------------------------------------------
# release VERSION: dist/release/VERSION/ holds plugin.wasm, the OCI layout of it, the
# oidc-gate-check binary for Linux x86_64, a sha256 file for each, and RELEASE-NOTES.md; the
# same tree and toolchain give the same bytes. The overlays are pinned to the image by digest.
RELEASE_IMAGE="${RELEASE_IMAGE:-ghcr.io/oidc-gate/oidc-gate}"
NATIVE_TARGET=x86_64-unknown-linux-gnu
SEMVER_RE='^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'

release_dir() { echo "dist/release/$1"; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The version is never edited here: the release commit sets it in Cargo.toml (and Cargo.lock),
# so the tagged tree is exactly the tree built.
check_release_version() {
  local version="$1"
  if [[ ! "$version" =~ $SEMVER_RE ]]; then
    echo "usage: $0 release VERSION (MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 0.2.0; no leading v)" >&2
    exit 2
  fi
  if [[ "$version" != "$(crate_version)" ]]; then
    echo "release: Cargo.toml's version is $(crate_version), not $version; set it in the release commit" >&2
    exit 1
  fi
  local section
  section="$(changelog_section "$version")"
  if [[ -z "${section//[[:space:]]/}" ]]; then
    echo "release: CHANGELOG.md has no section \"## [$version] - YYYY-MM-DD\"; write it first" >&2
    exit 1
  fi
}

# CHANGELOG.md's "## [VERSION] - DATE" section, without its heading.
changelog_section() {
  awk -v head="## [$1]" '
    /^## / { if (found) exit; found = (index($0, head) == 1); next }
    found' CHANGELOG.md
}

release_notes() {
  local version="$1" digest="$2" out="$3"
  cat <<EOF
# oidc-gate $version
$(changelog_section "$version")

## Files

| file | sha256 |
|---|---|
| \`plugin.wasm\` | \`$(sha256_of "$out/plugin.wasm")\` |
| \`oidc-gate-check\` (Linux x86_64) | \`$(sha256_of "$out/oidc-gate-check")\` |

- image: \`oci://$RELEASE_IMAGE:$version\`
- its manifest digest: \`$digest\` (a WasmPlugin's \`sha256\` is the hex part)
- built with $(rustc -V); that toolchain rebuilds these bytes: \`./build.sh release $version\`
EOF
}

# The native tool, symbols stripped too (the release profile strips only debuginfo: the names
# stay in the module for Envoy's Wasm backtraces).
build_check_tool() {
  rustup target list --installed 2>/dev/null | grep -qx "$NATIVE_TARGET" || rustup target add "$NATIVE_TARGET"
  CARGO_PROFILE_RELEASE_STRIP=symbols \
    artifact_cargo build --quiet --release --bin oidc-gate-check --target "$NATIVE_TARGET"
}

# The overlays name the release image and pin its manifest digest.
pin_overlays() {
  local version="$1" hex="${2#sha256:}" patch
  for patch in istio/overlays/*/wasmplugin-patch.yaml; do
    sed -i -E -e "s|^  url: oci://.*|  url: oci://$RELEASE_IMAGE:$version|" \
      -e "s|^  sha256: .*|  sha256: $hex|" "$patch"
    if ! grep -qx "  url: oci://$RELEASE_IMAGE:$version" "$patch" || ! grep -qx "  sha256: $hex" "$patch"; then
      echo "release: $patch has no '  url:' and '  sha256:' line to pin" >&2
      exit 1
    fi
  done
}

release() {
  local version="${1:-}"
  check_release_version "$version"
  # File times of the outputs: the commit's, not the build's.
  local epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}"
  if [[ ! "$epoch" =~ ^[0-9]+$ ]]; then
    echo "release: no commit time: run it in a git checkout, or set SOURCE_DATE_EPOCH" >&2
    exit 1
  fi
  local out digest
  out="$(release_dir "$version")"
  rm -rf "$out"
  mkdir -p "$out"
  build
  install -m 0644 dist/plugin.wasm "$out/plugin.wasm"
  digest="$(python3 istio/oci_layout.py "$out/plugin.wasm" "$out/oci" --tag "$version" --digest-only)"
  build_check_tool
  install -m 0755 "${CARGO_TARGET_DIR:-target}/$NATIVE_TARGET/release/oidc-gate-check" "$out/oidc-gate-check"
  # sha256sum --check reads these beside the files.
  (cd "$out" && sha256sum plugin.wasm >plugin.wasm.sha256 && sha256sum oidc-gate-check >oidc-gate-check.sha256)
  release_notes "$version" "$digest" "$out" >"$out/RELEASE-NOTES.md"
  find "$out" -exec touch -h -d "@$epoch" {} +
  pin_overlays "$version" "$digest"
  echo "$out: oidc-gate $version"
  echo "  plugin.wasm      sha256 $(sha256_of "$out/plugin.wasm")"
  echo "  oidc-gate-check  sha256 $(sha256_of "$out/oidc-gate-check")"
  echo "  image manifest   $digest"
  echo "  istio/overlays pinned to oci://$RELEASE_IMAGE:$version; push: ./build.sh push-release $version"
}

# push-release VERSION [skopeo copy options]: the release's layout to the image the overlays name.
push_release() {
  local version="${1:-}"
  [[ $# -gt 0 ]] && shift
  if [[ ! "$version" =~ $SEMVER_RE ]]; then
    echo "usage: $0 push-release VERSION [skopeo copy options]" >&2
    exit 2
  fi
  if [[ ! -f "$(release_dir "$version")/oci/index.json" ]]; then
    echo "push-release: no release $version in $(release_dir "$version"); run ./build.sh release $version first" >&2
    exit 1
  fi
  OCI_LAYOUT_DIR="$(release_dir "$version")/oci" push "$RELEASE_IMAGE:$version" "$@"
}

case "${1:-build}" in
  build) build ;;
  setup) setup ;;
  test)
    lint
    cargo test --quiet
    fuzz 5
    build
    setup
    .venv/bin/python -m pytest tests "${@:2}"
    ;;
  demo)
    build
    setup
    exec .venv/bin/python tests/demo.py "${@:2}"
    ;;
  oci)
    build
    oci
    ;;
  push) push "${@:2}" ;;
  release) release "${@:2}" ;;
  push-release) push_release "${@:2}" ;;
  fuzz) fuzz "${@:2}" ;;
  bench)
    build
    exec bench/run.sh "${@:2}"
    ;;
  chaos)
    build
    exec bench/run.sh chaos "${@:2}"
    ;;
  *)
    echo "usage: $0 [build|test|demo|setup|oci|push REF|release VERSION|push-release VERSION|bench|chaos|fuzz [SECONDS] [TARGET...]]" >&2
    exit 2
    ;;
esac
