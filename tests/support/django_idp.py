"""A second real OpenID provider: django-oauth-toolkit (tests/idp_django/serve.py) as a managed
process, and signing in on its login page (Django's own form, with its CSRF token)."""

from __future__ import annotations

import html
import json
import re
import sys
import urllib.parse
from pathlib import Path

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from support import CLIENT_ID, CLIENT_SECRET, TESTS_DIR
from support.control import http_call
from support.login import Browser, Hop
from support.processes import Proc, free_port

SERVE = TESTS_DIR / "idp_django" / "serve.py"


class DjangoIdp:
    """django-oauth-toolkit on 127.0.0.1 with a fresh database. `users`: name -> {"groups"}
    (email <name>@example.com, password `password(name)`); `clients`: the registrations
    (client_id, client_secret, redirect_uris, post_logout_redirect_uris)."""

    def __init__(self, workdir: Path, name: str, users: dict, clients: list[dict]):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/o"
        config = {
            "port": self.port,
            "db": str(self.workdir / f"{name}.sqlite3"),
            "users": {u: {"email": f"{u}@example.com", "password": password(u), **spec}
                      for u, spec in users.items()},
            "clients": clients,
        }
        config_path = self.workdir / f"{name}.json"
        config_path.write_text(json.dumps(config))
        self.proc = Proc(name, [sys.executable, SERVE, config_path], self.workdir / f"{name}.log")

    def start(self, timeout: float = 60) -> "DjangoIdp":
        self.proc.start()
        self.proc.wait_ready(self._ready, timeout)
        return self

    def _ready(self) -> bool:
        return http_call(f"{self.issuer}/.well-known/openid-configuration", timeout=1)[0] == 200

    def stop(self) -> None:
        self.proc.stop()


def password(user: str) -> str:
    return f"pw-{user}"


def client(envoy_port: int, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
           extra_redirect_uris: tuple[str, ...] = ()) -> dict:
    """The registration of a gateway on 127.0.0.1:`envoy_port` with the filter's defaults: the
    callback is `redirect_uri`, the post-logout URI is `after_logout_url` ("/") made absolute."""
    origin = f"http://127.0.0.1:{envoy_port}"
    return {"client_id": client_id, "client_secret": client_secret,
            "redirect_uris": [f"{origin}/authservice/oidc/callback", *extra_redirect_uris],
            "post_logout_redirect_uris": [f"{origin}/"]}


# --- Django's login form ----------------------------------------------------------------------


def login_form(hop: Hop, user: str) -> tuple[str, bytes] | None:
    """(action, body) that signs `user` in on Django's login page on `hop`; None when `hop` is
    no login page. The CSRF token of the page goes along (its cookie is in the browser)."""
    if hop.status != 200 or b'name="username"' not in hop.body:
        return None
    action = re.search(rb'<form method="post" action="([^"]+)"', hop.body)
    hidden = dict(re.findall(rb'<input type="hidden" name="(csrfmiddlewaretoken|next)" value="([^"]*)"',
                             hop.body))
    assert action and b"csrfmiddlewaretoken" in hidden, f"unexpected login page: {hop.body[:500]!r}"
    fields = {k.decode(): html.unescape(v.decode()) for k, v in hidden.items()}
    fields.update({"username": user, "password": password(user)})
    return urllib.parse.urljoin(hop.url, action.group(1).decode()), urllib.parse.urlencode(fields).encode()



def follow(browser: Browser, url: str, user: str = "alice", stop_at: str | None = None,
           limit: int = 12) -> Hop:
    """Navigates from `url`, following redirects and signing in on Django's login page as
    `user`, until a non-redirect answer (or a redirect to a URL starting with `stop_at`)."""
    hop = browser.get(url)
    for _ in range(limit):
        if hop.status in (301, 302, 303):
            if stop_at and hop.location.startswith(stop_at):
                return hop
            hop = browser.get(hop.location)
            continue
        form = login_form(hop, user)
        if form is None:
            return hop
        action, body = form
        hop = browser.request("POST", action, {"content-type": "application/x-www-form-urlencoded"}, body)
    raise AssertionError(f"too many hops from {url}: {[h.status for h in browser.history]}")


def tokens_for(idp: DjangoIdp, user: str, redirect_uri: str) -> dict:
    """Authorization code + PKCE at DOT as `user` (Authlib is the client): the token response
    (id_token, access_token, refresh_token)."""
    session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope="openid email profile groups",
                            redirect_uri=redirect_uri, code_challenge_method="S256")
    verifier = generate_token(48)
    auth_url, state = session.create_authorization_url(f"{idp.issuer}/authorize/", nonce=generate_token(20),
                                                       code_verifier=verifier)
    hop = follow(Browser(), auth_url, user, stop_at=redirect_uri)
    assert hop.location.startswith(redirect_uri), f"login ended without a callback: {hop!r}"
    return dict(session.fetch_token(f"{idp.issuer}/token/", authorization_response=hop.location,
                                    state=state, code_verifier=verifier))
