"""pytest fixtures for the oidc-gate integration tests (the pieces are in support/).

Scopes: key sets are generated once per session; `module_lab` owns the IdP, echo upstream and
the shared Envoys of one test module; `lab` owns what a single test starts (`start_envoy`,
extra IdPs). Everything is stopped at the end of its scope, and on a failing test the tail of
every relevant process log is attached to the report.
"""

from __future__ import annotations

import time

import pytest

from support import PLUGIN_WASM
from support.envoy import envoy_binary, envoy_version
from support.idp import Idp
from support.lab import Lab
from support.processes import ALL_PROCS, stop_all
from support.tokens import KeySet
from support.upstreams import Echo


def pytest_report_header(config):
    return [f"envoy: {envoy_version()} ({envoy_binary()})",
            f"plugin: {PLUGIN_WASM} ({'present' if PLUGIN_WASM.exists() else 'MISSING'})"]


@pytest.fixture(scope="session")
def keys() -> KeySet:
    """The IdP's signing keys: rsa-1, ec-1, ec384-1, ed-1."""
    return KeySet()


@pytest.fixture(scope="session")
def attacker_keys() -> KeySet:
    """Same kids as `keys` (so a kid lookup succeeds) but keys the IdP never saw."""
    return KeySet()


@pytest.fixture(scope="session")
def plugin_wasm():
    if not PLUGIN_WASM.exists():
        pytest.fail(f"{PLUGIN_WASM} is missing: run ./build.sh first", pytrace=False)
    return PLUGIN_WASM


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("module"))
    yield lab
    lab.close()


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def idp(module_lab, keys) -> Idp:
    return module_lab.idp(keys)


@pytest.fixture(scope="module")
def echo(module_lab) -> Echo:
    return module_lab.echo()


@pytest.fixture
def start_envoy(lab, idp, echo, plugin_wasm):
    """Factory: start_envoy(plugin_config, concurrency=2, env={}, extra_clusters={},
    expect_failure=False, idp=<module idp>, app=<module echo>) -> Envoy (or EnvoyStart)."""
    def start(plugin_config, *, idp=idp, app=echo, **kw):
        return lab.envoy(plugin_config, app_port=app.port, idp_port=idp.port if idp else None,
                         wasm_path=plugin_wasm, **kw)
    return start


# --- process logs on failure ---------------------------------------------------------------


def pytest_runtest_setup(item):
    item._oidc_gate_started = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed:
        return
    since = getattr(item, "_oidc_gate_started", 0)
    for proc in ALL_PROCS:
        if proc.popen is None:
            continue
        if proc.alive or (proc.stopped_at or 0) >= since:
            report.sections.append((f"log of {proc.name} ({proc.log_path})", proc.tail(40)))


def pytest_sessionfinish(session, exitstatus):
    # Belt and braces: nothing the tests started outlives the session.
    stop_all()
