"""The "How cost grows" rows of the benchmark: what makes each big case big.

Each row is a large case of a small one measured in the same rounds ((e) a session cookie, (f)
a repeated bearer token), on an oidc-gate Envoy of its own where its configuration differs:

  * 100,000 distinct live sessions and 100,000 distinct bearer tokens, in rotation, on a gate
    with `credential_cache_entries` above that count: every credential is sent once before the
    measurement (`warm_all` in bench.py), so each measured request is a cache hit among 100,000
    entries. Sessions come from `examples/mint-sessions.rs` (sealed as the filter seals them,
    with the gate's session key), tokens from `load.mint`;
  * a session cookie of 4 chunks (a large forwarded-token stand-in), on the gate of (e);
  * a bearer token with 200 groups, on the gate of (f);
  * 100 `rules`, 99 that do not match before the one that applies;
  * an issuer whose JWKS holds 100 keys, refetched every 10 s (`jwks_refresh_seconds`' least)
    from a static server, so refreshes fall in the measurement.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from support import CLIENT_ID
from support.tokens import claims_for

ROOT = Path(__file__).resolve().parent.parent
BIG_CACHE_ENTRIES = 131072
RULES = 100
JWKS_KEYS = 100
JWKS_REFRESH_SECONDS = 10
GROUPS = 200
SESSION_CHUNKS = 4
# A forwarded-token stand-in this long takes a session to 4 cookies of 4,000 bytes.
FOUR_CHUNK_FILLER = 11000
JWKS_ISSUER = "https://jwks100.bench.example"
JWKS_PATH = "/jwks"


def big_cache_config(base: dict) -> dict:
    return {**base, "credential_cache_entries": BIG_CACHE_ENTRIES}


def rules_config(base: dict) -> dict:
    """`RULES` rules: 99 path prefixes no request of the benchmark has (each action in turn),
    then the rule that applies to every `GET` (a `path_prefix` of `/` is refused)."""
    actions = [{"action": "deny"}, {"action": "allow"}, {"groups_allowlist": ["ml-admin"]}]
    rules = [{"path_prefix": f"/app{i}", **actions[i % len(actions)]} for i in range(RULES - 1)]
    rules.append({"methods": ["GET"], "groups_allowlist": ["ml-admin", "dev"]})
    return {**base, "rules": rules}


def jwks_config(base: dict, jwks_port: int) -> dict:
    """The gate with one more issuer, whose keys are the `JWKS_KEYS` of `big_jwks`."""
    issuer = {"issuer": JWKS_ISSUER, "cluster": "jwks", "audiences": [CLIENT_ID],
              "jwks_uri": f"http://127.0.0.1:{jwks_port}{JWKS_PATH}"}
    return {**base, "extra_issuers": [issuer], "jwks_refresh_seconds": JWKS_REFRESH_SECONDS}


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def big_jwks() -> tuple[dict, rsa.RSAPrivateKey, str]:
    """A JWKS of `JWKS_KEYS` RSA-2048 keys, the signing key last: (jwks, private key, its kid).
    Only the signing key needs a private half, so the others are random odd 2048-bit moduli:
    parsed and kept exactly like real keys, without generating 99 RSA keys."""
    keys = []
    for i in range(JWKS_KEYS - 1):
        modulus = int.from_bytes(os.urandom(256), "big") | (1 << 2047) | 1
        keys.append({"kty": "RSA", "kid": f"bench-many-{i}", "use": "sig", "alg": "RS256",
                     "n": _b64(modulus), "e": "AQAB"})
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = f"bench-many-{JWKS_KEYS - 1}"
    public = signer.public_key().public_numbers()
    keys.append({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": _b64(public.n),
                 "e": _b64(public.e)})
    return {"keys": keys}, signer, kid


def jwks_token(signer: rsa.RSAPrivateKey, kid: str, lifetime: int) -> str:
    return jwt.encode(claims_for(JWKS_ISSUER, lifetime=lifetime, jti="bench-jwks"), signer,
                      algorithm="RS256", headers={"kid": kid})


def many_groups(count: int = GROUPS) -> list[str]:
    return [f"g-{k:03d}" for k in range(count)]


def mint_sessions(workdir: Path, name: str, config: dict, count: int, *options: str) -> list[str]:
    """`count` session Cookie header values for `config` (examples/mint-sessions.rs, built by
    bench/run.sh); run at normal priority, as token minting is."""
    config_path = workdir / f"{name}-config.json"
    config_path.write_text(json.dumps(config))
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    cmd = [target / "release" / "examples" / "mint-sessions", config_path, str(count), *options]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, preexec_fn=_normal_priority)
    return out.stdout.splitlines()


def _normal_priority() -> None:
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def sessions_like(workdir: Path, config: dict, count: int, cookie: str) -> list[str]:
    """`count` sessions whose cookies are as long as `cookie` (a real login's, to a few bytes):
    an id_token stand-in makes up the difference (sealed bytes grow by 4/3 in base64)."""
    bare = mint_sessions(workdir, "sessions-probe", config, 1)[0]
    pad = max(0, round((len(cookie) - len(bare)) * 3 / 4))
    return mint_sessions(workdir, "sessions", config, count, "--id-token-bytes", str(pad))


def four_chunk_session(workdir: Path, config: dict) -> str:
    cookie = mint_sessions(workdir, "session-4-chunks", config, 1, "--forward-token-bytes",
                           str(FOUR_CHUNK_FILLER))[0]
    chunks = cookie.count("; ") + 1
    assert chunks == SESSION_CHUNKS, f"the big session took {chunks} cookies, not {SESSION_CHUNKS}"
    return cookie
