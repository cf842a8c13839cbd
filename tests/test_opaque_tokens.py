"""Opaque access tokens (`opaque_tokens`), through real Envoy (2 workers) and the real test IdP,
whose access tokens are opaque: a bearer that is not a JWT is checked by the IdP (RFC 7662
introspection as the client, or userinfo), its answer reused within bounds, dead and random
tokens refused without flooding the IdP, and an IdP outage answered 503, never 401.
"""
from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from support import CLIENT_ID, CLIENT_SECRET
from support.gate import gate_config, wait_for_pass
from support.login import idp_login

USERS = {"alice": {"groups": ["ml-team"]}}
API = [("Accept", "application/json")]


@pytest.fixture(scope="module")
def opaque_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": USERS})


def gate(lab, idp, keys, echo, plugin_wasm, **overrides):
    config = gate_config(idp, userid_claim=["email", "sub"], **overrides)
    envoy = lab.envoy(config, app_port=echo.port, idp_port=idp.port, wasm_path=plugin_wasm)
    wait_for_pass(envoy, keys.mint(idp.claims()))
    return envoy


@pytest.fixture(scope="module")
def introspecting(module_lab, opaque_idp, keys, echo, plugin_wasm):
    return gate(module_lab, opaque_idp, keys, echo, plugin_wasm,
                opaque_tokens={"method": "introspection", "cache_seconds": 2})


def access_token(idp) -> str:
    token = idp_login(idp, "alice")["access_token"]
    assert token.count(".") != 2, "the test IdP's access tokens are opaque"
    return token


def test_an_opaque_token_passes_once_the_idp_vouches_for_it_and_is_not_asked_again_at_once(
        introspecting, opaque_idp):
    token = access_token(opaque_idp)
    opaque_idp.reset_hits()
    for i in range(8):
        r = introspecting.get(f"/api/{i}", token, headers=API)
        assert r.status == 200, r
        # Introspection names the user by `sub` (it carries no email): the fallback list.
        assert r.upstream["headers"]["kubeflow-userid"] == "alice"
    # Each of the two workers asks at most once.
    assert 1 <= opaque_idp.hit("introspection") <= 2


def test_parallel_requests_with_a_new_token_are_held_for_one_answer(introspecting, opaque_idp):
    token = access_token(opaque_idp)
    opaque_idp.reset_hits()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: introspecting.get(f"/p/{i}", token, headers=API).status,
                                 range(16)))
    assert statuses == [200] * 16
    assert opaque_idp.hit("introspection") <= 2


def test_a_revoked_token_stops_working_within_cache_seconds(introspecting, opaque_idp):
    tokens = idp_login(opaque_idp, "alice")
    token = tokens["access_token"]
    assert introspecting.get("/api/x", token, headers=API).status == 200
    revocation = opaque_idp.discovery()["revocation_endpoint"]
    revoked = requests.post(revocation, data={"token": token, "token_type_hint": "access_token"},
                            auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert revoked.status_code == 200, revoked.text
    # Each worker may have kept the answer for cache_seconds (2 s): then every request fails.
    deadline = time.monotonic() + 6
    refused_in_a_row = 0
    while refused_in_a_row < 6:
        assert time.monotonic() < deadline, "a revoked token still passes after cache_seconds"
        r = introspecting.get("/api/x", token, headers=API)
        refused_in_a_row = refused_in_a_row + 1 if r.status == 401 else 0
        assert r.status in (200, 401), r
        time.sleep(0.1)
    assert "invalid_token" in (r.header("www-authenticate") or "")


@pytest.mark.parametrize("token", ["bm90LWEtdG9rZW4", "a" * 43, "x~y-z.w_v/u+t=="])
def test_tokens_the_idp_never_issued_are_refused_and_remembered(introspecting, opaque_idp, token):
    opaque_idp.reset_hits()
    for _ in range(6):
        r = introspecting.get("/api/x", token, headers=API)
        assert r.status == 401, r
    assert 1 <= opaque_idp.hit("introspection") <= 2


@pytest.mark.parametrize("token", ["a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "a b", "tok\"en"])
def test_broken_jwts_and_non_rfc6750_tokens_never_reach_the_idp(introspecting, opaque_idp, token):
    opaque_idp.reset_hits()
    r = introspecting.request("GET", "/api/x", [("Authorization", f"Bearer {token}")] + API)
    assert r.status in (400, 401), r
    assert opaque_idp.hit("introspection") == 0


def test_random_tokens_reach_the_idp_as_a_trickle(module_lab, opaque_idp, keys, echo, plugin_wasm):
    envoy = gate(module_lab, opaque_idp, keys, echo, plugin_wasm,
                 opaque_tokens={"method": "introspection", "calls_per_second": 2})
    opaque_idp.reset_hits()
    started = time.monotonic()
    statuses = [envoy.get("/api/x", f"random-token-{i}", headers=API).status for i in range(40)]
    seconds = time.monotonic() - started
    # Two workers, two calls each per second (and the second the burst started in).
    assert opaque_idp.hit("introspection") <= 4 * (int(seconds) + 2)
    assert set(statuses) <= {401, 503} and 503 in statuses, statuses


def test_an_idp_outage_gives_new_tokens_503_and_known_ones_keep_working(
        module_lab, opaque_idp, keys, echo, plugin_wasm):
    envoy = gate(module_lab, opaque_idp, keys, echo, plugin_wasm,
                 opaque_tokens={"method": "introspection", "cache_seconds": 300})
    known, fresh = access_token(opaque_idp), access_token(opaque_idp)
    # Both workers learn the known token.
    for _ in range(6):
        assert envoy.get("/api/x", known, headers=API).status == 200
    try:
        opaque_idp.fault("introspection", "500")
        for _ in range(4):
            assert envoy.get("/api/x", known, headers=API).status == 200
            r = envoy.get("/api/x", fresh, headers=API)
            assert r.status == 503, r
        opaque_idp.fault("introspection", "hang")
        r = envoy.get("/api/y", fresh, headers=API)
        assert r.status == 503, r
    finally:
        opaque_idp.fault("introspection", "ok")
    assert envoy.get("/api/x", fresh, headers=API).status == 200


def test_userinfo_names_the_user_with_the_claims_it_returns(
        module_lab, opaque_idp, keys, echo, plugin_wasm):
    envoy = gate(module_lab, opaque_idp, keys, echo, plugin_wasm, opaque_tokens="userinfo")
    token = access_token(opaque_idp)
    opaque_idp.reset_hits()
    seen = envoy.get("/api/x", token, headers=API).upstream["headers"]
    assert seen["kubeflow-userid"] == "alice@example.com"
    assert seen["kubeflow-groups"] == "ml-team"
    assert opaque_idp.hit("userinfo") == 1 and opaque_idp.hit("introspection") == 0
    r = envoy.get("/api/x", "never-issued-token", headers=API)
    assert r.status == 401, r


def test_a_grpc_client_with_a_dead_opaque_token_gets_unauthenticated(introspecting):
    r = introspecting.request("POST", "/flyteidl.service.AdminService/ListProjects",
                              [("Authorization", "Bearer bm8tc3VjaC10b2tlbg"),
                               ("content-type", "application/grpc"), ("te", "trailers")])
    assert r.header("grpc-status") == "16", r
