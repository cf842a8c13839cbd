"""Sessions that really end: a logout revokes the session on every worker of the Envoy at once
and revokes its refresh token at the IdP (RFC 7009); the IdP ends sessions over OIDC
Back-Channel Logout 1.0; and a replica that did not see the logout learns it from the IdP
within `session_revalidate_seconds`, while an IdP outage logs nobody out.

A "copied cookie" is the session cookie as it was before the logout, replayed by a client that
kept it (a stolen cookie, another tab, a proxy's cache): clearing the browser's cookie is not
enough, the gateway itself must refuse it.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.parse

import pytest

from support import CLIENT_ID, CLIENT_SECRET
from support.envoy import Response
from support.gate import gate_config, session_key, wait_for_pass
from support.login import Browser
from support.processes import free_port, parallel, wait_until
from support.tokens import hs256, raw_token

USERS = {"alice": {"groups": ["ml-admin", "dev"]}, "bob": {"groups": ["dev"]}}
COOKIE = "authservice_session"
LOGOUT = "/authservice/logout"
BACKCHANNEL = "/authservice/backchannel-logout"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
FORM = "application/x-www-form-urlencoded"
IDP_TIMEOUT_S = 2.0  # gate_config's idp_timeout_ms


# --- the gateways ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backchannel_port() -> int:
    """The back-channel gateway's port, known before the IdP starts so the IdP can register its
    Back-Channel Logout URI (and put `sid` in the id_tokens it issues)."""
    return free_port()


@pytest.fixture(scope="module")
def logout_idp(module_lab, keys, backchannel_port):
    uri = f"http://127.0.0.1:{backchannel_port}{BACKCHANNEL}"
    return module_lab.idp(keys, config={"users": USERS, "backchannel_logout_uri": uri})


def start_gate(lab, idp, echo, plugin_wasm, keys, port=None, **overrides):
    config = gate_config(idp, session_cookie_secure=False, **overrides)
    envoy = lab.envoy(config, app_port=echo.port, idp_port=idp.port, wasm_path=plugin_wasm, port=port)
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


@pytest.fixture(scope="module")
def gate(module_lab, logout_idp, echo, keys, plugin_wasm):
    """Default settings: logout revokes at once, and revokes the refresh token at the IdP."""
    return start_gate(module_lab, logout_idp, echo, plugin_wasm, keys)


@pytest.fixture(scope="module")
def bc_gate(module_lab, logout_idp, echo, keys, plugin_wasm, backchannel_port):
    """The gateway the IdP's Back-Channel Logout URI points at."""
    return start_gate(module_lab, logout_idp, echo, plugin_wasm, keys, port=backchannel_port,
                      backchannel_logout_path=BACKCHANNEL)


# --- browsers, sessions and what the gateway answers them ------------------------------------


def url(envoy, path="/") -> str:
    return f"http://127.0.0.1:{envoy.port}{path}"


def stat(envoy, name: str) -> int:
    full = f"wasmcustom.oidc_gate.{name}"
    return envoy.stats(full).get(full, 0)


def logged_in(envoy, user="alice") -> Browser:
    browser = Browser()
    landing = browser.follow(url(envoy, "/home"), user=user)
    assert landing.status == 200, landing
    return browser


def session_of(browser: Browser) -> dict:
    """The gateway's session cookies of `browser` (a copy)."""
    return {k: v for k, v in browser.cookies.items() if k.startswith(COOKIE) and "_flow_" not in k}


def api(envoy, cookies: dict, path="/api/x"):
    return Browser(cookies=dict(cookies)).get(url(envoy, path), headers={"accept": "application/json"},
                                              navigate=False)


def navigate(envoy, cookies: dict, path="/page"):
    return Browser(cookies=dict(cookies)).get(url(envoy, path))


def assert_signed_in(envoy, cookies: dict, user="alice") -> None:
    hop = api(envoy, cookies)
    assert hop.status == 200, f"{user} is no longer signed in: {hop.status} {hop.body[:200]!r}"
    assert json.loads(hop.body)["headers"]["kubeflow-userid"] == f"{user}@example.com"


def assert_signed_out(envoy, cookies: dict, idp) -> None:
    hop = api(envoy, cookies)
    assert hop.status == 401, f"API call with the old cookie: {hop.status} {hop.body[:200]!r}"
    page = navigate(envoy, cookies)
    assert page.status == 302 and page.location.startswith(f"{idp.issuer}/auth?"), \
        f"navigation with the old cookie: {page.status} {page.location}"


def log_out(browser: Browser, envoy, style: str):
    """Logs out the way a browser (navigation) or the Kubeflow dashboard (POST, with the cookie
    or with its value as a bearer token) does; returns the gateway's answer."""
    if style == "navigation":
        hop = browser.get(url(envoy, LOGOUT))
        assert hop.status == 302, hop
        return hop
    headers = {"accept": "application/json"}
    if style == "post_bearer":
        headers["authorization"] = f"Bearer {browser.cookies.pop(COOKIE)}"
    hop = browser.request("POST", url(envoy, LOGOUT), headers, b"", navigate=False)
    assert hop.status == 201, hop
    return hop


LOGOUT_STYLES = ["navigation", "post_cookie", "post_bearer"]


# --- logout revokes the session on every worker ---------------------------------------------


@pytest.mark.parametrize("style", LOGOUT_STYLES)
def test_a_copied_cookie_is_refused_on_every_worker_after_logout(gate, logout_idp, style):
    browser = logged_in(gate)
    copy = session_of(browser)
    bob = session_of(logged_in(gate, "bob"))
    alice_elsewhere = session_of(logged_in(gate))  # her session in another browser
    assert [h.status for h in parallel(lambda i: api(gate, copy, f"/before{i}"), 16)] == [200] * 16
    added = stat(gate, "revocation.added")
    log_out(browser, gate, style)
    assert stat(gate, "revocation.added") == added + 1
    # Many parallel connections, so that both workers answer some of them.
    after = parallel(lambda i: api(gate, copy, f"/after{i}"), 16)
    assert [h.status for h in after] == [401] * 16
    pages = parallel(lambda i: navigate(gate, copy, f"/page{i}"), 8)
    assert all(p.status == 302 and p.location.startswith(f"{logout_idp.issuer}/auth?") for p in pages), \
        [(p.status, p.location) for p in pages]
    assert_signed_in(gate, bob, "bob")  # that session only
    assert_signed_in(gate, alice_elsewhere)


def test_a_new_login_after_logout_works(gate):
    browser = logged_in(gate)
    log_out(browser, gate, "navigation")
    assert_signed_in(gate, session_of(logged_in(gate)))


# --- RFC 7009: the refresh token is revoked at the IdP --------------------------------------


@pytest.mark.parametrize("style", LOGOUT_STYLES)
def test_logout_revokes_the_refresh_token_at_the_idp(gate, logout_idp, style):
    # A user of its own: revocations of earlier logouts may still be on their way.
    user = f"revoke-{style.replace('_', '-')}"
    browser = logged_in(gate, user)
    before = len(logout_idp.revocations())
    ok = stat(gate, "token_revocation.ok")
    log_out(browser, gate, style)

    def answered():
        mine = [r for r in logout_idp.revocations()[before:] if r["sub"] == user]
        return mine if mine and all(r["status"] is not None for r in mine) else None
    mine = wait_until(answered, 5, f"the revocation of {user}'s refresh token", interval=0.1)
    refresh = [r for r in mine if r["kind"] == "RefreshToken"]
    assert len(refresh) == 1, mine
    (record,) = refresh
    assert record["token_type_hint"] == "refresh_token"
    assert record["client_auth"] == "client_secret_basic", "authenticated as at the token endpoint"
    assert record["status"] == 200
    assert record["token_active_after"] is False, "the refresh token is dead at the IdP"
    # (>=: a revocation of an earlier test's logout may be counted meanwhile)
    wait_until(lambda: stat(gate, "token_revocation.ok") >= ok + 1, 5, "token_revocation.ok to count it")


def test_revocation_authenticates_like_the_token_endpoint_with_client_secret_post(
        lab, keys, echo, plugin_wasm):
    secret = "p+w:d%20 /="
    client = {"client_id": CLIENT_ID, "client_secret": secret, "application_type": "native",
              "token_endpoint_auth_method": "client_secret_post",
              "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
              "redirect_uris": ["http://127.0.0.1/authservice/oidc/callback"]}
    idp = lab.idp(keys, config={"users": USERS, "clients": [client]})
    envoy = start_gate(lab, idp, echo, plugin_wasm, keys, client_secret=secret,
                       token_endpoint_auth_method="client_secret_post")
    log_out(logged_in(envoy), envoy, "navigation")
    (record,) = wait_until(lambda: [r for r in idp.revocations() if r["status"] is not None], 5,
                           "the revocation request", interval=0.1)
    assert record["client_auth"] == "client_secret_post"
    assert record["status"] == 200 and record["kind"] == "RefreshToken"
    assert record["token_active_after"] is False


@pytest.mark.parametrize("mode", ["hang", "500"])
def test_logout_answers_at_once_when_the_revocation_endpoint_fails(gate, logout_idp, mode):
    browsers = [logged_in(gate) for _ in LOGOUT_STYLES]
    copies = [session_of(b) for b in browsers]
    bob = session_of(logged_in(gate, "bob"))
    hits = logout_idp.hit("revocation")
    failed = stat(gate, "token_revocation.failed")
    logout_idp.fault("revocation", mode)
    try:
        for browser, style in zip(browsers, LOGOUT_STYLES):
            started = time.monotonic()
            log_out(browser, gate, style)
            elapsed = time.monotonic() - started
            assert elapsed < IDP_TIMEOUT_S / 2, f"{style} logout took {elapsed:.2f}s: it waited for the IdP"
        for copy in copies:
            assert_signed_out(gate, copy, logout_idp)
        started = time.monotonic()
        assert_signed_in(gate, bob, "bob")
        assert time.monotonic() - started < IDP_TIMEOUT_S / 2, "other requests are not held"
        wait_until(lambda: logout_idp.hit("revocation") >= hits + len(browsers), 5,
                   "the revocation calls to be made")
        if mode == "500":
            wait_until(lambda: stat(gate, "token_revocation.failed") >= failed + len(browsers), 5,
                       "token_revocation.failed to count them")
    finally:
        logout_idp.fault("revocation", "ok")


def test_no_revocation_when_revoke_tokens_on_logout_is_off(lab, logout_idp, echo, keys, plugin_wasm):
    envoy = start_gate(lab, logout_idp, echo, plugin_wasm, keys, revoke_tokens_on_logout=False)
    browsers = [logged_in(envoy) for _ in LOGOUT_STYLES]
    copies = [session_of(b) for b in browsers]
    hits = logout_idp.hit("revocation")
    for browser, style in zip(browsers, LOGOUT_STYLES):
        log_out(browser, envoy, style)
    time.sleep(1.5)  # a revocation is sent in the background: give it the time it would take
    assert logout_idp.hit("revocation") == hits
    for copy in copies:
        assert_signed_out(envoy, copy, logout_idp)  # the gateway still ends the session itself


# --- OIDC Back-Channel Logout 1.0 ------------------------------------------------------------


def newest_sid(idp, user="alice") -> str:
    sid = [s["sid"] for s in idp.sessions() if s["sub"] == user][-1]
    assert sid, "the IdP issues sid to a client with a back-channel logout URI"
    return sid


def logout_claims(idp, **claims) -> dict:
    """Valid logout token claims for `idp`; a claim set to None is left out."""
    now = int(time.time())
    body = {"iss": idp.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": secrets.token_urlsafe(16), "events": {EVENT: {}}}
    body.update(claims)
    return {k: v for k, v in body.items() if v is not None}


def logout_token(keys, claims: dict, typ: str | None = "logout+jwt") -> str:
    """Signed like the IdP's logout tokens (RS256, its kid); typ=None: no `typ` header."""
    return keys.mint(claims, headers={"typ": typ})


def post_logout_token(envoy, body: bytes | str, content_type: str = FORM, path: str = BACKCHANNEL,
                      headers: tuple = ()):
    body = body.encode() if isinstance(body, str) else body
    # The IdP gives up after 2.5 s too (oidc-provider's fetch timeout).
    return envoy.request("POST", path, [("Content-Type", content_type), *headers], body, timeout=3)


def form(token: str) -> str:
    return urllib.parse.urlencode({"logout_token": token})


def assert_refused(resp) -> None:
    assert resp.status == 400, resp
    assert "no-store" in (resp.header("cache-control") or ""), resp
    assert resp.json()["error"] == "invalid_request", resp
    assert not [c for c in resp.header_all("set-cookie") if c.startswith(COOKIE)], resp


def assert_accepted(resp) -> None:
    assert resp.status == 200, resp
    assert "no-store" in (resp.header("cache-control") or ""), resp
    assert resp.header("location") is None


def test_the_idp_ends_a_session_over_the_back_channel(bc_gate, logout_idp):
    alice = logged_in(bc_gate)
    copy = session_of(alice)
    sid = newest_sid(logout_idp)
    bob = session_of(logged_in(bc_gate, "bob"))
    alice_elsewhere = session_of(logged_in(bc_gate))  # another IdP session (sid), same user
    delivery = logout_idp.backchannel_logout("alice", sid)
    assert delivery["status"] == 200, delivery
    assert delivery["claims"]["sid"] == sid and delivery["claims"]["sub"] == "alice"
    assert [h.status for h in parallel(lambda i: api(bc_gate, copy, f"/after{i}"), 16)] == [401] * 16
    assert_signed_out(bc_gate, copy, logout_idp)
    assert_signed_in(bc_gate, bob, "bob")
    assert_signed_in(bc_gate, alice_elsewhere)  # a logout by sid ends that IdP session only


def test_signing_out_at_the_idp_ends_the_gateway_session(bc_gate, logout_idp):
    # The real end_session flow: the user signs out at the IdP (not at the gateway), confirms,
    # and the IdP tells the gateway over the back channel.
    browser = logged_in(bc_gate)
    copy = session_of(browser)
    sent = len(logout_idp.backchannel_logouts())
    browser.end_idp_session(f"{logout_idp.issuer}/session/end")
    deliveries = logout_idp.backchannel_logouts()[sent:]
    assert [d["status"] for d in deliveries] == [200], deliveries
    assert deliveries[0]["uri"] == url(bc_gate, BACKCHANNEL)
    assert_signed_out(bc_gate, copy, logout_idp)


# Which claims a valid logout token carries. Tokens by `sub` end every session of that user
# issued so far, so they name users no other test signs in as.
VALID_TOKENS = {
    "sid": lambda sid, user: {"sid": sid},
    "sub": lambda sid, user: {"sub": user},
    "sid_and_sub": lambda sid, user: {"sid": sid, "sub": user},
    # Several audiences: checked as for id_tokens, so `azp` must name this client.
    "aud_list": lambda sid, user: {"sid": sid, "aud": ["other-app", CLIENT_ID], "azp": CLIENT_ID},
}


@pytest.mark.parametrize("variant", VALID_TOKENS)
def test_valid_logout_tokens_end_the_session(bc_gate, logout_idp, echo, keys, variant):
    user = f"valid-{variant.replace('_', '-')}"
    browser = logged_in(bc_gate, user)
    copy = session_of(browser)
    claims = logout_claims(logout_idp, **VALID_TOKENS[variant](newest_sid(logout_idp, user), user))
    accepted = stat(bc_gate, "backchannel_logout.reason.accepted")
    assert_accepted(post_logout_token(bc_gate, form(logout_token(keys, claims))))
    assert_signed_out(bc_gate, copy, logout_idp)
    assert stat(bc_gate, "backchannel_logout.reason.accepted") == accepted + 1
    assert not [r for r in echo.requests() if r["path"].startswith(BACKCHANNEL) and r["body_len"]], \
        "the logout token never reaches the app"


def post_chunked(envoy, body: bytes, content_type: str = FORM):
    """A POST whose body comes in two chunks (Transfer-Encoding: chunked, no Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=3)
    try:
        half = len(body) // 2
        conn.request("POST", BACKCHANNEL, body=iter([body[:half], body[half:]]),
                     headers={"Content-Type": content_type}, encode_chunked=True)
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("spelling", ["charset", "upper_case", "chunked"])
def test_a_logout_token_in_other_form_spellings_is_accepted(bc_gate, logout_idp, keys, spelling):
    browser = logged_in(bc_gate)
    body = form(logout_token(keys, logout_claims(logout_idp, sid=newest_sid(logout_idp)))).encode()
    if spelling == "chunked":
        resp = post_chunked(bc_gate, body)
    else:
        content_type = {"charset": f"{FORM}; charset=UTF-8",
                        "upper_case": "Application/X-WWW-Form-URLEncoded"}[spelling]
        resp = post_logout_token(bc_gate, body, content_type)
    assert_accepted(resp)
    assert_signed_out(bc_gate, session_of(browser), logout_idp)


def test_a_logout_token_without_typ_is_accepted(bc_gate, logout_idp, keys):
    browser = logged_in(bc_gate)
    claims = logout_claims(logout_idp, sid=newest_sid(logout_idp))
    assert_accepted(post_logout_token(bc_gate, form(logout_token(keys, claims, typ=None))))
    assert_signed_out(bc_gate, session_of(browser), logout_idp)


def test_a_sub_only_logout_token_ends_every_session_of_that_user(bc_gate, logout_idp, keys):
    sessions = [session_of(logged_in(bc_gate, "carol")) for _ in range(3)]
    bob = session_of(logged_in(bc_gate, "bob"))
    claims = logout_claims(logout_idp, sub="carol")
    assert_accepted(post_logout_token(bc_gate, form(logout_token(keys, claims))))
    for copy in sessions:
        assert_signed_out(bc_gate, copy, logout_idp)
    assert_signed_in(bc_gate, bob, "bob")
    # Sessions issued before the logout end, not the user: a later login works. (Session
    # times are in seconds; wait for the next one.)
    time.sleep(1.1)
    assert_signed_in(bc_gate, session_of(logged_in(bc_gate, "carol")), "carol")


def test_a_replayed_logout_token_is_refused(bc_gate, logout_idp, keys):
    first = logged_in(bc_gate)
    claims = logout_claims(logout_idp, sid=newest_sid(logout_idp))
    token = logout_token(keys, claims)
    assert_accepted(post_logout_token(bc_gate, form(token)))
    assert_signed_out(bc_gate, session_of(first), logout_idp)
    assert_refused(post_logout_token(bc_gate, form(token)))


def test_a_replayed_idp_logout_token_is_refused(bc_gate, logout_idp):
    logged_in(bc_gate)
    delivery = logout_idp.backchannel_logout("alice")
    assert delivery["status"] == 200, delivery
    victim = session_of(logged_in(bc_gate))
    assert_refused(post_logout_token(bc_gate, form(delivery["logout_token"])))
    assert_signed_in(bc_gate, victim)


def forged_signature(keys, attacker_keys, claims):
    return logout_token(attacker_keys, claims)


def alg_none(keys, attacker_keys, claims):
    return raw_token({"alg": "none", "typ": "logout+jwt"}, claims, b"")


def alg_confusion(keys, attacker_keys, claims):
    header = {"alg": "HS256", "typ": "logout+jwt", "kid": keys.kid("RS256")}
    return raw_token(header, claims, hs256(keys.public_pem()))


def with_typ(typ):
    return lambda keys, attacker_keys, claims: logout_token(keys, claims, typ=typ)


def signed(keys, attacker_keys, claims):
    return logout_token(keys, claims)


def unknown_kid(keys, attacker_keys, claims):
    return keys.mint(claims, kid="rsa-never-published", headers={"typ": "logout+jwt"})


# (claims changed, how it is signed): each must be refused and log no one out.
INVALID_TOKENS = {
    "forged_signature": ({}, forged_signature),
    "alg_none": ({}, alg_none),
    "alg_confusion_hs256": ({}, alg_confusion),
    "typ_jwt": ({}, with_typ("JWT")),
    "typ_at_jwt": ({}, with_typ("at+jwt")),
    "wrong_iss": ({"iss": "http://127.0.0.1:1"}, signed),
    "iss_with_slash": ({"iss": "{issuer}/"}, signed),
    "wrong_aud": ({"aud": "other-app"}, signed),
    "aud_list_without_client": ({"aud": ["other-app", "more"]}, signed),
    "nonce": ({"nonce": "n-0S6_WzA2Mj"}, signed),
    "no_events": ({"events": None}, signed),
    "other_event": ({"events": {"http://schemas.openid.net/event/other": {}}}, signed),
    "event_not_an_object": ({"events": {EVENT: "yes"}}, signed),
    "events_a_list": ({"events": [EVENT]}, signed),
    "no_sid_no_sub": ({"sid": None, "sub": None}, signed),
    "no_jti": ({"jti": None}, signed),
    "no_iat": ({"iat": None}, signed),
    "iat_in_the_future": ({"iat": 600, "exp": 900}, signed),
    "no_exp": ({"exp": None}, signed),
    "expired": ({"iat": -900, "exp": -600}, signed),
    "issued_too_long_ago": ({"iat": -3600, "exp": 120}, signed),  # the README's bound: 10 minutes
    "unknown_kid": ({}, unknown_kid),
}


def resolve(claims: dict, issuer: str) -> dict:
    """Times in the cases are offsets from now; `{issuer}` is the IdP's."""
    now = int(time.time())
    out = {}
    for k, v in claims.items():
        if k in ("iat", "exp") and isinstance(v, int):
            v = now + v
        elif isinstance(v, str):
            v = v.replace("{issuer}", issuer)
        out[k] = v
    return out


@pytest.mark.parametrize("case", INVALID_TOKENS, ids=list(INVALID_TOKENS))
def test_invalid_logout_tokens_are_refused_and_log_no_one_out(bc_gate, logout_idp, keys, attacker_keys, case):
    victim = session_of(logged_in(bc_gate))
    change, sign = INVALID_TOKENS[case]
    target = {"sid": newest_sid(logout_idp), "sub": "alice"}
    claims = logout_claims(logout_idp, **{**target, **resolve(change, logout_idp.issuer)})
    assert_refused(post_logout_token(bc_gate, form(sign(keys, attacker_keys, claims))))
    assert_signed_in(bc_gate, victim)


def test_garbage_tokens_are_refused(bc_gate, logout_idp):
    victim = session_of(logged_in(bc_gate))
    for token in ["", "abc", "a.b.c", "a.b", "...", "x" * 9000]:
        assert_refused(post_logout_token(bc_gate, form(token)))
    assert_signed_in(bc_gate, victim)


def valid_token_for_newest_session(logout_idp, keys) -> str:
    return logout_token(keys, logout_claims(logout_idp, sid=newest_sid(logout_idp), sub="alice"))


@pytest.mark.parametrize("shape", [
    "duplicated",
    "two_different",
    "no_parameter",
    "empty_body",
    "json_body",
    "in_the_query",
    "text_plain",
    "over_16_kib",
])
def test_malformed_logout_requests_are_refused(bc_gate, logout_idp, keys, shape):
    victim = session_of(logged_in(bc_gate))
    token = valid_token_for_newest_session(logout_idp, keys)
    other = logout_token(keys, logout_claims(logout_idp, sid="another-sid"))
    body, content_type, path = {
        "duplicated": (f"{form(token)}&{form(token)}", FORM, BACKCHANNEL),
        "two_different": (f"{form(other)}&{form(token)}", FORM, BACKCHANNEL),
        "no_parameter": ("state=x", FORM, BACKCHANNEL),
        "empty_body": ("", FORM, BACKCHANNEL),
        "json_body": (json.dumps({"logout_token": token}), "application/json", BACKCHANNEL),
        "in_the_query": ("", FORM, f"{BACKCHANNEL}?{form(token)}"),
        "text_plain": (form(token), "text/plain", BACKCHANNEL),
        "over_16_kib": (f"{form(token)}&padding={'x' * 17000}", FORM, BACKCHANNEL),  # the README's cap
    }[shape]
    assert_refused(post_logout_token(bc_gate, body, content_type, path))
    assert_signed_in(bc_gate, victim)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_other_methods_on_the_back_channel_path_log_no_one_out(bc_gate, logout_idp, keys, method):
    browser = logged_in(bc_gate)
    victim = session_of(browser)
    token = valid_token_for_newest_session(logout_idp, keys)
    body = form(token).encode() if method in ("PUT", "DELETE") else None
    path = BACKCHANNEL if body else f"{BACKCHANNEL}?{form(token)}"
    hop = browser.request(method, url(bc_gate, path), {"content-type": FORM}, body)
    assert hop.status in (400, 405), hop
    assert hop.header("location") is None
    assert not [c for c in hop.set_cookies() if c.startswith(COOKIE)]
    assert_signed_in(bc_gate, victim)


@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"},
    {"origin": "null", "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
    {},
])
def test_a_browser_post_with_the_session_cookie_and_no_token_logs_no_one_out(bc_gate, headers):
    browser = logged_in(bc_gate)
    victim = session_of(browser)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    resp = post_logout_token(bc_gate, "logout=yes", headers=(("Cookie", cookie), *headers.items()))
    assert resp.status == 400, resp
    assert not [c for c in resp.header_all("set-cookie") if c.startswith(COOKIE)]
    assert_signed_in(bc_gate, victim)


# --- session_revalidate_seconds -------------------------------------------------------------

REVALIDATE_S = 3


def test_a_logout_on_one_replica_ends_the_session_on_the_other(lab, logout_idp, echo, keys, plugin_wasm):
    # Two replicas of one gateway: same session keys, same IdP. The logout reaches only one;
    # it revokes the refresh token at the IdP, which the other learns when it revalidates.
    shared = dict(session_keys=[session_key()], session_revalidate_seconds=REVALIDATE_S)
    one = start_gate(lab, logout_idp, echo, plugin_wasm, keys, **shared)
    other = start_gate(lab, logout_idp, echo, plugin_wasm, keys, **shared)
    browser = logged_in(one)
    copy = session_of(browser)
    assert_signed_in(other, copy)
    log_out(browser, one, "navigation")
    logged_out = time.monotonic()
    wait_until(lambda: api(other, copy).status == 401, REVALIDATE_S + 4,
               "the other replica to refuse the old cookie", interval=0.2)
    assert time.monotonic() - logged_out <= REVALIDATE_S + 2
    assert_signed_out(other, copy, logout_idp)


def test_revalidation_keeps_a_session_that_the_idp_still_honours(lab, keys, echo, plugin_wasm):
    idp = lab.idp(keys, config={"users": USERS})
    envoy = start_gate(lab, idp, echo, plugin_wasm, keys, session_revalidate_seconds=2)
    browser = logged_in(envoy)
    first = session_of(browser)
    before = idp.hit("token")
    time.sleep(2.2)
    hop = browser.get(url(envoy, "/api/y"), headers={"accept": "application/json"}, navigate=False)
    assert hop.status == 200
    assert idp.hit("token") == before + 1, "revalidated at the IdP"
    assert session_of(browser) != first, "the revalidated session is sent back"
    assert_signed_in(envoy, session_of(browser))
    assert idp.hit("token") == before + 1, "once per period, not per request"


@pytest.mark.parametrize("outage", ["down", "500", "hang"])
def test_revalidation_during_an_idp_outage_keeps_the_session(lab, keys, echo, plugin_wasm, outage):
    # The IdP keeps its grants in a file, so that after a restart it still honours the session.
    idp = lab.idp(keys, config={"users": USERS, "store": str(lab.workdir / f"idp-{outage}.json")})
    envoy = start_gate(lab, idp, echo, plugin_wasm, keys, session_revalidate_seconds=2)
    browser = logged_in(envoy)
    session = session_of(browser)
    if outage == "down":
        idp.stop()
    else:
        idp.fault("token", outage)
    try:
        time.sleep(2.2)
        before = 0 if outage == "down" else idp.hit("token")
        started = time.monotonic()
        assert_signed_in(envoy, session)
        assert time.monotonic() - started < IDP_TIMEOUT_S + 1.5, "no wait past idp_timeout_ms"
        page = navigate(envoy, session)
        assert page.status == 200, "no trip to a dead login"
        assert not [c for c in page.set_cookies() if c.startswith(COOKIE)], "the cookie is kept"
        if outage != "down":
            assert idp.hit("token") == before + 1, "retried after a backoff, not on every request"
    finally:
        if outage == "down":
            idp.start()
        else:
            idp.fault("token", "ok")
    # Back to normal: the session is revalidated (after the backoff) and goes on.
    statuses = []

    def revalidated():
        hop = browser.get(url(envoy, "/api/z"), headers={"accept": "application/json"}, navigate=False)
        statuses.append(hop.status)
        return session_of(browser) != session
    wait_until(revalidated, 10, "the session to be revalidated once the IdP answers", interval=0.3)
    assert set(statuses) == {200}, statuses
    assert_signed_in(envoy, session_of(browser))


def test_revalidation_ends_a_session_without_a_refresh_token(lab, keys, echo, plugin_wasm):
    # An IdP that issues no refresh token (a client without the refresh_token grant): the
    # session cannot be confirmed, so it ends when due (the README's rule).
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "application_type": "native",
              "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["authorization_code"],
              "response_types": ["code"], "redirect_uris": ["http://127.0.0.1/authservice/oidc/callback"]}
    idp = lab.idp(keys, config={"users": USERS, "clients": [client]})
    envoy = start_gate(lab, idp, echo, plugin_wasm, keys, session_revalidate_seconds=2)
    session = session_of(logged_in(envoy))
    assert_signed_in(envoy, session)
    time.sleep(2.2)
    assert_signed_out(envoy, session, idp)


def test_parallel_requests_due_for_revalidation_share_one_refresh(lab, keys, echo, plugin_wasm):
    # Rotating refresh tokens (the IdP's default): a second refresh with the same token would
    # be refused and revoke the grant, so the workers agree on one.
    idp = lab.idp(keys, config={"users": USERS})
    envoy = start_gate(lab, idp, echo, plugin_wasm, keys, session_revalidate_seconds=2)
    session = session_of(logged_in(envoy))
    for round_ in range(2):
        time.sleep(2.2)
        before = idp.hit("token")
        idp.fault("token", "delay", delay_ms=1000)  # keeps the refresh in flight
        try:
            browsers = [Browser(cookies=dict(session)) for _ in range(8)]
            hops = parallel(lambda i: browsers[i].get(url(envoy, f"/r{round_}/{i}"),
                                                      headers={"accept": "application/json"},
                                                      navigate=False), 8)
        finally:
            idp.fault("token", "ok")
        assert [h.status for h in hops] == [200] * 8
        assert idp.hit("token") == before + 1, "one refresh for the session"
        assert_signed_in(envoy, session)  # the old cookie takes the refresh's outcome
        session = session_of(browsers[0])
    assert_signed_in(envoy, session)
