"""Identity for Envoy itself (envoy/identity.yaml): the identity oidc-gate publishes in Envoy's
filter state is what the access log prints and what an RBAC filter after oidc-gate decides on,
through real Envoy (two workers) and the real test IdP.

The Envoy under test gets the shipped example's own pieces: its access log (only the file path
changed), its path normalisation and its RBAC filter, placed after oidc-gate as in the file.
Its `headers_with_underscores_action: REJECT_REQUEST` is left out, so that spoofed identity
headers such as `kubeflow_userid` reach the filter instead of being refused by Envoy first.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest
import yaml

from support.deploy import ENVOY_DIR, envoy_validate, http_filters, wasm_plugin_config
from support.gate import gate_config, session_key, wait_for_pass
from support.login import Browser
from support.processes import wait_until

EXAMPLE = ENVOY_DIR / "identity.yaml"
RBAC = "envoy.filters.http.rbac"
# bob is the only member of `admins`; alice is the one user /ops lets in.
USERS = {"alice": {"groups": ["ml-admin", "dev"]}, "bob": {"groups": ["admins"]},
         "carol": {"groups": ["dev"]}}
SPOOFS = [("kubeflow-userid", "alice@example.com"), ("kubeflow_groups", "admins"),
          ("Kubeflow-Groups", "admins"), ("x-forwarded-user", "alice@example.com")]


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def connection_manager(bootstrap: dict) -> dict:
    (listener,) = bootstrap["static_resources"]["listeners"]
    (hcm,) = listener["filter_chains"][0]["filters"]
    return hcm["typed_config"]


def example_pieces(access_log_path) -> tuple[list[dict], dict]:
    """The example's filters after oidc-gate, and its connection manager settings (access log
    to `access_log_path`, path normalisation)."""
    cfg = example()
    names = [f["name"] for f in http_filters(cfg)]
    assert names == ["envoy.filters.http.wasm", RBAC, "envoy.filters.http.router"], names
    hcm = connection_manager(cfg)
    (access_log,) = copy.deepcopy(hcm["access_log"])
    access_log["typed_config"]["path"] = str(access_log_path)
    settings = {k: hcm[k] for k in ("normalize_path", "merge_slashes",
                                    "path_with_escaped_slashes_action")}
    return http_filters(cfg)[1:-1], {"access_log": [access_log], **settings}


@pytest.fixture(scope="module")
def users_idp(module_lab, keys):
    return module_lab.idp(keys, config={"users": USERS})


@pytest.fixture(scope="module")
def access_log(tmp_path_factory):
    return tmp_path_factory.mktemp("identity") / "access.log"


def log_entries(access_log) -> list[dict]:
    return [json.loads(line) for line in access_log.read_text().splitlines()]


@pytest.fixture(scope="module")
def gate(module_lab, users_idp, echo, keys, plugin_wasm, access_log):
    after, settings = example_pieces(access_log)
    config = gate_config(users_idp, session_cookie_secure=False,
                         skip_auth_paths=["/public", "/ops/status"])
    envoy = module_lab.envoy(config, app_port=echo.port, idp_port=users_idp.port,
                             wasm_path=plugin_wasm, concurrency=2, filters_after=after,
                             connection_manager=settings)
    wait_for_pass(envoy, keys.mint(users_idp.claims()))
    return envoy


def token(keys, idp, user: str) -> str:
    groups = USERS[user]["groups"]
    return keys.mint(idp.claims(email=f"{user}@example.com", sub=f"sub-{user}", groups=groups))


def logged(access_log, path: str) -> list[dict]:
    """The access log's lines for requests to `path` (paths are made unique), once there."""
    def lines():
        return [entry for entry in log_entries(access_log) if entry["path"] == path]
    return wait_until(lines, 10, f"the access log line of {path}")


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


# --- the shipped file ---------------------------------------------------------------------------


def test_the_example_passes_envoy_validate_mode(tmp_path, plugin_wasm):
    cfg = example()
    wasm_plugin_config(cfg)["vm_config"]["code"]["local"]["filename"] = str(plugin_wasm)
    path = tmp_path / "identity.yaml"
    path.write_text(yaml.safe_dump(cfg))
    secrets = {"OIDC_CLIENT_SECRET": "s3cret", "OIDC_SESSION_KEYS": session_key()}
    res = envoy_validate(path, secrets)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"configuration '{path}' OK" in res.stdout + res.stderr


# --- the access log -----------------------------------------------------------------------------


def test_the_access_log_names_who_made_an_authenticated_request(gate, access_log, keys, users_idp):
    path = unique("/notebooks")
    bearer = token(keys, users_idp, "alice")
    assert gate.get(path, bearer, headers=SPOOFS).status == 200
    (entry,) = logged(access_log, path)
    assert entry["status"] == 200
    assert (entry["user"], entry["groups"]) == ("alice@example.com", "ml-admin,dev")
    assert (entry["issuer"], entry["sub"]) == (users_idp.issuer, "sub-alice")
    signature = bearer.rsplit(".", 1)[1]
    assert signature not in access_log.read_text(), "a token reached the access log"


@pytest.mark.parametrize("prefix", ["/public", "/api"], ids=["skipped", "unauthenticated"])
def test_a_request_without_identity_names_nobody_whatever_it_sends(gate, access_log, prefix):
    path = unique(prefix)
    gate.get(path, headers=SPOOFS + [("Accept", "application/json")])
    (entry,) = logged(access_log, path)
    assert entry["status"] == (200 if prefix == "/public" else 401)
    assert [entry[k] for k in ("user", "groups", "issuer", "sub")] == [None] * 4


def test_a_browser_session_is_named_in_the_access_log(gate, access_log, users_idp):
    path = unique("/ops/console")
    landing = Browser().follow(f"http://127.0.0.1:{gate.port}{path}", user="alice")
    assert landing.status == 200, landing
    sent_to_idp, signed_in = wait_until(lambda: len(logged(access_log, path)) == 2 and
                                        logged(access_log, path), 10, "two lines")
    assert (sent_to_idp["status"], sent_to_idp["user"]) == (302, None)
    assert signed_in["status"] == 200
    assert (signed_in["user"], signed_in["sub"], signed_in["issuer"]) == (
        "alice@example.com", "alice", users_idp.issuer)
    # The callback's line has no query: the authorization code stays out of the log.
    callbacks = [e for e in log_entries(access_log) if e["path"].startswith("/authservice/")]
    assert callbacks and "code=" not in access_log.read_text()


# --- RBAC after oidc-gate -----------------------------------------------------------------------


@pytest.mark.parametrize("user, path, status", [
    ("bob", "/admin/users", 200),
    ("alice", "/admin/users", 403),
    ("carol", "/Admin", 403),
    ("alice", "/ops/deploy", 200),
    ("bob", "/ops/deploy", 403),
    ("carol", "/api/../ops/deploy", 403),
    ("carol", "/notebooks", 200),
])
def test_rbac_allows_the_group_and_the_user_it_names(gate, keys, users_idp, user, path, status):
    r = gate.get(path, token(keys, users_idp, user))
    assert r.status == status, r
    if status == 403:
        assert b"RBAC: access denied" in r.body


@pytest.mark.parametrize("user, path", [("alice", "/admin/users"), ("carol", "/ops/deploy")])
def test_identity_headers_from_the_client_do_not_change_rbac(gate, keys, users_idp, user, path):
    spoofs = SPOOFS + [("kubeflow-groups", "admins"), ("wasm.oidc_gate.userid", "alice@example.com")]
    r = gate.get(path, token(keys, users_idp, user), headers=spoofs)
    assert r.status == 403, r


def test_a_path_that_passes_without_identity_is_refused_by_an_identity_rule(gate):
    """/ops/status is under skip_auth_paths: oidc-gate lets it through with no identity, and the
    rule for /ops refuses it, whoever the client claims to be."""
    assert gate.get("/public/ok").status == 200
    r = gate.get("/ops/status", headers=SPOOFS)
    assert r.status == 403, r


# --- routing on identity ------------------------------------------------------------------------

BOBS_ROUTE = b"bob's own route"


@pytest.fixture(scope="module")
def routed(module_lab, users_idp, echo, keys, plugin_wasm):
    """An Envoy whose first route matches on `kubeflow-userid`, ahead of the application's: the
    route is chosen before any filter runs, so it must be chosen again once oidc-gate has
    written or removed the identity headers."""
    config = gate_config(users_idp, session_cookie_secure=False, skip_auth_paths=["/public"])
    routes = [
        {"match": {"prefix": "/", "headers": [
            {"name": "kubeflow-userid", "string_match": {"exact": "bob@example.com"}}]},
         "direct_response": {"status": 200, "body": {"inline_string": BOBS_ROUTE.decode()}}},
        {"match": {"prefix": "/"}, "route": {"cluster": "app", "timeout": "10s"}},
    ]
    route_config = {"name": "by-identity", "virtual_hosts": [
        {"name": "all", "domains": ["*"], "routes": routes}]}
    envoy = module_lab.envoy(config, app_port=echo.port, idp_port=users_idp.port,
                             wasm_path=plugin_wasm, concurrency=2,
                             connection_manager={"route_config": route_config})
    wait_for_pass(envoy, keys.mint(users_idp.claims()))
    return envoy


def test_a_route_on_the_identity_header_sees_the_identity_the_gate_wrote(routed, keys, users_idp):
    assert routed.get("/notebooks", token(keys, users_idp, "bob")).body == BOBS_ROUTE
    assert routed.get("/notebooks", token(keys, users_idp, "alice")).body != BOBS_ROUTE


@pytest.mark.parametrize("spoof", ["kubeflow-userid", "Kubeflow-Userid"])
@pytest.mark.parametrize("path, user", [("/notebooks", "alice"), ("/public/x", None)],
                         ids=["overwritten", "removed"])
def test_a_route_on_the_identity_header_never_sees_the_clients(routed, keys, users_idp, spoof,
                                                               path, user):
    # Envoy picks the route with the client's headers; the gate replaces them with alice's
    # identity, or removes them on a path that needs none, and the route must follow.
    bearer = token(keys, users_idp, user) if user else None
    r = routed.get(path, bearer, headers=[(spoof, "bob@example.com")])
    assert r.status == 200, r
    assert r.body != BOBS_ROUTE
