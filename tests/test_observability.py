"""What an operator sees, through a real Envoy (2 workers) with the shipped `stats_config`:
every metric at zero before the first request, refusals counted with reason, mode and issuer
as Prometheus labels, one debug line per refused request, bearer refusals that say why, and
error replies that name their request. Then the shipped Prometheus rules and Grafana dashboard
(observability/): `promtool check rules`, `promtool test rules`, and dashboard queries that
only name metrics a real Envoy shows."""

import json
import re
import shutil
import subprocess

import pytest

from support import REPO
from support.gate import assert_invalid_token, gate_config, wait_for_pass

OBSERVABILITY = REPO / "observability"
API = [("Accept", "application/json")]
REQUEST_ID = "5e7c2a4b-9d1f-4f7e-8a61-0c3b2d1e4f5a"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(envoy) -> list[tuple[str, dict, float]]:
    """Envoy's Prometheus output as (name, labels, value) samples."""
    samples = []
    for line in envoy.admin("/stats/prometheus").decode().splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples.append((m[1], dict(LABEL.findall(m[2] or "")), float(m[3])))
    return samples


def value(samples, name: str, **labels) -> float | None:
    found = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    return found[0] if found else None


def gate_metric(samples, suffix: str) -> str:
    """The full Prometheus name of oidc-gate's metric `suffix` (`denied`, `jwks_keys`)."""
    names = {n for n, _, _ in samples if n.endswith("oidc_gate_" + suffix)}
    assert len(names) == 1, (suffix, sorted({n for n, _, _ in samples if "oidc_gate" in n}))
    return names.pop()


@pytest.fixture(scope="module")
def gate(module_lab, idp, echo, plugin_wasm):
    config = gate_config(idp, issuer_name="test-idp")
    return module_lab.envoy(config, app_port=echo.port, idp_port=idp.port, wasm_path=plugin_wasm)


def test_every_metric_is_there_at_zero_before_the_first_request(gate):
    samples = scrape(gate)
    print("\n".join(sorted({n for n, _, _ in samples if "oidc_gate" in n})))
    denied = gate_metric(samples, "denied")
    assert value(samples, denied, reason="expired", mode="enforce") == 0
    assert value(samples, denied, reason="group_not_allowed", mode="enforce") == 0
    allowed = gate_metric(samples, "allowed")
    assert value(samples, allowed, reason="bearer", mode="enforce") == 0
    assert value(samples, gate_metric(samples, "jwks_fetch_failed"), issuer="test-idp") is not None
    for kind in ["discovery", "jwks", "token", "userinfo", "introspection", "revocation"]:
        assert value(samples, gate_metric(samples, "idp_call_ms_count"), kind=kind) is not None, kind
    assert value(samples, gate_metric(samples, "key_wait_ms_count")) is not None
