"""Spelled-differently identity headers never reach an upstream that folds header names.

Envoy forwards header names with underscores by default (`headers_with_underscores_action:
ALLOW`, as Istio gateways run), and CGI-style servers read `kubeflow_userid` as
`Kubeflow-Userid`. The upstream here is such a server: the standard library's wsgiref with a
Werkzeug app reading `request.headers.get("Kubeflow-Userid")` (support/wsgi_server.py). A control
test shows it takes a spoofed spelling as the identity when asked directly; through Envoy
(2 workers, test bootstrap: no header or path normalisation) with the filter, no spelling
of the class gets through on any path: bearer, skipped, denied, the login callback, logout.
"""

from __future__ import annotations

import json

import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser
from support.upstreams import UpstreamWatch

ALICE = "alice@example.com"
ALICE_GROUPS = "ml-admin,dev"
SPOOF_USER, SPOOF_GROUPS = "admin@evil", "cluster-admin"
API = [("Accept", "application/json")]

# (userid spelling, groups spelling): each one reads as kubeflow-userid / kubeflow-groups to
# a CGI/WSGI server.
SPELLINGS = [
    ("kubeflow_userid", "kubeflow_groups"),
    ("Kubeflow_UserID", "Kubeflow_Groups"),
    ("KUBEFLOW_USERID", "KUBEFLOW_GROUPS"),
    ("kUbEfLoW_uSeRiD", "kubeflow-GROUPS"),
    ("kubeflow-userid", "kubeflow-groups"),
    ("KUBEFLOW-USERID", "Kubeflow_groups"),
]


def spoofed(spelling: tuple[str, str]) -> list[tuple[str, str]]:
    return [(spelling[0], SPOOF_USER), (spelling[1], SPOOF_GROUPS)]


def every_spelling() -> list[tuple[str, str]]:
    return [header for spelling in SPELLINGS for header in spoofed(spelling)]


def spelling_id(spelling: tuple[str, str]) -> str:
    return "+".join(spelling)


class SpoofingBrowser(Browser):
    """A browser whose every request also carries `extra` headers."""

    def __init__(self, extra: list[tuple[str, str]]):
        super().__init__()
        self.extra = extra

    def request(self, method, url, headers=None, body=None, navigate=True):
        return super().request(method, url, {**dict(self.extra), **(headers or {})}, body, navigate)


@pytest.fixture(scope="module")
def wsgi(module_lab):
    return module_lab.wsgi()


@pytest.fixture(scope="module")
def login_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": {"alice": {"groups": ["ml-admin", "dev"]}}})


@pytest.fixture(scope="module")
def gate(module_lab, login_idp, wsgi, keys, plugin_wasm):
    config = gate_config(login_idp, skip_auth_paths=["/public"], session_cookie_secure=False)
    envoy = module_lab.envoy(config, app_port=wsgi.port, idp_port=login_idp.port,
                             wasm_path=plugin_wasm, concurrency=2)
    wait_for_pass(envoy, keys.mint(login_idp.claims()))
    return envoy


def through(gate, path: str, headers: list[tuple[str, str]]) -> dict:
    r = gate.request("GET", path, headers)
    assert r.status == 200, r
    return r.json()


def assert_only_alice(seen: dict) -> None:
    assert seen["userid"] == ALICE, seen  # one value: a second would be comma-joined
    assert seen["groups"] == ALICE_GROUPS, seen
    assert seen["environ"] == {"HTTP_KUBEFLOW_USERID": ALICE, "HTTP_KUBEFLOW_GROUPS": ALICE_GROUPS}


# --- control: the upstream folds ------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
def test_control_the_upstream_reads_a_spoofed_spelling_as_the_identity(wsgi, spelling):
    seen = wsgi.direct("/api/x", spoofed(spelling))
    assert (seen["userid"], seen["groups"]) == (SPOOF_USER, SPOOF_GROUPS)
    # Next to the real header, the spoofed value is a second value of the same identity.
    seen = wsgi.direct("/api/x", [("kubeflow-userid", ALICE)] + spoofed(spelling))
    assert seen["userid"] == f"{ALICE},{SPOOF_USER}"


# --- through Envoy with the filter ------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
def test_bearer_request_upstream_sees_only_the_real_identity(gate, login_idp, keys, spelling):
    token = keys.mint(login_idp.claims())
    for _ in range(4):  # a fresh connection each: both workers
        assert_only_alice(through(gate, "/api/x", spoofed(spelling) + [("Authorization", f"Bearer {token}")]))
    # Spoofed before and after the credential, every spelling at once.
    headers = every_spelling() + [("Authorization", f"Bearer {token}")] + every_spelling()
    assert_only_alice(through(gate, "/api/x", headers))


@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
def test_skipped_path_upstream_sees_no_identity(gate, spelling):
    for _ in range(4):
        seen = through(gate, "/public/x", spoofed(spelling))
        assert (seen["userid"], seen["groups"], seen["environ"]) == (None, None, {}), seen
    seen = through(gate, "/public/x", every_spelling())
    assert (seen["userid"], seen["groups"], seen["environ"]) == (None, None, {}), seen


@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
def test_denied_request_reaches_nothing(gate, wsgi, login_idp, attacker_keys, spelling):
    with UpstreamWatch(wsgi):
        assert gate.request("GET", "/api/x", API + spoofed(spelling)).status == 401
        forged = attacker_keys.mint(login_idp.claims())
        r = gate.request("GET", "/api/x", spoofed(spelling) + [("Authorization", f"Bearer {forged}")])
        assert r.status == 401, r


@pytest.mark.parametrize("spelling", SPELLINGS, ids=spelling_id)
def test_login_callback_and_logout_never_pass_a_spoofed_identity(gate, wsgi, spelling):
    """Every hop of a browser login (the callback included) and both logout styles carry the
    spoofed spellings: the only request that reaches the upstream is the landing page, with
    the real identity; callback and logout are answered by the filter."""
    base = f"http://127.0.0.1:{gate.port}"
    browser = SpoofingBrowser(spoofed(spelling))
    before = wsgi.count()
    landing = browser.follow(f"{base}/home")
    assert landing.status == 200, landing
    assert_only_alice(json.loads(landing.body))
    callback = [hop for hop in browser.history if hop.url.startswith(f"{base}/authservice/oidc/callback")]
    assert [hop.status for hop in callback] == [302]
    assert wsgi.count() == before + 1  # the landing page only

    with UpstreamWatch(wsgi):
        session = dict(browser.cookies)
        assert browser.get(f"{base}/authservice/logout").status == 302
        browser.cookies = session  # the legacy dashboard's POST, same session
        legacy = browser.request("POST", f"{base}/authservice/logout", navigate=False,
                                 headers={"accept": "application/json"})
        assert legacy.status == 201, legacy
