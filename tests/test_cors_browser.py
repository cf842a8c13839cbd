"""A real browser's CORS preflight through the gateway. A page on another origin (another
127.0.0.1 port) calls an API behind Envoy with a POST carrying a JSON body and a bearer token,
so Chromium first sends a bare preflight (OPTIONS with Origin and Access-Control-Request-*,
never the token). The upstream owns its CORS policy (the echo upstream with --cors-origin);
with `allow_cors_preflight` the gateway lets the preflight through without any identity and
checks the real request as usual."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from support import TESTS_DIR
from support.gate import gate_config, wait_for_pass

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup.sh")

PAGE = (TESTS_DIR / "fixtures" / "cors" / "app.html").read_text()
IDENTITY = {"kubeflow-userid", "kubeflow-groups"}
# What Chromium writes to the page's console when it blocks a response; the page itself only
# gets "TypeError: Failed to fetch" whichever check failed.
PREFLIGHT_REFUSED = "Response to preflight request doesn't pass access control check"
NOT_READABLE = "No 'Access-Control-Allow-Origin' header is present"


@pytest.fixture(scope="module")
def page(module_lab):
    """The other origin's app: a static page whose script calls the API."""
    return module_lab.static({"/app.html": {"status": 200, "content_type": "text/html; charset=utf-8",
                                            "body": PAGE}})


@pytest.fixture(scope="module")
def api(module_lab, page):
    """The upstream behind the gateway, whose CORS policy lets the page's origin call it."""
    return module_lab.echo(cors_origin=page.url(""))


@pytest.fixture(scope="module")
def gates(module_lab, idp, api, keys, plugin_wasm):
    def start(**overrides):
        envoy = module_lab.envoy(gate_config(idp, **overrides), app_port=api.port,
                                 idp_port=idp.port, wasm_path=plugin_wasm)
        wait_for_pass(envoy, keys.mint(idp.claims()))
        return envoy
    return {"on": start(allow_cors_preflight=True), "off": start()}


def call_api(page, gate, token: str | None) -> dict:
    """Chromium opens the page and its script POSTs to the gateway: what the driver saw."""
    args = [page.url("/app.html"), f"http://127.0.0.1:{gate.port}/api/runs"]
    if token is not None:
        args += ["--token", token]
    proc = subprocess.run(["node", str(TESTS_DIR / "idp" / "cors.mjs"), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"browser driver failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def upstream_saw(api) -> list[dict]:
    """The requests the upstream received since the last reset, with lowercase header names."""
    return [r for r in api.requests() if r["path"] == "/api/runs"]


@pytest.fixture(autouse=True)
def fresh_upstream(api):
    api.reset()


def assert_bare_preflight(seen: dict, page, token: str | None) -> None:
    """What the upstream got was Chromium's preflight, without any identity or credential."""
    assert seen["method"] == "OPTIONS", seen
    headers = seen["headers"]
    assert headers["origin"] == page.url("")
    assert headers["access-control-request-method"] == "POST"
    asked = {name.strip() for name in headers["access-control-request-headers"].split(",")}
    assert asked == ({"authorization", "content-type"} if token else {"content-type"})
    assert not IDENTITY & set(headers), f"identity reached the upstream on the preflight: {headers}"
    assert "authorization" not in headers and "cookie" not in headers


def test_with_preflights_allowed_the_page_calls_the_api_as_the_tokens_user(gates, page, api, idp, keys):
    token = keys.mint(idp.claims(sub="carol", email="carol@example.com", groups=["ml-team"]))
    result = call_api(page, gates["on"], token)
    assert result["fetch"]["ok"] and result["fetch"]["status"] == 200, result
    answer = json.loads(result["fetch"]["body"])
    assert answer["method"] == "POST"
    assert answer["headers"]["kubeflow-userid"] == "carol@example.com"
    assert answer["headers"]["kubeflow-groups"] == "ml-team"
    assert {"method": "OPTIONS", "status": 204} in result["network"], result
    preflight, call = upstream_saw(api)
    assert_bare_preflight(preflight, page, token)
    assert call["method"] == "POST" and call["headers"]["kubeflow-userid"] == "carol@example.com"
    assert sum(gates["on"].stats("allowed.reason.cors_preflight").values()) >= 1


def test_by_default_the_preflight_gets_401_and_the_browser_blocks_the_call(gates, page, api, idp, keys):
    # A valid token, which the browser never gets to send.
    result = call_api(page, gates["off"], keys.mint(idp.claims()))
    assert result["fetch"] == {"ok": False, "error": "TypeError: Failed to fetch"}, result
    # Chromium reports the POST it was asked for, but never sends it: it gets no status.
    assert sorted(result["network"], key=lambda r: r["method"]) == [
        {"method": "OPTIONS", "status": 401}, {"method": "POST", "status": None}], result
    assert any(PREFLIGHT_REFUSED in line for line in result["console"]), result
    assert upstream_saw(api) == [], "the preflight or the call reached the upstream"


@pytest.mark.parametrize("credential", ["absent", "malformed", "unknown-signer"])
def test_with_preflights_allowed_a_call_without_a_valid_token_gets_401(
        gates, page, api, idp, attacker_keys, credential):
    token = {"absent": None, "malformed": "not.a.token",
             "unknown-signer": attacker_keys.mint(idp.claims())}[credential]
    result = call_api(page, gates["on"], token)
    # The preflight passed (the upstream answered it), so the browser sent the POST; the
    # gateway's 401 carries no Access-Control-Allow-Origin (only the upstream sets CORS
    # headers), so the page cannot read it: fetch rejects as for a network error. The 401
    # itself is seen from outside the page (the driver's network log), and the console says
    # the response, not the preflight, was blocked.
    assert result["fetch"] == {"ok": False, "error": "TypeError: Failed to fetch"}, result
    assert sorted(result["network"], key=lambda r: r["method"]) == [
        {"method": "OPTIONS", "status": 204}, {"method": "POST", "status": 401}], result
    assert any(NOT_READABLE in line for line in result["console"]), result
    assert not any(PREFLIGHT_REFUSED in line for line in result["console"]), result
    [preflight] = upstream_saw(api)
    assert_bare_preflight(preflight, page, token)
