"""Where tokens come from and what identity they give, through a real Envoy (2 workers), the
real test IdP and a Kubernetes-style service-account issuer:
  * `token_headers`: Flyte's clients send `flyte-authorization: Bearer <token>`; one token per
    request, the same in every header that carries one, else 400;
  * `userid_claim` as a fallback list (a client-credentials token has no `email`, so its
    `sub` is the user), `groups_claim` merged from several claims and nested paths;
  * `claim_headers` (oauth2-proxy's `X-Auth-Request-*`), for bearer tokens and sessions, and
    never from the client in any spelling;
  * `serviceaccount_groups`: a service-account token gets the groups Kubernetes gives it, so
    a groups allowlist does not lock it out.
"""
from __future__ import annotations

import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser
from support.tokens import KeySet, claims_for
from support.upstreams import UpstreamWatch, jwks_route

USERS = {"alice": {"groups": ["ml-team"], "roles": ["admin"]}}
K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
K8S_JWKS_PATH = "/openid/v1/jwks"
CLAIM_HEADERS = {"x-auth-request-email": "email", "x-auth-request-user": "name",
                 "x-auth-request-roles": "realm_access.roles"}


@pytest.fixture(scope="module")
def sa_keys():
    return KeySet(prefix="sa-")


@pytest.fixture(scope="module")
def sources_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": USERS})


@pytest.fixture(scope="module")
def gate(module_lab, sources_idp, echo, keys, sa_keys, plugin_wasm):
    k8s = module_lab.static({K8S_JWKS_PATH: jwks_route(sa_keys.public_jwks())})
    config = gate_config(
        sources_idp, session_cookie_secure=False,
        token_headers=["authorization", "flyte-authorization"],
        userid_claim=["email", "preferred_username", "sub"],
        groups_claim=["groups", "realm_access.roles"],
        claim_headers=CLAIM_HEADERS,
        scopes=["openid", "email", "profile", "groups", "roles"],
        groups_allowlist=["ml-team", "admin", "flyte-service", "system:serviceaccounts:ml"],
        extra_issuers=[{"issuer": K8S_ISSUER, "cluster": "k8s",
                        "jwks_uri": K8S_ISSUER + K8S_JWKS_PATH, "audiences": ["oidc-gate"],
                        "userid_claim": "sub", "groups_claim": "groups",
                        "serviceaccount_groups": True}])
    envoy = module_lab.envoy(config, app_port=echo.port, idp_port=sources_idp.port,
                             wasm_path=plugin_wasm, extra_clusters={"k8s": k8s.port})
    wait_for_pass(envoy, keys.mint(sources_idp.claims(groups=["ml-team"])))
    return envoy


def seen(response) -> dict:
    return {k.lower(): v for k, v in response.upstream["headers"].items()}


def client_credentials(idp, **extra):
    """A machine token from the client-credentials grant: no email, the client as `sub`."""
    return idp.claims(email=None, sub="flytepropeller", groups=["flyte-service"], **extra)


def test_flyte_clients_send_their_token_in_flyte_authorization(gate, keys, sources_idp):
    token = keys.mint(client_credentials(sources_idp, scope="all"))
    r = gate.request("GET", "/flyteidl.service.AdminService/ListProjects",
                     [("flyte-authorization", f"Bearer {token}")])
    assert r.status == 200, r
    assert seen(r)["kubeflow-userid"] == "flytepropeller"
    assert seen(r)["kubeflow-groups"] == "flyte-service"
    assert "x-auth-request-email" not in seen(r)


def test_one_token_in_two_headers_passes_and_two_different_tokens_are_refused(
        gate, echo, keys, sources_idp):
    alice = keys.mint(sources_idp.claims(groups=["ml-team"]))
    mallory = keys.mint(sources_idp.claims(email="mallory@example.com", groups=["ml-team"]))
    same = [("Authorization", f"Bearer {alice}"), ("Flyte-Authorization", f"bearer {alice}")]
    assert gate.request("GET", "/api/x", same).status == 200
    with UpstreamWatch(echo):
        two = [("Authorization", f"Bearer {alice}"), ("flyte-authorization", f"Bearer {mallory}")]
        r = gate.request("GET", "/api/x", two)
        assert r.status == 400, r
        twice = [("flyte-authorization", f"Bearer {alice}")] * 2
        assert gate.request("GET", "/api/x", twice).status == 401
        # Basic credentials are not ours: the Flyte header's token counts alone.
        bad = [("Authorization", "Basic dTpw"), ("flyte-authorization", "Bearer not.a.token")]
        assert gate.request("GET", "/api/x", bad).status == 401


def test_groups_merge_from_several_claims_and_claim_headers_reach_the_upstream(
        gate, keys, sources_idp):
    token = keys.mint(sources_idp.claims(groups=["dev"], name="Alice A.",
                                         realm_access={"roles": ["admin", "dev"]}))
    r = gate.request("GET", "/api/x", [("Authorization", f"Bearer {token}")])
    assert r.status == 200, r
    headers = seen(r)
    assert headers["kubeflow-groups"] == "dev,admin"
    assert headers["x-auth-request-email"] == "alice@example.com"
    assert headers["x-auth-request-user"] == "Alice A."
    assert headers["x-auth-request-roles"] == "admin,dev"


@pytest.mark.parametrize("spoof", ["X-Auth-Request-Email", "x_auth_request_email",
                                   "X.Auth.Request.Email", "x-auth-request-roles"])
def test_claim_headers_from_the_client_never_reach_the_upstream(gate, keys, sources_idp, spoof):
    token = keys.mint(sources_idp.claims(groups=["ml-team"], email=None, sub="no-email"))
    r = gate.request("GET", "/api/x", [("Authorization", f"Bearer {token}"),
                                       (spoof, "ceo@example.com")])
    assert r.status == 200, r
    names = {name.lower() for name in seen(r)}
    assert spoof.lower() not in names
    assert "x-auth-request-email" not in names


def test_a_session_user_gets_the_claim_headers_of_the_login(gate):
    base = f"http://127.0.0.1:{gate.port}"
    browser = Browser()
    assert browser.follow(f"{base}/home", user="alice").status == 200
    r = browser.get(f"{base}/api/x", headers={"accept": "application/json"}, navigate=False)
    assert r.status == 200, r
    body = r.body.decode()
    for expected in ['"x-auth-request-email": "alice@example.com"',
                     '"x-auth-request-roles": "admin"', '"kubeflow-groups": "ml-team,admin"']:
        assert expected.lower() in body.lower(), (expected, body)


def test_service_account_tokens_get_kubernetes_groups_and_pass_the_allowlist(gate, sa_keys):
    def sa_token(sub):
        claims = claims_for(K8S_ISSUER, aud=["oidc-gate"], sub=sub, email=None, groups=None)
        return [("Authorization", f"Bearer {sa_keys.mint(claims)}")]

    wait_for_pass(gate, sa_keys.mint(claims_for(K8S_ISSUER, aud=["oidc-gate"], email=None,
                                                 groups=None, sub="system:serviceaccount:ml:x")))
    r = gate.request("GET", "/api/x", sa_token("system:serviceaccount:ml:pipeline-runner"))
    assert r.status == 200, r
    assert seen(r)["kubeflow-groups"] == "system:serviceaccounts,system:serviceaccounts:ml"
    assert gate.request("GET", "/api/x", sa_token("system:serviceaccount:other:x")).status == 403
