"""Pinned-secret issuers (`extra_issuers[].hs256_secret_env`) through a real Envoy, with
DataHub's tokens: its metadata service signs personal access and session tokens HS256 with one
shared secret, issuer `datahub-metadata-service`, claims `actorId`, `type`, `version`, `jti`,
`sub`, `exp`, `iat` (and `actorType`), no `aud`; the header is `{"alg": "HS256"}` alone.

Such a token passes with `actorId` as the user id, next to the real IdP's RS256 tokens;
anything else naming that issuer (another secret or algorithm, a stray `aud`, expired) is
refused as an invalid token, and HS256 stays refused for the IdP. A missing, short or inline
secret is refused at startup with one log line naming the field, never the value.

Two Envoys (two workers each) share the module's IdP and echo upstream: the DataHub issuer
configured without audiences (as DataHub's tokens come), and configured with audiences.
"""

import secrets
import time
import uuid

import jwt
import pytest

from support.gate import assert_invalid_token, gate_config, wait_for_pass
from support.login import idp_login
from support.tokens import hs256, raw_token
from support.upstreams import UpstreamWatch
from test_config import plugin_errors, refused

DATAHUB = "datahub-metadata-service"
SECRET_ENV = "DATAHUB_TOKEN_SIGNING_KEY"
SECRET = secrets.token_urlsafe(48)  # 64 characters, fresh per run
OTHER_SECRET = secrets.token_urlsafe(48)
AUDIENCE = "datahub-frontend"
DENIED = "wasmcustom.oidc_gate.denied."


def datahub_issuer(**overrides) -> dict:
    return {"issuer": DATAHUB, "hs256_secret_env": SECRET_ENV, "userid_claim": "actorId",
            **overrides}


def datahub_claims(actor: str = "datahub", kind: str = "PERSONAL", lifetime: int = 3600,
                   **extra) -> dict:
    """What DataHub's StatelessTokenService puts in a token."""
    now = int(time.time())
    claims = {"actorId": actor, "actorType": "USER", "type": kind, "version": "2",
              "jti": str(uuid.uuid4()),
              "sub": actor, "exp": now + lifetime, "iat": now, "iss": DATAHUB}
    claims.update(extra)
    return claims


def datahub_token(claims: dict | None = None, key: str = SECRET, alg: str = "HS256") -> str:
    # DataHub's header is {"alg": "HS256"} alone: no typ.
    return jwt.encode(claims or datahub_claims(), key, algorithm=alg, headers={"typ": None})


def start_gate(module_lab, idp, echo, keys, plugin_wasm, issuer: dict):
    envoy = module_lab.envoy(gate_config(idp, extra_issuers=[issuer]), app_port=echo.port,
                             idp_port=idp.port, wasm_path=plugin_wasm, env={SECRET_ENV: SECRET})
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


@pytest.fixture(scope="module")
def gate(module_lab, idp, echo, keys, plugin_wasm):
    return start_gate(module_lab, idp, echo, keys, plugin_wasm, datahub_issuer())


@pytest.fixture(scope="module")
def gate_with_audiences(module_lab, idp, echo, keys, plugin_wasm):
    return start_gate(module_lab, idp, echo, keys, plugin_wasm,
                      datahub_issuer(audiences=[AUDIENCE]))


def user_seen(envoy, token: str) -> str:
    r = envoy.get("/api/graphql", token)
    assert r.status == 200, r
    return r.upstream["headers"]["kubeflow-userid"]


def assert_refused(envoy, echo, token: str, reason: str) -> None:
    """401 invalid_token, nothing upstream, and counted under `reason`."""
    name = f"{DENIED}reason.{reason}.mode.enforce"
    before = envoy.stats(name).get(name, 0)
    with UpstreamWatch(echo):
        r = envoy.get("/api/graphql", token)
    assert_invalid_token(r, token)
    assert envoy.stats(name).get(name, 0) == before + 1, envoy.stats(DENIED)


# --- what passes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["PERSONAL", "SESSION"])
def test_datahub_token_passes_with_actor_id_as_the_user(gate, kind):
    r = gate.get("/api/graphql", datahub_token(datahub_claims("jdoe", kind)),
                 headers=[("kubeflow-groups", "admin")])
    assert r.status == 200, r
    headers = r.upstream["headers"]
    assert headers["kubeflow-userid"] == "jdoe"
    assert headers.get("kubeflow-groups", "") == ""  # no groups claim: never the client's value


def test_datahub_tokens_need_no_key_fetch(start_envoy, idp, keys):
    """The secret is there from configure time: with no IdP reachable at all, DataHub tokens
    pass at once, while the IdP's own tokens wait for keys that never come (503)."""
    config = gate_config(idp, extra_issuers=[datahub_issuer()])
    envoy = start_envoy(config, idp=None, env={SECRET_ENV: SECRET})
    for i in range(6):
        assert user_seen(envoy, datahub_token(datahub_claims(f"user{i}"))) == f"user{i}"
    assert envoy.get("/api/graphql", keys.mint(idp.claims())).status == 503


def test_real_idp_tokens_still_pass_next_to_it(gate, idp, keys):
    assert user_seen(gate, keys.mint(idp.claims())) == "alice@example.com"
    assert user_seen(gate, idp_login(idp, "bob")["id_token"]) == "bob@example.com"


def test_audiences_when_configured_must_be_named(gate_with_audiences, echo):
    token = datahub_token(datahub_claims(aud=[AUDIENCE]))
    assert user_seen(gate_with_audiences, token) == "datahub"
    assert_refused(gate_with_audiences, echo, datahub_token(datahub_claims(aud="other-app")),
                   "wrong_aud")
    assert_refused(gate_with_audiences, echo, datahub_token(), "missing_aud")


# --- what is refused --------------------------------------------------------------------------


def refused_tokens(idp, keys):
    """name: (token, the reason it is counted under)."""
    claims = datahub_claims()
    return {
        "wrong_secret": (datahub_token(key=OTHER_SECRET), "bad_signature"),
        "hs512_with_the_secret": (datahub_token(alg="HS512"), "symmetric_alg"),
        "rs256_from_the_idp_key": (keys.mint(claims), "no_key_for_alg"),
        "none": (raw_token({"alg": "none"}, claims, b"\0"), "alg_none"),
        "aud_without_configured_audiences": (datahub_token(datahub_claims(aud=AUDIENCE)),
                                             "wrong_aud"),
        "expired": (datahub_token(datahub_claims(lifetime=-120)), "expired"),
        # HS256 naming the IdP: neither the DataHub secret nor the IdP's public key signs it.
        "hs256_idp_issuer_datahub_secret": (jwt.encode(idp.claims(), SECRET, algorithm="HS256"),
                                            "symmetric_alg"),
        "hs256_idp_issuer_public_key": (raw_token({"alg": "HS256", "kid": keys.kid("RS256")},
                                                  idp.claims(), hs256(keys.public_pem())),
                                        "symmetric_alg"),
    }


REFUSED = ["wrong_secret", "hs512_with_the_secret", "rs256_from_the_idp_key", "none",
           "aud_without_configured_audiences", "expired", "hs256_idp_issuer_datahub_secret",
           "hs256_idp_issuer_public_key"]


@pytest.mark.parametrize("case", REFUSED)
def test_refused(gate, echo, idp, keys, case):
    token, reason = refused_tokens(idp, keys)[case]
    assert_refused(gate, echo, token, reason)


# --- configuration ----------------------------------------------------------------------------


CONFIG_ERRORS = {
    # name: (extra issuer, VM environment, the field the error line names)
    "secret_variable_unset": (datahub_issuer(), {}, "extra_issuers[0].hs256_secret_env"),
    "secret_too_short": (datahub_issuer(), {SECRET_ENV: SECRET[:31]},
                         "extra_issuers[0].hs256_secret_env"),
    "secret_inline": (datahub_issuer(hs256_secret=SECRET), {SECRET_ENV: SECRET},
                      "extra_issuers[0].hs256_secret"),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_bad_secret_is_refused_naming_the_field_never_the_value(start_envoy, idp, case):
    issuer, env, field = CONFIG_ERRORS[case]
    res = refused(start_envoy, gate_config(idp, extra_issuers=[issuer]), env)
    errors = plugin_errors(res.log)
    assert len(errors) == 1, errors
    assert field in errors[0], errors[0]
    assert SECRET[:31] not in res.log
