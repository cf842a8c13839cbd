"""Envoy bootstraps and Envoy processes for the benchmark.

Every Envoy here is the venv's binary (`support.envoy.envoy_binary()`), listens on 127.0.0.1 on a
free port, logs at `warning` only (no per-request debug logging in the hot path) and runs as a
`support.processes.Proc`, so it is stopped at the end however the benchmark ends.

Two kinds of bootstrap:
  * `direct_response_bootstrap`: the upstream (answers `200 ok`) and the no-op ext_authz
    authorizer (answers `200` with no body) — nothing behind them, so they are never the
    bottleneck and cost the same in every scenario;
  * `proxy_bootstrap`: the Envoy under test, routing `/` to the upstream cluster `app` through
    the scenario's HTTP filters (none, jwt_authn, ext_authz or the oidc-gate Wasm filter).
"""

from __future__ import annotations

import json
from pathlib import Path

from support import CLIENT_ID, CLIENT_SECRET
from support.envoy import ROUTER_FILTER, Envoy, envoy_binary, listener_bootstrap, static_cluster, wasm_filter
from support.processes import Proc, free_port


def _bootstrap(port: int, route: dict, http_filters: list[dict], clusters: list[dict]) -> dict:
    return listener_bootstrap(port, {
        "stat_prefix": "ingress",
        "route_config": {"name": "all", "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [dict(match={"prefix": "/"}, **route)],
        }]},
        "http_filters": http_filters + [ROUTER_FILTER],
    }, clusters)


def direct_response_bootstrap(port: int, body: str | None) -> dict:
    """An Envoy answering every request with 200 (and `body`, if any) by itself."""
    response: dict = {"status": 200}
    if body is not None:
        response["body"] = {"inline_string": body}
    return _bootstrap(port, {"direct_response": response}, [], [])


def proxy_bootstrap(port: int, http_filters: list[dict], app_port: int,
                    extra_clusters: dict[str, int] | None = None, secrets: list[dict] = ()) -> dict:
    """The Envoy under test: `/` goes to cluster `app` through `http_filters` + router;
    `secrets`: static secrets the filters name."""
    clusters = [static_cluster("app", app_port)]
    clusters += [static_cluster(name, p) for name, p in (extra_clusters or {}).items()]
    route = {"route": {"cluster": "app", "timeout": "10s"}}
    bootstrap = _bootstrap(port, route, http_filters, clusters)
    if secrets:
        bootstrap["static_resources"]["secrets"] = list(secrets)
    return bootstrap


def jwt_authn_filter(issuer: str, jwks_uri: str, cache: bool) -> dict:
    """Envoy's native JWT filter for the benchmark's issuer/audience, JWKS fetched from the IdP
    (cluster `idp`) before the listener takes traffic. With `cache`, verified tokens are kept
    in jwt_authn's per-worker cache (`jwt_cache_config`, its default size of 100).
    Like oidc-gate, it passes the user id upstream in `kubeflow-userid`."""
    provider: dict = {
        "issuer": issuer,
        "audiences": [CLIENT_ID],
        "remote_jwks": {
            "http_uri": {"uri": jwks_uri, "cluster": "idp", "timeout": "5s"},
            "cache_duration": "600s",
            "async_fetch": {"fast_listener": False},
        },
        "forward": True,
        "claim_to_headers": [{"header_name": "kubeflow-userid", "claim_name": "email"}],
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 100}
    return {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"idp": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    }}


def ext_authz_filter(authorizer_port: int) -> dict:
    """HTTP ext_authz to cluster `authz` (the no-op authorizer); Authorization is forwarded to
    it by default. Deny on failure, as an auth service would be deployed."""
    return {"name": "envoy.filters.http.ext_authz", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        "http_service": {"server_uri": {
            "uri": f"http://127.0.0.1:{authorizer_port}", "cluster": "authz", "timeout": "2s"}},
    }}


def oauth2_filter(issuer: str) -> dict:
    """Envoy's own OAuth2 filter as a login client of the test IdP's default client: code flow
    (Envoy sends PKCE), client_secret_basic at the token endpoint (cluster `idp`), and on
    every later request the HMAC-signed cookies it set (BearerToken, OauthHMAC, OauthExpires,
    IdToken, RefreshToken). The client secret and the HMAC key are static secrets of the
    bootstrap (`OAUTH2_SECRETS`)."""
    return {"name": "envoy.filters.http.oauth2", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2",
        "config": {
            "token_endpoint": {"uri": f"{issuer}/token", "cluster": "idp", "timeout": "5s"},
            "authorization_endpoint": f"{issuer}/auth",
            "redirect_uri": "http://%REQ(:authority)%/authservice/oidc/callback",
            "redirect_path_matcher": {"path": {"exact": "/authservice/oidc/callback"}},
            "signout_path": {"path": {"exact": "/authservice/logout"}},
            "credentials": {"client_id": CLIENT_ID, "token_secret": {"name": "oauth2-client"},
                            "hmac_secret": {"name": "oauth2-hmac"}},
            "auth_scopes": ["openid", "email", "profile", "groups"],
            "auth_type": "BASIC_AUTH",
            "use_refresh_token": True,
        },
    }}


def oauth2_secrets(hmac_key: str) -> list[dict]:
    """The static secrets `oauth2_filter` names: the test client's secret, the cookie HMAC key."""
    return [{"name": name, "generic_secret": {"secret": {"inline_string": value}}}
            for name, value in (("oauth2-client", CLIENT_SECRET), ("oauth2-hmac", hmac_key))]


def gate_filter(plugin_config: dict, wasm_path: Path) -> dict:
    """The oidc-gate Wasm filter exactly as the integration tests configure it."""
    return wasm_filter(plugin_config, {}, wasm_path)


def start(workdir: Path, name: str, bootstrap_for, *, cpus: list[int] | None = None,
          concurrency: int = 1, wait: bool = True, timeout: float = 30) -> Envoy:
    """Start an Envoy for `bootstrap_for(port)` on a free port, pinned to `cpus` with taskset
    (taskset execs Envoy, so the Proc's pid is Envoy's). wait=False returns at once."""
    port = free_port()
    config_path = workdir / f"{name}.yaml"  # JSON is YAML
    admin_path = workdir / f"{name}.admin"
    admin_path.unlink(missing_ok=True)
    config_path.write_text(json.dumps(bootstrap_for(port), indent=2))
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    cmd = pin + [envoy_binary(), "-c", config_path, "--concurrency", concurrency,
                 "--disable-hot-restart", "--admin-address-path", admin_path, "-l", "warning"]
    proc = Proc(name, cmd, workdir / f"{name}.log")
    envoy = Envoy(workdir, proc, port, admin_path, config_path)
    proc.start()
    if wait:
        proc.wait_ready(envoy.is_ready, timeout)
    return envoy


def counter(envoy: Envoy, name: str) -> int:
    """One counter from the admin API (0 if Envoy has not created it yet)."""
    return envoy.stats(name).get(name, 0)


def heap_in_use_kib(envoy: Envoy) -> int:
    """Bytes Envoy's allocator has handed out and not had back (the admin `/memory` endpoint's
    `allocated`), in KiB. The rest of the RSS is the binary, V8's compiled code and the Wasm
    memories (mapped by V8 itself), and what the allocator keeps after frees."""
    return int(json.loads(envoy.admin("/memory"))["allocated"]) // 1024


def rss_kib(envoy: Envoy) -> int:
    """Resident set size of the Envoy process (VmRSS from /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{envoy.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {envoy.proc.pid}")
