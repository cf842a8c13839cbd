"""The filter against a second real OpenID provider: django-oauth-toolkit (DOT), registered as
docs/providers/django-oauth-toolkit.md says (refresh-token rotation on, RP-initiated logout
with a registered post-logout URI, a `groups` claim). Login (a real browser and the scripted
one), refresh with rotation, logout at DOT's end-session endpoint, and DOT's id_tokens as bearer
tokens, through Envoy with its two workers. One DOT and one Envoy serve the module."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse

import pytest

from support import TESTS_DIR
from support.django_idp import DjangoIdp, client, follow, password, tokens_for
from support.gate import assert_invalid_token, gate_config
from support.login import Browser
from support.processes import free_port, wait_until

CHROMIUM = shutil.which("chromium")
COOKIE = "authservice_session"
LOGOUT = "/authservice/logout"
REVALIDATE_S = 2
USERS = {"alice": {"groups": ["ml-admin", "dev"]}, "bob": {"groups": ["dev"]}}
# Where the Authlib client of the bearer tests gets its code (never followed).
TOKEN_CALLBACK = "http://127.0.0.1:1/authservice/oidc/callback"


@pytest.fixture(scope="module")
def gate_port() -> int:
    """The gateway's port, known before DOT starts so the client can be registered with it."""
    return free_port()


@pytest.fixture(scope="module")
def dot(module_lab, gate_port) -> DjangoIdp:
    idp = DjangoIdp(module_lab.workdir, module_lab.unique_name("dot"), USERS,
                    [client(gate_port, extra_redirect_uris=(TOKEN_CALLBACK,))])
    return module_lab.own(idp).start()


@pytest.fixture(scope="module")
def gate_config_dot(dot) -> dict:
    """The plugin configuration of docs/providers/django-oauth-toolkit.md, plus a groups rule."""
    return gate_config(dot, session_cookie_secure=False, session_revalidate_seconds=REVALIDATE_S,
                       rules=[{"path_prefix": "/admin", "groups_allowlist": ["ml-admin"]}])


@pytest.fixture(scope="module")
def gate(module_lab, dot, echo, plugin_wasm, gate_port, gate_config_dot):
    envoy = module_lab.envoy(gate_config_dot, app_port=echo.port, idp_port=dot.port,
                             wasm_path=plugin_wasm, port=gate_port)
    # The keys are fetched once a bearer token from DOT needs them.
    token = tokens_for(dot, "alice", TOKEN_CALLBACK)["id_token"]
    wait_until(lambda: envoy.get("/warmup", token).status == 200, 20, "DOT's keys to be fetched",
               interval=0.1)
    return envoy


def url(envoy, path="/") -> str:
    return f"http://127.0.0.1:{envoy.port}{path}"


def signed_in(envoy, user="alice") -> Browser:
    browser = Browser()
    landing = follow(browser, url(envoy, "/home"), user)
    assert landing.status == 200 and landing.url == url(envoy, "/home"), landing
    return browser


def session_of(browser: Browser) -> dict:
    return {k: v for k, v in browser.cookies.items() if k.startswith(COOKIE) and "_flow_" not in k}


def api(envoy, cookies: dict, path="/api/x"):
    return Browser(cookies=dict(cookies)).get(url(envoy, path), headers={"accept": "application/json"},
                                              navigate=False)


# --- login ------------------------------------------------------------------------------------


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup.sh")
def test_chromium_signs_in_on_django_and_out_again(gate, dot):
    app = url(gate, "/notebooks/")
    proc = subprocess.run(["node", str(TESTS_DIR / "idp" / "browser.mjs"), app, "alice",
                           "--user-field", "username", "--password", password("alice"),
                           "--logout", LOGOUT], capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, f"browser driver failed:\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["landed"] == app
    seen = json.loads(result["body"])["headers"]
    assert seen["kubeflow-userid"] == "alice@example.com"
    assert seen["kubeflow-groups"] == "dev,ml-admin"
    assert any(h.startswith(f"http://127.0.0.1:{dot.port}/accounts/login/") for h in result["hops"])
    # DOT ended its own session at the logout: the app asks for DOT's login page again.
    login_page = f"http://127.0.0.1:{dot.port}/accounts/login/"
    assert result["after_logout"].startswith(login_page), result["after_logout"]
    assert result["after_logout_app_url"].startswith(login_page), result["after_logout_app_url"]


def test_the_session_reaches_the_upstream_with_the_user_and_groups(gate, dot):
    browser = signed_in(gate, "bob")
    seen = json.loads(browser.history[-1].body)["headers"]
    assert seen["kubeflow-userid"] == "bob@example.com"
    assert seen["kubeflow-groups"] == "dev"
    assert not [k for k in seen if k.lower() == "authorization"], "no credential goes upstream"
    # The groups allowlist of /admin: bob is not in ml-admin.
    assert browser.get(url(gate, "/admin/x")).status == 403
    assert signed_in(gate, "alice").get(url(gate, "/admin/x")).status == 200


# --- refresh with rotation --------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token_and_the_old_one_is_refused(lab, gate, dot, echo,
                                                                       plugin_wasm, gate_config_dot):
    # A second replica of the gateway (same session keys) shares nothing with the first.
    replica = lab.envoy(gate_config_dot, app_port=echo.port, idp_port=dot.port, wasm_path=plugin_wasm)
    browser = signed_in(gate)
    old = session_of(browser)
    time.sleep(REVALIDATE_S + 0.2)
    # Due for revalidation: the gateway refreshes at DOT and sends the renewed cookie.
    hop = browser.get(url(gate, "/api/y"), headers={"accept": "application/json"}, navigate=False)
    assert hop.status == 200, hop
    assert json.loads(hop.body)["headers"]["kubeflow-userid"] == "alice@example.com"
    new = session_of(browser)
    assert new != old, "the refreshed session is sent back"
    # The replica, handed the old cookie, refreshes with the old refresh token: DOT refuses the
    # rotated token, so that session ends there.
    assert api(replica, old).status == 401
    # The renewed session carries the new refresh token, which DOT honours (once) at the next
    # revalidation.
    time.sleep(REVALIDATE_S + 0.2)
    hop = browser.get(url(gate, "/api/z"), headers={"accept": "application/json"}, navigate=False)
    assert hop.status == 200, hop
    assert session_of(browser) not in (old, new), "refreshed again"


# --- logout -----------------------------------------------------------------------------------


def test_logout_ends_the_django_session_and_returns_to_the_registered_uri(gate, dot):
    browser = signed_in(gate)
    assert "sessionid" in browser.cookies, "signed in at DOT"
    hop = browser.get(url(gate, LOGOUT))
    assert hop.status == 302 and hop.location.startswith(f"{dot.issuer}/logout/?"), hop
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hop.location).query))
    assert query["post_logout_redirect_uri"] == url(gate, "/")
    assert query["id_token_hint"].count(".") == 2
    at_dot = browser.get(hop.location)
    # DOT logs out without asking (a valid id_token_hint of its signed-in user) and returns to
    # the registered URI.
    assert at_dot.status == 302 and at_dot.location == url(gate, "/"), at_dot
    assert "sessionid" not in browser.cookies, "DOT's session cookie is cleared"
    assert not session_of(browser)
    # Back at the gateway, a new login needs DOT's login form again.
    page = follow(browser, url(gate, "/"), stop_at=f"http://127.0.0.1:{dot.port}/accounts/login/")
    assert page.status == 302 and page.location.startswith(f"http://127.0.0.1:{dot.port}/accounts/login/")


def test_logout_with_an_unregistered_post_logout_uri_is_refused_and_django_keeps_its_session(gate, dot):
    # The gateway reached under a host name whose post-logout URI was not registered: the filter
    # sends http://localhost:<port>/, DOT refuses it with an error page and ends nothing.
    browser = signed_in(gate)
    hop = browser.get(f"http://localhost:{gate.port}{LOGOUT}")
    assert hop.status == 302, hop
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hop.location).query))
    assert query["post_logout_redirect_uri"] == f"http://localhost:{gate.port}/"
    at_dot = browser.get(hop.location)
    assert at_dot.status == 400, at_dot
    assert b"This client does not have this redirect uri registered." in at_dot.body
    assert "sessionid" in browser.cookies, "DOT kept its session"
    # So the next visit signs straight in again, without DOT's login form.
    login_page = f"http://127.0.0.1:{dot.port}/accounts/login/"
    landing = follow(browser, url(gate, "/"), stop_at=login_page)
    assert landing.status == 200, landing
    assert json.loads(landing.body)["headers"]["kubeflow-userid"] == "alice@example.com"


# --- bearer -----------------------------------------------------------------------------------


def test_a_django_id_token_is_a_bearer_token_and_its_access_token_is_not(gate, dot):
    alice = tokens_for(dot, "alice", TOKEN_CALLBACK)
    resp = gate.get("/api/runs", alice["id_token"])
    assert resp.status == 200, resp
    assert resp.upstream["headers"]["kubeflow-userid"] == "alice@example.com"
    assert resp.upstream["headers"]["kubeflow-groups"] == "dev,ml-admin"
    assert gate.get("/admin/x", alice["id_token"]).status == 200
    bob = tokens_for(dot, "bob", TOKEN_CALLBACK)
    assert gate.get("/admin/x", bob["id_token"]).status == 403
    # DOT's access tokens are opaque strings, not JWTs.
    assert_invalid_token(gate.get("/api/runs", alice["access_token"]), alice["access_token"])
