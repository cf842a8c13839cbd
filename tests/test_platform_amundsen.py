"""Amundsen end to end: its frontend (a Flask app in the flaskoidc style,
support/amundsen_app.py) behind a gateway in session mode that forwards the signed-in user's
token (`forward_token`), calling its metadata service behind a second, bearer-only gateway
that accepts that token; both real Envoys (2 workers) with oidc-gate and the real test IdP. The
metadata service is the echo upstream, which records what it received.

A signed-in user's request reaches the frontend as that user, and the frontend's call reaches
the metadata service as the same user, identified by the second gateway from the forwarded
token; an identity header from the browser changes nothing. Without a session the frontend's
API answers 401 from the gateway and neither service sees anything.
"""
from __future__ import annotations

import json

import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser
from support.upstreams import AmundsenFrontend, UpstreamWatch
from test_forward_token import API_ONLY

USER_API = "/api/metadata/v0/user"


@pytest.fixture(scope="module")
def metadata_gate(module_lab, idp, echo, keys, plugin_wasm):
    envoy = module_lab.envoy(gate_config(idp, rules=API_ONLY), app_port=echo.port,
                             idp_port=idp.port, wasm_path=plugin_wasm)
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


@pytest.fixture(scope="module")
def frontend(module_lab, metadata_gate):
    app = AmundsenFrontend(module_lab.workdir, f"http://127.0.0.1:{metadata_gate.port}",
                           module_lab.unique_name("amundsen"))
    return module_lab.own(app).start()


@pytest.fixture(scope="module")
def frontend_gate(module_lab, idp, frontend, plugin_wasm):
    config = gate_config(idp, session_cookie_secure=False, forward_token={"session": "id_token"})
    return module_lab.envoy(config, app_port=frontend.port, idp_port=idp.port,
                            wasm_path=plugin_wasm)


def user_api(gate, browser: Browser, headers: dict | None = None):
    return browser.get(f"http://127.0.0.1:{gate.port}{USER_API}", navigate=False,
                       headers={"accept": "application/json", **(headers or {})})


def test_the_frontend_calls_the_metadata_service_as_the_signed_in_user(frontend_gate, echo):
    browser = Browser()
    landing = browser.follow(f"http://127.0.0.1:{frontend_gate.port}/", user="alice")
    assert landing.status == 200 and b"<h1>Amundsen</h1>" in landing.body, landing
    r = user_api(frontend_gate, browser, {"kubeflow-userid": "admin@example.com"})
    assert r.status == 200, r
    answer = json.loads(r.body)
    assert answer["user"] == "alice@example.com"
    metadata = answer["metadata"]
    assert metadata["path"] == "/user/alice@example.com"
    assert metadata["headers"]["kubeflow-userid"] == "alice@example.com"
    assert metadata["headers"]["authorization"].startswith("Bearer ey")


def test_without_a_session_neither_service_sees_the_call(frontend_gate, frontend, echo):
    with UpstreamWatch(frontend), UpstreamWatch(echo):
        r = user_api(frontend_gate, Browser())
    assert r.status == 401, r
