"""extra_issuers: bearer-only issuers next to the main IdP. A token claiming one issuer but
signed with another's key is refused, and so is a valid signature from an issuer nobody
configured (an invalid token, never "no token").

Two extra issuers are configured:
  * a Kubernetes-style service-account issuer: `https://kubernetes.default.svc.cluster.local`
    with an explicit `jwks_uri`, served by a static server behind cluster `k8s`, user id from
    `sub`;
  * a second real IdP found by discovery (no `jwks_uri`), behind cluster `idp2`. Its keys use
    the SAME kids as the main IdP (rsa-1, ec-1, ...) so that a filter that pools keys by kid
    across issuers is caught.
"""

import pytest

from support.gate import assert_invalid_token, gate_config, wait_for_pass
from support.tokens import KeySet, claims_for
from support.upstreams import UpstreamWatch, jwks_route

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
K8S_JWKS_PATH = "/openid/v1/jwks"
K8S_AUD = "oidc-gate"
SA_USER = "system:serviceaccount:kubeflow-user:default-editor"


@pytest.fixture(scope="module")
def sa_keys():
    return KeySet(prefix="sa-")


@pytest.fixture(scope="module")
def idp2_keys():
    return KeySet()  # same kids as the main IdP's, different keys


@pytest.fixture(scope="module")
def k8s(module_lab, sa_keys):
    return module_lab.static({K8S_JWKS_PATH: jwks_route(sa_keys.public_jwks())})


@pytest.fixture(scope="module")
def idp2(module_lab, idp2_keys):
    return module_lab.idp(idp2_keys)


def sa_claims(**kw):
    kw.setdefault("aud", [K8S_AUD])
    kw.setdefault("sub", SA_USER)
    return claims_for(K8S_ISSUER, email=None, groups=None,
                      **{"kubernetes.io": {"namespace": "kubeflow-user",
                                           "serviceaccount": {"name": "default-editor"}}}, **kw)


@pytest.fixture(scope="module")
def gate(module_lab, idp, idp2, k8s, echo, keys, sa_keys, idp2_keys, plugin_wasm):
    config = gate_config(idp, extra_issuers=[
        {"issuer": K8S_ISSUER, "cluster": "k8s", "jwks_uri": K8S_ISSUER + K8S_JWKS_PATH,
         "audiences": [K8S_AUD], "userid_claim": "sub"},
        {"issuer": idp2.issuer, "cluster": "idp2", "audiences": ["other-app"]},
    ])
    envoy = module_lab.envoy(config, app_port=echo.port, idp_port=idp.port, wasm_path=plugin_wasm,
                             extra_clusters={"k8s": k8s.port, "idp2": idp2.port})
    wait_for_pass(envoy, keys.mint(idp.claims()))
    wait_for_pass(envoy, sa_keys.mint(sa_claims()))
    wait_for_pass(envoy, idp2_keys.mint(claims_for(idp2.issuer, aud="other-app")))
    return envoy


def test_service_account_token_passes_with_sub_as_user(gate, sa_keys):
    r = gate.request("GET", "/api/x", [("Authorization", f"Bearer {sa_keys.mint(sa_claims())}"),
                                       ("kubeflow-groups", "admin")])
    headers = r.upstream["headers"]
    assert headers["kubeflow-userid"] == SA_USER
    assert headers.get("kubeflow-groups", "") == ""  # no groups claim: never the client's value


def test_service_account_jwks_fetched_from_its_cluster(gate, k8s):
    assert k8s.hits().get(K8S_JWKS_PATH, 0) >= 1


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_second_idp_token_passes(gate, idp2, idp2_keys, alg):
    token = idp2_keys.mint(claims_for(idp2.issuer, aud="other-app", email="carol@example.com", groups=["g"]), alg=alg)
    headers = gate.get("/api/x", token).upstream["headers"]
    assert headers["kubeflow-userid"] == "carol@example.com"
    assert headers["kubeflow-groups"] == "g"


def _cross_signed(idp, idp2, keys, sa_keys, idp2_keys):
    return {
        # iss = main IdP, signed by the SA issuer's key (kid sa-rsa-1, only in the k8s JWKS)
        "main_iss_sa_key": sa_keys.mint(claims_for(idp.issuer)),
        # iss = SA issuer, signed by the main IdP's key (kid rsa-1)
        "sa_iss_main_key": keys.mint(sa_claims()),
        # iss = main IdP, signed by idp2's rsa-1 (same kid as the main IdP's rsa-1)
        "main_iss_idp2_key_same_kid": idp2_keys.mint(claims_for(idp.issuer)),
        # iss = idp2, signed by the main IdP's rsa-1 (same kid again)
        "idp2_iss_main_key_same_kid": keys.mint(claims_for(idp2.issuer, aud="other-app")),
        # audiences are per issuer
        "sa_token_with_main_audience": sa_keys.mint(sa_claims(aud=["demo-app"])),
        "main_token_with_sa_audience": keys.mint(claims_for(idp.issuer, aud=[K8S_AUD])),
        "idp2_token_with_main_audience": idp2_keys.mint(claims_for(idp2.issuer, aud="demo-app")),
        "sa_issuer_trailing_slash": sa_keys.mint(sa_claims(iss=K8S_ISSUER + "/")),
    }


CROSS = ["main_iss_sa_key", "sa_iss_main_key", "main_iss_idp2_key_same_kid", "idp2_iss_main_key_same_kid",
         "sa_token_with_main_audience", "main_token_with_sa_audience", "idp2_token_with_main_audience",
         "sa_issuer_trailing_slash"]


@pytest.mark.parametrize("case", CROSS)
def test_issuer_key_binding(gate, echo, idp, idp2, keys, sa_keys, idp2_keys, case):
    token = _cross_signed(idp, idp2, keys, sa_keys, idp2_keys)[case]
    with UpstreamWatch(echo):
        r = gate.get("/api/x", token)
    assert_invalid_token(r, token)
