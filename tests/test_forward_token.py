"""Tokens handed upstream (`forward_token`), through real Envoys (2 workers) and the real test
IdP. Amundsen's frontend calls its metadata service with the signed-in user's token: here a
session user's request crosses a gateway in session mode, which forwards the session's token,
and then a second gateway that only takes bearer tokens (service to service), which accepts it.
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser

USERS = {"alice": {"groups": ["ml-team"]}}
# The service behind is an API: it never sends anyone to the IdP.
API_ONLY = [{"path_glob": "/**", "unauthenticated": "401"}]


@pytest.fixture(scope="module")
def fwd_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": USERS})


def start(lab, idp, keys, plugin_wasm, app_port, **overrides):
    config = gate_config(idp, session_cookie_secure=False, **overrides)
    envoy = lab.envoy(config, app_port=app_port, idp_port=idp.port, wasm_path=plugin_wasm)
    return envoy


def signed_in(envoy) -> Browser:
    browser = Browser()
    landing = browser.follow(f"http://127.0.0.1:{envoy.port}/home", user="alice")
    assert landing.status == 200, landing
    return browser


def api(envoy, browser):
    r = browser.get(f"http://127.0.0.1:{envoy.port}/api/x", headers={"accept": "application/json"},
                    navigate=False)
    assert r.status == 200, r
    return {k.lower(): v for k, v in json.loads(r.body)["headers"].items()}


def test_a_session_users_id_token_is_accepted_by_a_bearer_only_service_behind(
        module_lab, fwd_idp, echo, keys, plugin_wasm):
    service = start(module_lab, fwd_idp, keys, plugin_wasm, echo.port, rules=API_ONLY)
    wait_for_pass(service, keys.mint(fwd_idp.claims()))
    frontend = start(module_lab, fwd_idp, keys, plugin_wasm, service.port,
                     forward_token={"session": "id_token"})
    seen = api(frontend, signed_in(frontend))
    assert seen["authorization"].startswith("Bearer ey")
    # The second gateway verified it and says who it is.
    assert seen["kubeflow-userid"] == "alice@example.com"
    assert seen["kubeflow-groups"] == "ml-team"


def test_without_forwarding_the_service_behind_refuses_the_session_users_call(
        module_lab, fwd_idp, echo, keys, plugin_wasm):
    service = start(module_lab, fwd_idp, keys, plugin_wasm, echo.port, rules=API_ONLY)
    wait_for_pass(service, keys.mint(fwd_idp.claims()))
    frontend = start(module_lab, fwd_idp, keys, plugin_wasm, service.port)
    browser = Browser()
    landing = browser.follow(f"http://127.0.0.1:{frontend.port}/home", user="alice")
    assert landing.status == 401, landing


def test_the_access_token_forwarded_is_the_one_the_idp_issued(
        module_lab, fwd_idp, echo, keys, plugin_wasm):
    gate = start(module_lab, fwd_idp, keys, plugin_wasm, echo.port,
                 forward_token={"session": "access_token", "header": "x-forwarded-access-token",
                                "scheme": ""})
    seen = api(gate, signed_in(gate))
    token = seen["x-forwarded-access-token"]
    discovery = json.load(urllib.request.urlopen(f"{fwd_idp.issuer}/.well-known/openid-configuration"))
    request = urllib.request.Request(discovery["userinfo_endpoint"],
                                     headers={"Authorization": f"Bearer {token}"})
    userinfo = json.load(urllib.request.urlopen(request))
    assert userinfo["sub"] == "alice"


def test_a_bearer_token_goes_on_as_it_came_unless_told_to_strip_it(
        module_lab, fwd_idp, echo, keys, plugin_wasm):
    token = keys.mint(fwd_idp.claims())
    passing = start(module_lab, fwd_idp, keys, plugin_wasm, echo.port)
    stripping = start(module_lab, fwd_idp, keys, plugin_wasm, echo.port,
                      forward_token={"bearer": "strip"})
    for envoy in (passing, stripping):
        wait_for_pass(envoy, token)
    kept = passing.get("/api/x", token).upstream["headers"]
    assert kept["authorization"] == f"Bearer {token}"
    stripped = {k.lower() for k in stripping.get("/api/x", token).upstream["headers"]}
    assert "authorization" not in stripped and "kubeflow-userid" in stripped
