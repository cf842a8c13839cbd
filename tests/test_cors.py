"""CORS preflights through a real Envoy: with `allow_cors_preflight`, a browser's bare
preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`, never a credential)
reaches the upstream, which owns its CORS policy, without any identity; everything else is
checked as usual. Off by default."""
import pytest

from support.gate import gate_config, wait_for_pass
from support.upstreams import UpstreamWatch

ORIGIN = ("Origin", "https://notebooks.example.com")
PREFLIGHT = [ORIGIN, ("Access-Control-Request-Method", "POST"),
             ("Access-Control-Request-Headers", "content-type, authorization")]


def start(lab, idp, echo, keys, plugin_wasm, **overrides):
    envoy = lab.envoy(gate_config(idp, **overrides), app_port=echo.port, idp_port=idp.port,
                      wasm_path=plugin_wasm)
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


@pytest.fixture(scope="module")
def gates(module_lab, idp, echo, keys, plugin_wasm):
    on = start(module_lab, idp, echo, keys, plugin_wasm, allow_cors_preflight=True)
    off = start(module_lab, idp, echo, keys, plugin_wasm)
    return on, off


@pytest.mark.parametrize("spoof", ["kubeflow-userid", "kubeflow_userid", "Kubeflow.Groups"])
def test_a_bare_preflight_reaches_the_upstream_without_identity(gates, spoof):
    on, _ = gates
    r = on.request("OPTIONS", "/api/pipelines?x=1", PREFLIGHT + [(spoof, "admin@example.com")])
    assert r.status == 200, r
    seen = r.upstream
    assert seen["method"] == "OPTIONS" and seen["path"] == "/api/pipelines?x=1"
    names = {name.lower() for name in seen["headers"]}
    assert not names & {"kubeflow-userid", "kubeflow-groups", "kubeflow_userid", "kubeflow.groups"}
    assert sum(on.stats("allowed.reason.cors_preflight").values()) >= 1


def test_preflights_are_checked_like_any_request_when_not_allowed(gates, echo):
    _, off = gates
    with UpstreamWatch(echo):
        assert off.request("OPTIONS", "/api/x", PREFLIGHT).status == 401


@pytest.mark.parametrize("headers", [
    [ORIGIN],  # no Access-Control-Request-Method: an ordinary OPTIONS request
    [("Access-Control-Request-Method", "POST")],  # no Origin
    PREFLIGHT + [("Authorization", "Bearer not.a.token")],  # a credential is checked
    PREFLIGHT + [("Cookie", "authservice_session=forged")],
], ids=["no-request-method", "no-origin", "bad-bearer", "forged-cookie"])
def test_anything_but_a_bare_preflight_needs_a_credential(gates, echo, headers):
    on, _ = gates
    with UpstreamWatch(echo):
        assert on.request("OPTIONS", "/api/x", headers).status == 401


def test_the_request_after_the_preflight_is_authenticated(gates, echo, idp, keys):
    on, _ = gates
    with UpstreamWatch(echo):
        assert on.request("POST", "/api/x", [ORIGIN], body=b"{}").status == 401
    token = keys.mint(idp.claims())
    r = on.request("POST", "/api/x", [ORIGIN, ("Authorization", f"Bearer {token}")], body=b"{}")
    assert r.status == 200 and r.upstream["headers"]["kubeflow-userid"] == "alice@example.com"
