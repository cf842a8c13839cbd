"""The test OpenID provider (tests/idp/idp.mjs, npm oidc-provider) as a managed process, with its
control API: hit counts, injected faults, key rotation, configuration."""

from __future__ import annotations

import json
from pathlib import Path

from support import TESTS_DIR
from support.control import http_call, http_json
from support.processes import Proc, free_port
from support.tokens import KeySet, claims_for

IDP_SCRIPT = TESTS_DIR / "idp" / "idp.mjs"


class Idp:
    """A running test IdP; `stop()`/`start()` keep the same ports (the issuer never changes)."""

    def __init__(self, workdir: Path, keyset: KeySet, name: str = "idp", config: dict | None = None,
                 port: int | None = None, host: str = "127.0.0.1"):
        """`host`: the issuer's host name (it always listens on 127.0.0.1); `localhost` puts
        its cookies apart from those of apps on 127.0.0.1."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = port or free_port()
        self.control_port = free_port()
        self.issuer = f"http://{host}:{self.port}"
        self.keyset = keyset
        self.keys_path = self.workdir / f"{name}-keys.json"
        self.keys_path.write_text(json.dumps(keyset.private_jwks()))
        cmd = ["node", IDP_SCRIPT, "--port", self.port, "--host", host, "--keys", self.keys_path,
               "--control-port", self.control_port]
        if config is not None:
            config_path = self.workdir / f"{name}-config.json"
            config_path.write_text(json.dumps(config))
            cmd += ["--config", config_path]
        self.proc = Proc(name, cmd, self.workdir / f"{name}.log", cwd=IDP_SCRIPT.parent)

    def start(self, timeout: float = 20) -> "Idp":
        # A restart serves the keys in effect at stop time (rotations are written back).
        self.proc.start()
        self.proc.wait_ready(self._ready, timeout)
        return self

    def _ready(self) -> bool:
        # The internal header keeps readiness probes out of the hit counts.
        status, _ = http_call(f"{self.issuer}/.well-known/openid-configuration", timeout=1,
                              headers={"x-idp-internal": "1"})
        return status == 200 and http_call(self._control("/healthz"), timeout=1)[0] == 200

    def stop(self) -> None:
        self.proc.stop()

    def _control(self, path: str) -> str:
        return f"http://127.0.0.1:{self.control_port}{path}"

    def hits(self) -> dict:
        return http_json(self._control("/hits"))

    def hit(self, kind: str) -> int:
        return self.hits().get(kind, 0)

    def reset_hits(self) -> None:
        http_json(self._control("/reset-hits"), "POST", {})

    def fault(self, target: str, mode: str, delay_ms: int | None = None) -> None:
        body = {"target": target, "mode": mode}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        http_json(self._control("/fault"), "POST", body)

    def rotate(self, keyset: KeySet) -> None:
        """Serve and sign with `keyset` from now on (live; the provider is rebuilt)."""
        self.keyset = keyset
        self.keys_path.write_text(json.dumps(keyset.private_jwks()))
        http_json(self._control("/keys"), "POST", keyset.private_jwks())

    def set_config(self, config: dict) -> None:
        http_json(self._control("/config"), "POST", config)

    def sessions(self) -> list[dict]:
        """{sub, client_id, sid} of every authorization code issued, oldest first."""
        return http_json(self._control("/sessions"))

    def backchannel_logout(self, sub: str, sid: str | None = None, client_id: str | None = None) -> dict:
        """Has the IdP send the client a back-channel logout token for `sub` (and `sid`, default
        the newest of `sub`); returns the delivery's record (`status`: the RP's answer)."""
        body = {"sub": sub, **({"sid": sid} if sid else {}), **({"client_id": client_id} if client_id else {})}
        return http_json(self._control("/backchannel-logout"), "POST", body)

    def backchannel_logouts(self) -> list[dict]:
        """Every back-channel logout token sent: {uri, status, error, logout_token, claims}."""
        return http_json(self._control("/backchannel-logouts"))

    def revocations(self) -> list[dict]:
        """Every revocation request: {token_type_hint, kind, sub, client_auth, status,
        token_active_after}."""
        return http_json(self._control("/revocations"))

    def discovery(self) -> dict:
        return json.loads(http_call(f"{self.issuer}/.well-known/openid-configuration",
                                    headers={"x-idp-internal": "1"})[1])

    def jwks(self) -> dict:
        return json.loads(http_call(f"{self.issuer}/jwks", headers={"x-idp-internal": "1"})[1])

    def claims(self, **kw) -> dict:
        return claims_for(self.issuer, **kw)
