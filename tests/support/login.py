"""Logging in at the test IdP without a real browser.

`Browser` is a scripted browser for login-flow tests: a cookie jar per host (ports share
cookies, as in real browsers), navigation headers, manual redirects, so tests can look at every
hop and tamper with cookies in between. `idp_login` is the client side of a code + PKCE login
(what the filter does), for tests that need real IdP-issued tokens. Both fill in the IdP's login
form here, the one place that knows it; the real-browser test (test_browser.py) drives Chromium
through the same form.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from dataclasses import dataclass, field

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from support import CLIENT_ID, CLIENT_SECRET
from support.idp import Idp


@dataclass
class Hop:
    status: int
    url: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def location(self) -> str:
        return urllib.parse.urljoin(self.url, self.header("location") or "")


# --- the IdP's login form (oidc-provider's dev interaction page) -----------------------------


def login_form_action(hop: Hop) -> str | None:
    """Where the IdP's login form on `hop` posts to; None when `hop` is no login page."""
    form = re.search(rb'<form[^>]*action="([^"]+)"', hop.body)
    if hop.status == 200 and form and b'name="login"' in hop.body:
        return urllib.parse.urljoin(hop.url, form.group(1).decode())
    return None


def login_form_fields(user: str) -> bytes:
    """The filled-in form: the test IdP takes any password."""
    return urllib.parse.urlencode({"prompt": "login", "login": user, "password": "any"}).encode()


def logout_confirmation(hop: Hop) -> tuple[str, bytes] | None:
    """(action, body) that confirms the IdP's RP-initiated logout page on `hop` ("Yes, sign me
    out"); None when `hop` is no such page."""
    form = re.search(rb'<form id="op.logoutForm" method="post" action="([^"]+)">'
                     rb'<input type="hidden" name="xsrf" value="([^"]+)"', hop.body)
    if hop.status != 200 or not form:
        return None
    fields = {"xsrf": form.group(2).decode(), "logout": "yes"}
    return urllib.parse.urljoin(hop.url, form.group(1).decode()), urllib.parse.urlencode(fields).encode()


# --- the scripted browser ---------------------------------------------------------------------


@dataclass
class Browser:
    """Cookies are keyed by name only: everything in these tests lives on 127.0.0.1."""
    cookies: dict[str, str] = field(default_factory=dict)
    history: list[Hop] = field(default_factory=list)

    def request(self, method: str, url: str, headers: dict | None = None, body: bytes | None = None,
                navigate: bool = True) -> Hop:
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = {"host": parts.netloc}
        if navigate:
            sent.update({"accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                         "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"})
        if self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update({k.lower(): v for k, v in (headers or {}).items()})
        try:
            conn.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
            resp = conn.getresponse()
            hop = Hop(resp.status, url, resp.getheaders(), resp.read())
        finally:
            conn.close()
        self.history.append(hop)
        self.store(hop.set_cookies())
        return hop

    def store(self, set_cookies: list[str]) -> None:
        for line in set_cookies:
            pair, _, attrs = line.partition(";")
            name, _, value = pair.strip().partition("=")
            if re.search(r"max-age=0\b", attrs, re.I) or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, url: str, **kw) -> Hop:
        return self.request("GET", url, **kw)

    def end_idp_session(self, url: str) -> Hop:
        """Navigates to `url` (the IdP's end_session endpoint, or a logout that leads there),
        confirms the IdP's logout page and returns the first answer after the confirmation."""
        hop = self.get(url)
        for _ in range(6):
            if hop.status not in (301, 302, 303):
                break
            hop = self.get(hop.location)
        confirmation = logout_confirmation(hop)
        assert confirmation, f"no logout confirmation page: {hop.status} {hop.body[:300]!r}"
        action, body = confirmation
        return self.request("POST", action, {"content-type": "application/x-www-form-urlencoded"}, body)

    def follow(self, url: str, user: str = "alice", stop_at: str | None = None, limit: int = 12) -> Hop:
        """Navigates from `url`, following redirects and submitting the IdP's login form as
        `user`, until a non-redirect answer (or a redirect to a URL starting with stop_at)."""
        hop = self.get(url)
        for _ in range(limit):
            if hop.status in (301, 302, 303):
                if stop_at and hop.location.startswith(stop_at):
                    return hop
                hop = self.get(hop.location)
                continue
            action = login_form_action(hop)
            if action is None:
                return hop
            hop = self.request("POST", action, {"content-type": "application/x-www-form-urlencoded"},
                               login_form_fields(user))
        raise AssertionError(f"too many hops from {url}: {[h.status for h in self.history]}")


# --- a code + PKCE login, the client side done by Authlib -------------------------------------


def idp_login(idp: Idp, user: str, redirect_uri: str = "http://127.0.0.1:1/authservice/oidc/callback",
              scope: str = "openid email profile groups", client_id: str = CLIENT_ID,
              client_secret: str = CLIENT_SECRET) -> dict:
    """Authorization code + PKCE (S256) at the IdP, logging in as `user` on its login form;
    returns the token response (id_token, access_token, refresh_token) plus the callback
    parameters (`callback`) and the nonce sent (`nonce`)."""
    client = OAuth2Session(client_id, client_secret, scope=scope, redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    verifier, nonce = generate_token(48), generate_token(20)
    auth_url, state = client.create_authorization_url(f"{idp.issuer}/auth", nonce=nonce,
                                                      code_verifier=verifier)
    hop = Browser().follow(auth_url, user=user, stop_at=redirect_uri)
    assert hop.location.startswith(redirect_uri), f"login ended without a callback: {hop!r}"
    callback = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hop.location).query))
    # Authlib checks the callback's state and authenticates with client_secret_basic.
    tokens = dict(client.fetch_token(f"{idp.issuer}/token", authorization_response=hop.location,
                                     state=state, code_verifier=verifier))
    tokens["callback"] = callback
    tokens["nonce"] = nonce
    return tokens
