"""DataHub end to end with its own client, `acryl-datahub`'s `DataHubGraph`: real Envoy (2
workers) with oidc-gate, the real test IdP, and a stand-in for DataHub GMS behind the frontend's
`/api/gms` (support/platform_server.py) that records what it received.

The client authenticates with a personal access token that DataHub signs HS256 itself (issuer
`datahub-metadata-service`, the user in `actorId`), accepted through a pinned secret; a
browser signed in at the IdP reaches the same API with its session. `test_connection()` (GET
/config) succeeds as the token's user; without a valid token it fails with DataHub's
authentication error and GMS sees nothing. A forged identity header from the client's
`extra_headers` never arrives.
"""
from __future__ import annotations

import os

import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser
from support.upstreams import UpstreamWatch
from test_datahub_tokens import (OTHER_SECRET, SECRET, SECRET_ENV, datahub_claims, datahub_issuer,
                                 datahub_token)

# Before datahub is imported: it reads this once, and would otherwise report usage to a
# third-party service from the tests.
os.environ["DATAHUB_TELEMETRY_ENABLED"] = "false"
from datahub.configuration.common import ConfigurationError  # noqa: E402
from datahub.ingestion.graph.client import DataHubGraph, DatahubClientConfig  # noqa: E402

CONFIG = "/api/gms/config"


@pytest.fixture(scope="module")
def gms(module_lab):
    return module_lab.platform()


@pytest.fixture(scope="module")
def gate(module_lab, idp, gms, keys, plugin_wasm):
    config = gate_config(idp, session_cookie_secure=False, extra_issuers=[datahub_issuer()])
    envoy = module_lab.envoy(config, app_port=gms.port, idp_port=idp.port, wasm_path=plugin_wasm,
                             env={SECRET_ENV: SECRET})
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


def graph(gate, token: str | None, **extra) -> DataHubGraph:
    return DataHubGraph(DatahubClientConfig(server=f"http://127.0.0.1:{gate.port}/api/gms",
                                            token=token, **extra))


def last_config_call(gms) -> dict:
    calls = [r for r in gms.requests() if r["path"] == CONFIG]
    assert calls, "no call reached GMS"
    return calls[-1]["headers"]


def test_a_personal_access_token_connects_as_its_actor(gate, gms):
    token = datahub_token(datahub_claims("jdoe"))
    client = graph(gate, token, extra_headers={"kubeflow-userid": "admin"})
    client.test_connection()
    assert client.server_config.raw_config["noCode"] == "true"
    seen = last_config_call(gms)
    assert seen["kubeflow-userid"] == "jdoe"
    assert seen["authorization"] == f"Bearer {token}"


def test_a_signed_in_browser_reaches_the_same_api_as_its_user(gate, gms):
    base = f"http://127.0.0.1:{gate.port}"
    browser = Browser()
    assert browser.follow(f"{base}/", user="alice").status == 200
    r = browser.get(f"{base}{CONFIG}", headers={"accept": "application/json"}, navigate=False)
    assert r.status == 200, r
    assert last_config_call(gms)["kubeflow-userid"] == "alice@example.com"


@pytest.mark.parametrize("token", [
    None,
    datahub_token(key=OTHER_SECRET),
    datahub_token(datahub_claims(lifetime=-120)),
], ids=["no_token", "another_secret", "expired"])
def test_without_a_valid_token_the_client_reports_an_authentication_error(gate, gms, token):
    with UpstreamWatch(gms), pytest.raises(ConfigurationError, match="authentication error"):
        graph(gate, token).test_connection()
