"""Signing keys and tokens: the IdP's key sets, tokens signed with PyJWT, and arbitrary (hostile)
tokens assembled from raw parts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Callable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from support import CLIENT_ID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Which key of a key set signs each algorithm by default.
ALG_KEY = {
    "RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
    "ES256": "ec", "ES384": "ec384", "EdDSA": "ed",
}

_DEFAULT = object()


class KeySet:
    """RSA-2048, P-256, P-384 and Ed25519 signing keys with kids `<prefix>rsa-1` etc.

    `private_jwks()` is what the IdP is given; `mint()` signs tokens with PyJWT and
    `raw()` builds arbitrary (hostile) tokens from header/payload bytes.
    """

    def __init__(self, prefix: str = "", generation: int = 1):
        self.kids = {
            "rsa": f"{prefix}rsa-{generation}",
            "ec": f"{prefix}ec-{generation}",
            "ec384": f"{prefix}ec384-{generation}",
            "ed": f"{prefix}ed-{generation}",
        }
        self.private = {
            "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "ec384": ec.generate_private_key(ec.SECP384R1()),
            "ed": ed25519.Ed25519PrivateKey.generate(),
        }

    def kid(self, alg: str) -> str:
        return self.kids[ALG_KEY[alg]]

    def key(self, alg: str):
        return self.private[ALG_KEY[alg]]

    def _jwk(self, kind: str, private: bool) -> dict:
        key = self.private[kind]
        if not private:
            key = key.public_key()
        to_jwk = {"rsa": RSAAlgorithm, "ec": ECAlgorithm, "ec384": ECAlgorithm, "ed": OKPAlgorithm}[kind]
        jwk = json.loads(to_jwk.to_jwk(key))
        # PyJWT adds key_ops ["sign"]/["verify"]; real IdPs do not, and the IdP would echo
        # "sign" on the public half.
        jwk.pop("key_ops", None)
        jwk.update(kid=self.kids[kind], use="sig")
        return jwk

    def private_jwks(self) -> dict:
        return {"keys": [self._jwk(k, True) for k in self.kids]}

    def public_jwks(self) -> dict:
        return {"keys": [self._jwk(k, False) for k in self.kids]}

    def public_pem(self, kind: str = "rsa") -> bytes:
        return self.private[kind].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_der(self, kind: str = "rsa") -> bytes:
        return self.private[kind].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def mint(self, claims: dict, alg: str = "RS256", kid: Any = _DEFAULT,
             headers: dict | None = None) -> str:
        """A signed JWT. kid: default = this set's key for `alg`; None = no kid header."""
        hdr = dict(headers or {})
        if kid is _DEFAULT:
            hdr["kid"] = self.kid(alg)
        elif kid is not None:
            hdr["kid"] = kid
        return jwt.encode(claims, self.key(alg), algorithm=alg, headers=hdr)

    def sign_input(self, signing_input: bytes, alg: str) -> bytes:
        """Signature bytes (JWS encoding) over `signing_input` with this set's key for alg."""
        algo = jwt.get_algorithm_by_name(alg)
        return algo.sign(signing_input, algo.prepare_key(self.key(alg)))


def raw_token(header: dict | bytes | str, payload: dict | bytes | str,
              signature: bytes | Callable[[bytes], bytes] = b"") -> str:
    """Assemble header.payload.signature from arbitrary parts (dicts are JSON-encoded).

    `signature` is raw bytes (base64url-encoded here) or a function of the signing input,
    e.g. `lambda si: keys.sign_input(si, "RS256")` or `hs256(secret)`.
    """
    def part(x):
        if isinstance(x, dict):
            x = json.dumps(x, separators=(",", ":"))
        if isinstance(x, str):
            x = x.encode()
        return b64url(x)
    signing_input = f"{part(header)}.{part(payload)}".encode()
    sig = signature(signing_input) if callable(signature) else signature
    return f"{signing_input.decode()}.{b64url(sig)}"


def hs256(secret: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 signer (for alg-confusion tokens keyed with public key material)."""
    return lambda si: hmac.new(secret, si, hashlib.sha256).digest()


def claims_for(issuer: str, *, aud: Any = CLIENT_ID, email: str | None = "alice@example.com",
               groups: Any = ("ml-admin", "dev"), sub: str = "alice", lifetime: int = 300,
               **extra) -> dict:
    """Standard bearer-token claims for `issuer`; pass key=None to drop a claim."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": sub, "aud": aud, "iat": now, "nbf": now - 5,
              "exp": now + lifetime, "email": email,
              "groups": list(groups) if isinstance(groups, (list, tuple)) else groups}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}
