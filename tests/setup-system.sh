#!/usr/bin/env bash
# The system packages the tests use (Debian/Ubuntu, apt), installed when missing; run by
# tests/setup.sh before anything else, so a machine without root learns it at once.
#   chromium        the browser of the login tests (tests/test_browser.py, driven by playwright-core)
#   skopeo          pushes and pulls the OCI image (./build.sh push, tests/test_deploy_oci.py)
#   docker-registry the local registry those tests start on 127.0.0.1 on a free port
#   prometheus      for its promtool: checks and unit-tests observability/alerts.yaml
#                   (tests/test_observability.py); its server is not used
# Quiet: one line per package; apt's output goes to tests/.work/apt.log, shown only when an
# install fails. No service is left running or enabled at boot.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_LOG="$ROOT/tests/.work/apt.log"

log() { echo "setup: $*" >&2; }

missing=()
command -v skopeo >/dev/null || missing+=(skopeo)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v promtool >/dev/null || missing+=(prometheus)
# A font for the pages it renders; the rest of chromium's recommends is not needed headless.
command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
if (( ${#missing[@]} == 0 )); then
  log "system packages present: skopeo docker-registry chromium prometheus"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if ! command -v sudo >/dev/null; then
    log "needs root (or sudo) to install system packages: ${missing[*]}"
    log "run as root once, or: apt-get install ${missing[*]}"
    exit 1
  fi
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
  log "missing ${missing[*]} and no apt-get: install them with your package manager"
  exit 1
fi

# Through env: sudo drops the caller's environment.
apt_quiet() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y "$@" >>"$APT_LOG" 2>&1; }

# apt knows the package (else its lists are refreshed first).
known() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [^(]'; }

install_one() {
  local pkg="$1"
  # A failure on stale lists is retried once after refreshing them.
  if apt_quiet install --no-install-recommends "$pkg" ||
      { apt_quiet update && apt_quiet install --no-install-recommends "$pkg"; }; then
    log "installed $pkg"
  else
    tail -n 30 "$APT_LOG" >&2
    log "apt-get install $pkg failed (full log: $APT_LOG)"
    exit 1
  fi
}

mkdir -p "$(dirname "$APT_LOG")"
log "installing as root with apt-get: ${missing[*]} (apt's output in $APT_LOG)"
for pkg in "${missing[@]}"; do
  if ! known "$pkg"; then
    apt_quiet update
    break
  fi
done
for pkg in "${missing[@]}"; do
  install_one "$pkg"
done
# Debian enables and starts the registry's and Prometheus's services on install; the tests
# start their own registry and need only promtool.
for service in docker-registry prometheus; do
  if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
    "${sudo[@]}" systemctl disable --now --quiet "$service.service" >>"$APT_LOG" 2>&1 || true
  fi
done
