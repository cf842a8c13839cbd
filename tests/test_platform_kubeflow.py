"""Kubeflow Pipelines end to end with its own client, the `kfp` SDK: real Envoy (2 workers)
with oidc-gate, the real test IdP, and a stand-in for the KFP API server
(support/platform_server.py) that records what it received.

Three ways kfp authenticates, as Kubeflow users run it:
  * a service-account token (the projected token kfp reads in a pod,
    `ServiceAccountTokenVolumeCredentials`, audience `pipelines.kubeflow.org`) from the
    Kubernetes issuer, whose user is its `sub` and whose groups are Kubernetes' own;
  * a user's token from the IdP (`existing_token`);
  * a browser session's cookies (`cookies`).
Without a credential, or with a bad one, kfp raises `ApiException` 401 and the API server
sees nothing. Identity headers the client sends itself never reach the server.
"""
from __future__ import annotations

import json
import time

import kfp
import kfp_server_api
import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser, idp_login
from support.tokens import KeySet, claims_for
from support.upstreams import UpstreamWatch, jwks_route
from test_token_sources import K8S_ISSUER, K8S_JWKS_PATH

NAMESPACE = "kubeflow-user-example-com"
SERVICE_ACCOUNT = f"system:serviceaccount:{NAMESPACE}:default-editor"
KFP_AUDIENCE = "pipelines.kubeflow.org"
PIPELINES = "/pipeline/apis/v2beta1/pipelines"

# kfp warns on every Client() that it needs a v2 server: the stand-in is one.
pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


@pytest.fixture(scope="module")
def sa_keys():
    return KeySet(prefix="sa-")


@pytest.fixture(scope="module")
def kfp_api(module_lab):
    return module_lab.platform()


@pytest.fixture(scope="module")
def gate(module_lab, idp, kfp_api, keys, sa_keys, plugin_wasm):
    k8s = module_lab.static({K8S_JWKS_PATH: jwks_route(sa_keys.public_jwks())})
    config = gate_config(idp, session_cookie_secure=False, extra_issuers=[{
        "issuer": K8S_ISSUER, "cluster": "k8s", "jwks_uri": K8S_ISSUER + K8S_JWKS_PATH,
        "audiences": [KFP_AUDIENCE], "userid_claim": "sub", "serviceaccount_groups": True}])
    envoy = module_lab.envoy(config, app_port=kfp_api.port, idp_port=idp.port,
                             wasm_path=plugin_wasm, extra_clusters={"k8s": k8s.port})
    wait_for_pass(envoy, keys.mint(idp.claims()))
    wait_for_pass(envoy, service_account_token(sa_keys))
    return envoy


def host(gate) -> str:
    """Where Kubeflow's gateway serves the pipelines API."""
    return f"http://127.0.0.1:{gate.port}/pipeline"


def service_account_token(sa_keys) -> str:
    """A projected service-account token, as the kubelet writes it for kfp in a pod."""
    claims = claims_for(K8S_ISSUER, aud=[KFP_AUDIENCE], sub=SERVICE_ACCOUNT, email=None,
                        groups=None, lifetime=3600)
    claims["kubernetes.io"] = {"namespace": NAMESPACE,
                               "serviceaccount": {"name": "default-editor", "uid": "0c5e"}}
    return sa_keys.mint(claims)


def last_call(kfp_api, path: str = PIPELINES) -> dict:
    """The headers the KFP API server received with its latest call to `path`."""
    calls = [r for r in kfp_api.requests() if r["path"].split("?")[0] == path]
    assert calls, f"no call to {path} reached the API server"
    return calls[-1]["headers"]


def test_a_service_account_token_lists_pipelines_as_the_service_account(
        gate, kfp_api, sa_keys, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(service_account_token(sa_keys))
    client = kfp.Client(host=host(gate), namespace=NAMESPACE,
                        credentials=kfp.client.ServiceAccountTokenVolumeCredentials(str(token_file)))
    pipelines = client.list_pipelines().pipelines
    assert [p.display_name for p in pipelines] == ["train"]
    seen = last_call(kfp_api)
    assert seen["kubeflow-userid"] == SERVICE_ACCOUNT
    assert seen["kubeflow-groups"] == f"system:serviceaccounts,system:serviceaccounts:{NAMESPACE}"


def test_a_users_token_from_the_idp_passes_the_health_check_and_lists_pipelines(gate, idp, kfp_api):
    token = idp_login(idp, "alice")["id_token"]
    # Without a namespace, kfp first asks the server's health whether it is multi-user.
    client = kfp.Client(host=host(gate), existing_token=token)
    assert client.get_kfp_healthz().multi_user is True
    assert client.list_pipelines().total_size == 1
    assert last_call(kfp_api, "/pipeline/apis/v2beta1/healthz")["kubeflow-userid"] == "alice@example.com"
    seen = last_call(kfp_api)
    assert seen["kubeflow-userid"] == "alice@example.com"
    assert seen["authorization"] == f"Bearer {token}"


def test_a_browser_sessions_cookies_list_pipelines_as_the_signed_in_user(gate, kfp_api):
    browser = Browser()
    landing = browser.follow(f"{host(gate)}/", user="alice")
    assert landing.status == 200, landing
    cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    client = kfp.Client(host=host(gate), namespace=NAMESPACE, cookies=cookies)
    assert client.list_pipelines().total_size == 1
    seen = last_call(kfp_api)
    assert seen["kubeflow-userid"] == "alice@example.com"
    # The gateway's own session cookie stays with the gateway.
    assert "authservice_session" not in seen.get("cookie", "")


def test_an_identity_header_kfp_is_told_to_send_never_reaches_the_server(
        gate, kfp_api, sa_keys, tmp_path, monkeypatch):
    # kfp's context file (`kfp` CLI) adds a header to every call: here a forged identity.
    context = tmp_path / "context.json"
    context.write_text(json.dumps({"namespace": NAMESPACE,
                                   "client_authentication_header_name": "kubeflow-userid",
                                   "client_authentication_header_value": "admin@example.com"}))
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(context))
    client = kfp.Client(host=host(gate), existing_token=service_account_token(sa_keys))
    assert client.list_pipelines().total_size == 1
    assert last_call(kfp_api)["kubeflow-userid"] == SERVICE_ACCOUNT


def expired_service_account_token(sa_keys) -> str:
    now = int(time.time())
    return sa_keys.mint(claims_for(K8S_ISSUER, aud=[KFP_AUDIENCE], sub=SERVICE_ACCOUNT,
                                   email=None, groups=None, iat=now - 7200, nbf=now - 7200,
                                   exp=now - 3600))


@pytest.mark.parametrize("credential", ["none", "expired", "other_audience", "garbage"])
def test_without_a_valid_credential_kfp_raises_401_and_the_server_sees_nothing(
        gate, kfp_api, sa_keys, credential):
    token = {
        "none": None,
        "expired": expired_service_account_token(sa_keys),
        "other_audience": sa_keys.mint(claims_for(K8S_ISSUER, aud=["other"], sub=SERVICE_ACCOUNT,
                                                  email=None, groups=None)),
        "garbage": "not-a-token",
    }[credential]
    client = kfp.Client(host=host(gate), namespace=NAMESPACE, existing_token=token)
    with UpstreamWatch(kfp_api), pytest.raises(kfp_server_api.ApiException) as refused:
        client.list_pipelines()
    assert refused.value.status == 401
    challenge = refused.value.headers["WWW-Authenticate"]
    assert challenge == "Bearer" if token is None else 'error="invalid_token"' in challenge
