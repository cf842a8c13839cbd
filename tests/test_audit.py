"""Audit mode beside enforce mode on the same traffic, through real Envoys (2 workers) and the
real test IdP: whatever enforce mode refuses or redirects, audit mode lets through without
identity and says what enforce mode would have answered (response header, log line, counter);
whatever enforce mode lets through, audit mode lets through the same way. Logins (through the
login path), sessions and logout work in audit mode."""
from __future__ import annotations

import pytest

from support.gate import gate_config, wait_for_pass
from support.login import Browser

USERS = {"alice": {"groups": ["ml-admin", "dev"]}}
RULES = [
    {"path_prefix": "/public/admin", "action": "deny"},
    {"path_prefix": "/public", "action": "allow"},
    {"path_prefix": "/pipeline", "groups_allowlist": ["ml-admin"]},
]
IDENTITY = {"kubeflow-userid", "kubeflow-groups"}
AUDIT = "x-oidc-gate-audit"


@pytest.fixture(scope="module")
def audit_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": USERS})


def start(lab, idp, echo, keys, plugin_wasm, **overrides):
    config = gate_config(idp, session_cookie_secure=False, rules=RULES, **overrides)
    envoy = lab.envoy(config, app_port=echo.port, idp_port=idp.port, wasm_path=plugin_wasm)
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


@pytest.fixture(scope="module")
def gates(module_lab, audit_idp, echo, keys, plugin_wasm):
    enforce = start(module_lab, audit_idp, echo, keys, plugin_wasm)
    audit = start(module_lab, audit_idp, echo, keys, plugin_wasm, mode="audit")
    return enforce, audit


def traffic(keys, idp):
    alice = keys.mint(idp.claims())
    bob = keys.mint(idp.claims(email="bob@example.com", sub="bob", groups=["dev"]))
    expired = keys.mint(idp.claims(lifetime=-120))
    api = [("Accept", "application/json")]
    nav = [("Sec-Fetch-Mode", "navigate"), ("Accept", "text/html")]
    spoof = [("kubeflow-userid", "admin@example.com")]
    return [
        ("/api/x", api + spoof),
        ("/page", nav + spoof),
        ("/api/x", api + [("Authorization", "Bearer not.a.token")]),
        ("/api/x", api + [("Authorization", f"Bearer {expired}")]),
        ("/api/x", api + [("Cookie", "authservice_session=forged; theme=dark")]),
        ("/pipeline/runs", api + [("Authorization", f"Bearer {bob}")]),
        ("/public/admin", api),
        ("/public/doc", api + spoof),
        ("/api/x", api + [("Authorization", f"Bearer {alice}")]),
        ("/pipeline/runs", api + [("Authorization", f"Bearer {alice}")]),
    ]


def identity_seen(response) -> dict:
    return {k.lower(): v for k, v in response.upstream["headers"].items() if k.lower() in IDENTITY}


def test_audit_mode_passes_what_enforce_mode_refuses_and_says_what_it_would_have_done(
        gates, keys, audit_idp):
    enforce, audit = gates
    refused = 0
    for path, headers in traffic(keys, audit_idp):
        enforced = enforce.request("GET", path, headers)
        audited = audit.request("GET", path, headers)
        assert audited.status == 200, (path, headers, audited)
        if enforced.status == 200:
            assert audited.header(AUDIT) is None, (path, audited)
            assert identity_seen(audited) == identity_seen(enforced), path
        else:
            refused += 1
            note = audited.header(AUDIT)
            assert note and note.split(" ")[0] == str(enforced.status), (path, note, enforced)
            assert identity_seen(audited) == {}, (path, audited.upstream)
            cookie = audited.upstream["headers"].get("cookie", "")
            assert "authservice_session" not in cookie, cookie
    assert refused == 7
    stats = audit.stats("wasmcustom.oidc_gate")
    assert stats.get("wasmcustom.oidc_gate.audit.passed_instead") == refused
    # Counted as enforce mode counts them, with the mode as a tag.
    assert stats.get("wasmcustom.oidc_gate.denied.reason.group_not_allowed.mode.audit", 0) >= 1
    assert not any(".mode.enforce" in name for name in stats), stats
    assert enforce.stats("denied.reason.group_not_allowed.mode.enforce")
    assert "audit: enforce mode would answer 403 group_not_allowed" in audit.logs()


def test_a_login_through_the_login_path_works_in_audit_mode(gates):
    _, audit = gates
    base = f"http://127.0.0.1:{audit.port}"
    browser = Browser()
    landing = browser.follow(f"{base}/authservice/login?rd=%2Fhome%3Fx%3D1", user="alice")
    assert landing.status == 200, landing
    seen = browser.get(f"{base}/api/x", headers={"accept": "application/json"}, navigate=False)
    assert seen.status == 200 and seen.header(AUDIT) is None
    assert "alice@example.com" in seen.body.decode(), seen
    logout = browser.get(f"{base}/authservice/logout")
    assert logout.status == 302, logout
