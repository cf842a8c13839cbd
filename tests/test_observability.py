"""What an operator sees, through a real Envoy (2 workers) with the shipped `stats_config`:
every metric at zero before the first request, refusals counted with reason, mode and issuer
as Prometheus labels, one debug line per refused request, bearer refusals that say why, and
error replies that name their request. Then the shipped Prometheus rules and Grafana dashboard
(observability/): `promtool check rules`, `promtool test rules`, and dashboard queries that
only name metrics a real Envoy shows."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import REPO
from support.deploy import of_kind, render
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


def test_a_refused_bearer_request_is_counted_by_label_logged_and_explained(gate, idp, keys):
    wait_for_pass(gate, keys.mint(idp.claims()))
    denied = gate_metric(scrape(gate), "denied")
    replies = gate_metric(scrape(gate), "error_replies")
    before = value(scrape(gate), denied, reason="expired", mode="enforce")
    replies_before = value(scrape(gate), replies, status="401")
    token = keys.mint(idp.claims(lifetime=-600))
    r = gate.request("GET", "/api/x", API + [("Authorization", f"Bearer {token}"),
                                             ("X-Request-Id", REQUEST_ID)])
    assert_invalid_token(r, token)
    assert r.header("www-authenticate") == \
        'Bearer error="invalid_token", error_description="the token has expired"'
    assert r.body.decode().endswith(f"request id: {REQUEST_ID}\n"), r.body
    assert value(scrape(gate), denied, reason="expired", mode="enforce") == before + 1
    assert value(scrape(gate), replies, status="401") == replies_before + 1
    line = f"request refused: reason=expired issuer=test-idp request_id={REQUEST_ID}"
    logs = gate.logs()
    assert line in logs
    assert token.split(".")[2] not in logs and token.split(".")[1] not in logs


def test_an_error_page_names_its_request_and_a_forged_id_is_left_out(gate):
    callback = "/authservice/oidc/callback?code=c&state=s"
    page = gate.request("GET", callback, [("X-Request-Id", REQUEST_ID)])
    assert page.status == 400 and page.header("content-type").startswith("text/html"), page
    assert f"<p>Request id: <code>{REQUEST_ID}</code></p>" in page.body.decode()
    forged = gate.request("GET", callback, [("X-Request-Id", "<script>alert(1)</script>")])
    assert forged.status == 400 and b"<script>" not in forged.body
    assert b"Request id" not in forged.body


# --- the shipped rules and dashboard ---------------------------------------------------------

METRIC = re.compile(r"\boidc_gate_[a-z_]+")


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: run tests/setup.sh (Debian's prometheus package)"
    return subprocess.run([tool, *args], cwd=OBSERVABILITY, capture_output=True, text=True, timeout=60)


def test_alert_rules_are_valid_prometheus_rules():
    checked = promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout


def test_alerts_fire_on_their_unit_test_series_and_only_then():
    tested = promtool("test", "rules", "alerts-test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def shipped_queries() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries.append(dashboard["templating"]["list"][1]["definition"])
    queries.append((OBSERVABILITY / "alerts.yaml").read_text())
    return queries


def test_dashboard_and_alerts_only_query_metrics_envoy_shows(gate, idp, keys):
    wait_for_pass(gate, keys.mint(idp.claims()))
    shown = {name for name, _, _ in scrape(gate)}
    queried = {m for q in shipped_queries() for m in METRIC.findall(q)}
    assert len(queried) >= 10, queried
    assert queried <= shown, sorted(queried - shown)


# --- the same labels under Istio ---------------------------------------------------------------

GATEWAY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  template:
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2
"""


@pytest.mark.parametrize("shipped", ["edge.yaml", "gateway.yaml", "identity.yaml"])
def test_every_shipped_envoy_config_has_the_same_stats_tags(shipped):
    edge = yaml.safe_load((REPO / "envoy" / "edge.yaml").read_text())["stats_config"]
    assert yaml.safe_load((REPO / "envoy" / shipped).read_text())["stats_config"] == edge


def test_istio_metrics_component_gives_the_gateway_the_same_stats_tags(tmp_path):
    (tmp_path / "gateway.yaml").write_text(GATEWAY)
    component = Path(os.path.relpath(REPO / "istio" / "components" / "metrics", tmp_path))
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["gateway.yaml"], "components": [str(component)]}))
    docs = render(tmp_path)
    (config_map,) = of_kind(docs, "ConfigMap")
    bootstrap = json.loads(config_map["data"]["custom_bootstrap.json"])
    edge = yaml.safe_load((REPO / "envoy" / "edge.yaml").read_text())["stats_config"]
    assert bootstrap == {"stats_config": edge}
    (gateway,) = of_kind(docs, "Deployment")
    pod = gateway["spec"]["template"]["spec"]
    (proxy,) = pod["containers"]
    override = {e["name"]: e["value"] for e in proxy["env"]}["ISTIO_BOOTSTRAP_OVERRIDE"]
    (mount,) = proxy["volumeMounts"]
    assert override == mount["mountPath"] + "/custom_bootstrap.json"
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
