"""Self-checks of the harness pieces that do not need the plugin: the IdP (discovery, keys,
faults, rotation, restart on the same port, a full code+PKCE login, its records of back-channel
logouts and revocations), the echo upstream and a
plain Envoy (no wasm filter) in front of it."""

import json

import jwt
import pytest
import requests

from support.login import idp_login
from support.processes import wait_until
from support.tokens import KeySet


def test_idp_discovery_and_public_keys(idp, keys):
    doc = idp.discovery()
    assert doc["issuer"] == idp.issuer
    assert doc["jwks_uri"] == f"{idp.issuer}/jwks"
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "S256" in doc["code_challenge_methods_supported"]
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(doc["scopes_supported"])
    assert doc.get("end_session_endpoint")
    jwks = idp.jwks()
    assert sorted(k["kid"] for k in jwks["keys"]) == sorted(keys.kids.values())
    for k in jwks["keys"]:  # only public halves are served
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(k), k


def test_idp_hits_and_faults(lab, keys):
    idp = lab.idp(keys)
    assert idp.hits() == {}  # readiness probes are not counted
    for mode, expect in [("500", 500), ("html", 200), ("garbage", 200), ("empty", 200)]:
        idp.fault("jwks", mode)
        status, body = _get(f"{idp.issuer}/jwks")
        assert status == expect, mode
        if mode == "empty":
            assert json.loads(body) == {"keys": []}
        if mode == "garbage":
            with pytest.raises(ValueError):
                json.loads(body)
    idp.fault("jwks", "hang")
    with pytest.raises(OSError):  # socket.timeout / URLError: it never answers
        _get(f"{idp.issuer}/jwks", timeout=0.5)
    idp.fault("jwks", "ok")
    assert _get(f"{idp.issuer}/jwks")[0] == 200
    idp.fault("discovery", "wrong_issuer")
    assert json.loads(_get(f"{idp.issuer}/.well-known/openid-configuration")[1])["issuer"] == idp.issuer + "/"
    assert idp.hits()["jwks"] == 6
    idp.reset_hits()
    assert idp.hits() == {}


def test_idp_rotation_and_restart_same_port(lab, keys):
    idp = lab.idp(keys)
    new = KeySet(generation=2)
    idp.rotate(new)
    assert sorted(k["kid"] for k in idp.jwks()["keys"]) == sorted(new.kids.values())
    port = idp.port
    idp.stop()
    with pytest.raises(OSError):
        _get(f"{idp.issuer}/jwks", timeout=1)
    idp.start()
    assert idp.port == port
    # The restarted IdP keeps the rotated keys.
    assert sorted(k["kid"] for k in idp.jwks()["keys"]) == sorted(new.kids.values())


def test_idp_code_flow_with_pkce_issues_tokens_with_groups(lab, keys):
    idp = lab.idp(keys, config={"users": {"alice": {"groups": ["ml-admin", "dev"]}}})
    tokens = idp_login(idp, "alice")
    assert tokens["callback"]["iss"] == idp.issuer  # RFC 9207 iss in the authorization response
    assert tokens.get("refresh_token")
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["kid"] == keys.kid("RS256")
    claims = jwt.decode(tokens["id_token"], keys.key("RS256").public_key(), algorithms=["RS256"],
                        audience="demo-app", issuer=idp.issuer)
    assert claims["email"] == "alice@example.com"
    assert claims["groups"] == ["ml-admin", "dev"]
    assert claims["nonce"] == tokens["nonce"]
    assert claims["sub"] == "alice"


def test_idp_back_channel_logout_and_revocation_records(lab, keys):
    receiver = lab.echo()  # stands in for the RP's back-channel logout endpoint
    idp = lab.idp(keys, config={"backchannel_logout_uri": f"http://127.0.0.1:{receiver.port}/bcl"})
    tokens = idp_login(idp, "alice")
    id_token = jwt.decode(tokens["id_token"], keys.key("RS256").public_key(), algorithms=["RS256"],
                          audience="demo-app", issuer=idp.issuer)
    assert id_token["sid"], "a client with a back-channel logout URI gets sid"
    assert idp.sessions()[-1] == {"sub": "alice", "client_id": "demo-app", "sid": id_token["sid"]}

    delivery = idp.backchannel_logout("alice")
    assert delivery["status"] == 200 and delivery["uri"] == f"http://127.0.0.1:{receiver.port}/bcl"
    assert jwt.get_unverified_header(delivery["logout_token"])["typ"] == "logout+jwt"
    claims = jwt.decode(delivery["logout_token"], keys.key("RS256").public_key(), algorithms=["RS256"],
                        audience="demo-app", issuer=idp.issuer)
    assert claims["sub"] == "alice" and claims["sid"] == id_token["sid"] and claims["jti"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    seen = receiver.requests()[-1]
    assert seen["method"] == "POST" and seen["path"] == "/bcl"
    assert seen["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert idp.backchannel_logouts() == [delivery]

    auth = ("demo-app", "s3cret")
    revoke = {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    assert requests.post(f"{idp.issuer}/token/revocation", data=revoke, auth=auth, timeout=5).status_code == 200
    assert requests.post(f"{idp.issuer}/token/revocation", data={"token": "unknown"}, auth=auth,
                         timeout=5).status_code == 200
    # A record is completed once the IdP has answered (a moment after the client saw it).
    def answered():
        records = idp.revocations()
        return records if all(r["status"] is not None for r in records) else None
    assert wait_until(answered, 5, "answered revocation records") == [
        {"token_type_hint": "refresh_token", "kind": "RefreshToken", "sub": "alice",
         "client_auth": "client_secret_basic", "status": 200, "token_active_after": False},
        {"token_type_hint": None, "kind": None, "sub": None,
         "client_auth": "client_secret_basic", "status": 200, "token_active_after": False},
    ]
    refresh = requests.post(f"{idp.issuer}/token", auth=auth, timeout=5,
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


def test_envoy_without_filter_forwards_to_echo(lab, idp, echo):
    envoy = lab.envoy(None, app_port=echo.port, idp_port=idp.port)
    before = echo.count()
    r = envoy.request("GET", "/a/b?c=1", [("X-One", "1"), ("X-Raw", b"\xff\xfe"), ("X-Rep", "a"), ("X-Rep", "b")])
    assert r.status == 200
    seen = r.upstream
    assert seen["path"] == "/a/b?c=1"
    assert seen["headers"]["x-one"] == "1"
    assert seen["headers"]["x-raw"] == "\xff\xfe"  # non-UTF-8 bytes pass Envoy's codec
    assert echo.count() == before + 1
    assert envoy.stats("downstream_rq_2xx")["http.ingress.downstream_rq_2xx"] == 1


def _get(url, timeout=5):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
