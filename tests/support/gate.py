"""The filter under test as the tests see it: a valid configuration to start from, and how its
answers are checked (a token accepted once the keys are fetched; a refused bearer token)."""

from __future__ import annotations

import base64
import os

from support import CLIENT_ID, CLIENT_SECRET
from support.envoy import Envoy, Response
from support.idp import Idp
from support.processes import wait_until


def session_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def gate_config(idp: Idp | None = None, **overrides) -> dict:
    """A valid filter configuration for `idp`; keyword arguments override or add keys
    (value None removes the key, e.g. issuer=None)."""
    cfg = {
        "issuer": idp.issuer if idp else "http://127.0.0.1:1",
        "idp_cluster": "idp",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "session_keys": [session_key()],
        "idp_timeout_ms": 2000,
        "jwks_refresh_seconds": 600,
        "clock_skew_seconds": 60,
    }
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not None}


def wait_for_pass(envoy: Envoy, token: str, timeout: float = 20, path: str = "/warmup") -> Response:
    """Poll until `token` is accepted (the filter has fetched the keys); return that response."""
    last: list = [None]

    def ok():
        last[0] = envoy.get(path, token)
        return last[0].status == 200
    try:
        wait_until(ok, timeout, "a valid token to be accepted", interval=0.1)
    except TimeoutError as e:
        raise AssertionError(f"{e}; last response: {last[0]!r}") from None
    return last[0]


def assert_invalid_token(resp: Response, token: str | bytes | None = None) -> None:
    """A refused bearer token: 401 + `WWW-Authenticate: Bearer ... error="invalid_token"`, no token echo."""
    assert resp.status == 401, resp
    challenge = resp.header("www-authenticate") or ""
    assert challenge.lower().startswith("bearer"), resp
    assert 'error="invalid_token"' in challenge, resp
    if token:
        tok = token.encode(errors="replace") if isinstance(token, str) else token
        # Neither the token nor its signature part is reflected.
        for piece in {tok, tok.rsplit(b".", 1)[-1]}:
            if len(piece) >= 16:
                assert piece not in resp.body, "the response body echoes the token"
