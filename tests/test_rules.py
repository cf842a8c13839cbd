"""Policy per host, path and method (`rules`) through a real Envoy (2 workers) and the real
test IdP: the first matching rule wins; `allow` passes without identity, `deny` answers 403,
`authenticate` rules add their own groups, scopes and claims and may say how a request
without a credential is answered. Every path check is tried with the spellings an attacker
would use (escapes, `..;`, dot segments, case) and must hold for each."""
from __future__ import annotations

import pytest

from support.deploy import check_config
from support.gate import gate_config, wait_for_pass
from support.login import Browser
from support.upstreams import UpstreamWatch

USERS = {"alice": {"groups": ["ml-admin", "dev"], "roles": ["admin"]},
         "bob": {"groups": ["dev"], "roles": ["viewer"]}}
RULES = [
    {"path_prefix": "/public/admin", "action": "deny"},
    {"path_prefix": "/public", "action": "allow"},
    {"path_glob": "/static/**/*.bundle.js", "action": "allow"},
    {"path_glob": "/static/**", "groups_allowlist": ["dev"]},
    {"path_glob": "/favicon*", "action": "allow"},
    {"path_exact": "/metrics", "action": "deny"},
    {"path_prefix": "/pipeline", "groups_allowlist": ["ml-admin"]},
    {"path_prefix": "/admin", "required_claims": {"realm_access.roles": ["admin"]}},
    {"path_prefix": "/scoped", "required_scopes": ["pipelines"]},
    {"path_prefix": "/grouped", "required_scopes": ["groups"]},
    {"hosts": ["api.example.com", "*.api.example.org"], "unauthenticated": "401"},
    {"path_prefix": "/always-login", "unauthenticated": "redirect"},
    {"path_prefix": "/models", "methods": ["DELETE"], "action": "deny"},
]
IDENTITY = {"kubeflow-userid", "kubeflow-groups"}
JSON = [("Accept", "application/json")]
NAVIGATE = [("Sec-Fetch-Mode", "navigate"), ("Accept", "text/html")]


@pytest.fixture(scope="module")
def rules_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": USERS})


@pytest.fixture(scope="module")
def gate(module_lab, rules_idp, echo, keys, plugin_wasm):
    config = gate_config(rules_idp, session_cookie_secure=False, rules=RULES,
                         scopes=["openid", "email", "profile", "groups", "roles"])
    envoy = module_lab.envoy(config, app_port=echo.port, idp_port=rules_idp.port,
                             wasm_path=plugin_wasm)
    wait_for_pass(envoy, keys.mint(rules_idp.claims()))
    return envoy


def bearer(keys, idp, **claims) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {keys.mint(idp.claims(**claims))}")]


def bob(keys, idp, **claims):
    return bearer(keys, idp, email="bob@example.com", sub="bob", groups=["dev"], **claims)


def identity_seen(response) -> set[str]:
    return {name.lower() for name in response.upstream["headers"]} & IDENTITY


@pytest.mark.parametrize("path", [
    "/public", "/public/", "/public/doc.html", "/public/adminx", "/public/a/../b",
    "/static/app.bundle.js", "/static/a/b/c/app.bundle.js", "/favicon.ico", "/favicon-32.png",
])
def test_allowed_paths_reach_the_upstream_without_identity(gate, path):
    r = gate.request("GET", path, [("kubeflow-userid", "admin@example.com"),
                                   ("Authorization", "Bearer not.a.token")])
    assert r.status == 200, (path, r)
    assert not identity_seen(r), path


@pytest.mark.parametrize("path", [
    "/public/admin", "/public/admin/users", "/public/%61dmin", "/public/x/../admin",
    "/public/./admin", "/public/x/..;/admin", "/public/admin;x=1", "/public/admin?x=1",
    "/public/%2e%2e/public/admin", "/public%2fadmin", "/metrics", "/metrics?format=json",
    "/public/admin/", "/public//admin",
])
def test_a_deny_rule_under_an_allow_prefix_refuses_every_spelling(gate, echo, keys, rules_idp, path):
    with UpstreamWatch(echo):
        for credentials in ([], bearer(keys, rules_idp)):
            r = gate.request("GET", path, credentials)
            assert r.status in (400, 403), (path, r)


def test_an_exact_rule_matches_only_its_path(gate, keys, rules_idp):
    assert gate.request("GET", "/metrics/x", JSON).status == 401
    assert gate.request("GET", "/metrics/x", bearer(keys, rules_idp)).status == 200


@pytest.mark.parametrize("path", [
    "/static/app.bundle.js.map", "/static/app.bundle.jsx", "/static/x/..;/other.js",
    "/x/favicon.ico", "/public/..;/pipeline/runs",
])
def test_near_misses_of_allow_rules_are_authenticated(gate, echo, path):
    with UpstreamWatch(echo):
        assert gate.request("GET", path, JSON).status == 401, path


def test_overlapping_globs_take_the_first_match(gate, keys, rules_idp):
    # /static/** for group dev follows the bundle allow rule: bundles need nothing, the rest dev.
    assert gate.request("GET", "/static/a/app.bundle.js").status == 200
    assert gate.request("GET", "/static/a/logo.png", bob(keys, rules_idp)).status == 200
    outsider = bearer(keys, rules_idp, groups=["sales"])
    assert gate.request("GET", "/static/a/logo.png", outsider).status == 403
    assert gate.request("GET", "/static/a/app.bundle.js", outsider).status == 200


def test_per_rule_groups_refuse_other_users_with_403(gate, echo, keys, rules_idp):
    r = gate.request("GET", "/pipeline/runs", bearer(keys, rules_idp))
    assert r.status == 200 and r.upstream["headers"]["kubeflow-userid"] == "alice@example.com"
    with UpstreamWatch(echo):
        assert gate.request("GET", "/pipeline/runs", bob(keys, rules_idp)).status == 403
        assert gate.request("GET", "/pipeline/%72uns", bob(keys, rules_idp)).status == 403
    assert gate.request("GET", "/other", bob(keys, rules_idp)).status == 200


@pytest.mark.parametrize("granted", [{"scope": "openid pipelines"}, {"scp": ["pipelines"]},
                                     {"scp": "read pipelines"}])
def test_a_missing_scope_is_403_insufficient_scope(gate, echo, keys, rules_idp, granted):
    with UpstreamWatch(echo):
        for missing in ({}, {"scope": "openid"}, {"scope": "pipelines:read"}):
            r = gate.request("GET", "/scoped/x", bearer(keys, rules_idp, **missing))
            assert r.status == 403, r
            assert r.header("www-authenticate") == ('Bearer error="insufficient_scope", '
                                                   'error_description="the token lacks a scope the rule requires"')
    assert gate.request("GET", "/scoped/x", bearer(keys, rules_idp, **granted)).status == 200


def test_required_claims_are_read_by_dotted_path(gate, echo, keys, rules_idp):
    admin = bearer(keys, rules_idp, realm_access={"roles": ["viewer", "admin"]})
    assert gate.request("GET", "/admin/x", admin).status == 200
    with UpstreamWatch(echo):
        for claims in ({}, {"realm_access": {"roles": ["viewer"]}}, {"realm_access": "admin"},
                       {"realm_access.roles": ["viewer"]}):
            assert gate.request("GET", "/admin/x", bearer(keys, rules_idp, **claims)).status == 403


@pytest.mark.parametrize("host", ["api.example.com", "API.Example.COM:8443", "api.example.com.",
                                  "v1.api.example.org", "a.b.api.example.org:80"])
def test_an_api_host_never_redirects(gate, echo, host):
    with UpstreamWatch(echo):
        r = gate.request("GET", "/page", NAVIGATE + [("Host", host)])
    assert r.status == 401 and r.header("location") is None, (host, r)


def test_other_hosts_keep_the_navigation_heuristic(gate):
    for host in ["example.com", "xapi.example.com", "api.example.org"]:
        r = gate.request("GET", "/page", NAVIGATE + [("Host", host)])
        assert r.status == 302, (host, r)
    assert gate.request("GET", "/page", JSON).status == 401


def test_a_redirect_rule_sends_every_get_to_the_idp(gate):
    assert gate.request("GET", "/always-login/x", JSON).status == 302
    assert gate.request("POST", "/always-login/x", JSON, body=b"{}").status == 401


@pytest.mark.parametrize("method", ["DELETE", "delete", "Delete"])
def test_a_method_rule_matches_any_spelling_of_the_method(gate, echo, keys, rules_idp, method):
    with UpstreamWatch(echo):
        r = gate.request(method, "/models/m1", bearer(keys, rules_idp))
    assert r.status in (400, 403), (method, r)
    assert gate.request("GET", "/models/m1", bearer(keys, rules_idp)).status == 200


def test_rules_apply_to_sessions_with_the_groups_scopes_and_claims_of_the_login(gate, rules_idp):
    base = f"http://127.0.0.1:{gate.port}"

    def signed_in(user):
        browser = Browser()
        assert browser.follow(f"{base}/home", user=user).status == 200
        return browser

    def status(browser, path):
        return browser.get(f"{base}{path}", headers={"accept": "application/json"},
                           navigate=False).status

    alice, bob_ = signed_in("alice"), signed_in("bob")
    assert [status(alice, p) for p in ("/pipeline/x", "/admin/x", "/grouped/x")] == [200] * 3
    assert [status(bob_, p) for p in ("/pipeline/x", "/admin/x", "/grouped/x")] == [403, 403, 200]
    # The login never asked for the `pipelines` scope.
    assert status(alice, "/scoped/x") == 403
    assert status(alice, "/public/admin") == 403


def test_the_config_checker_says_which_rule_sample_requests_hit(rules_idp, tmp_path):
    config = gate_config(rules_idp, rules=RULES, skip_auth_paths=["/healthz"])
    samples = tmp_path / "samples.txt"
    samples.write_text("# one per line\nGET https://kubeflow.example.com/pipeline/runs\n"
                       "DELETE kubeflow.example.com/models/m1\n")
    ok, out = check_config(config, args=[
        "--request", "GET kubeflow.example.com/healthz", "--request", "GET x.io/public/x/..;/admin",
        "--request", "GET https://v1.api.example.org:443/scoped/x?a=1",
        "--request", "GET x.io/pipeline/..;/admin/x", "--request", "GET x.io/nothing",
        "--request", "GET x.io/authservice/oidc/callback?code=1", "--requests", str(samples)])
    assert ok, out
    assert out.splitlines() == [
        "ok",
        "GET kubeflow.example.com/healthz -> allow (skip_auth_paths[0])",
        "GET x.io/public/x/..;/admin -> deny (rules[0])",
        "GET https://v1.api.example.org:443/scoped/x?a=1 -> authenticate (rules[8])",
        "GET x.io/pipeline/..;/admin/x -> authenticate (rules[6] and rules[7])",
        "GET x.io/nothing -> authenticate (no rule)",
        "GET x.io/authservice/oidc/callback?code=1 -> the filter's login callback",
        "GET https://kubeflow.example.com/pipeline/runs -> authenticate (rules[6])",
        "DELETE kubeflow.example.com/models/m1 -> deny (rules[12])",
    ]
    bad = dict(config, rules=[{"path_glob": "/a**"}])
    ok, out = check_config(bad)
    assert not ok and "rules[0].path_glob" in out, out
