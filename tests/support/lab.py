"""`Lab`: starts the processes of one test scope (IdPs, upstreams, Envoys) and stops them all."""

from __future__ import annotations

from pathlib import Path

from support import PLUGIN_WASM
from support.envoy import Envoy, EnvoyStart, launch, render_bootstrap
from support.idp import Idp
from support.processes import free_port, wait_until
from support.tokens import KeySet
from support.upstreams import Echo, PlatformStandIn, StaticServer, WsgiUpstream


class Lab:
    """Owns the processes of one test scope; `close()` stops all of them."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.procs: list = []
        self._n = 0

    def unique_name(self, base: str) -> str:
        """`base` numbered, so that the log files of one scope never collide."""
        self._n += 1
        return f"{base}{self._n}"

    def own(self, thing):
        """Stop `thing` (anything with `stop()`) when the lab closes; returns it."""
        self.procs.append(thing)
        return thing

    def idp(self, keyset: KeySet, config: dict | None = None, start: bool = True,
            port: int | None = None, host: str = "127.0.0.1") -> Idp:
        idp = self.own(Idp(self.workdir, keyset, self.unique_name("idp"), config, port, host))
        return idp.start() if start else idp

    def echo(self, html: bool = False, cors_origin: str | None = None) -> Echo:
        return self.own(Echo(self.workdir, self.unique_name("echo"), html, cors_origin)).start()

    def static(self, routes: dict) -> StaticServer:
        return self.own(StaticServer(self.workdir, routes, self.unique_name("static"))).start()

    def platform(self) -> PlatformStandIn:
        return self.own(PlatformStandIn(self.workdir, self.unique_name("platform"))).start()

    def wsgi(self) -> WsgiUpstream:
        return self.own(WsgiUpstream(self.workdir, self.unique_name("wsgi"))).start()

    def envoy(self, plugin_config: dict | str | None, *, app_port: int, idp_port: int | None,
              concurrency: int = 2, env: dict | None = None, extra_clusters: dict | None = None,
              wasm_path: Path = PLUGIN_WASM, expect_failure: bool = False,
              timeout: float = 30, port: int | None = None, filters_after: list[dict] = (),
              connection_manager: dict | None = None, app_http2: bool = False,
              admin_port: int = 0) -> Envoy | EnvoyStart:
        """Start Envoy. Normally waits for admin /ready == LIVE and returns the Envoy.

        Two workers by default, as Envoy runs on this size of machine: each worker has its own
        Wasm VM, so what workers share (keys, fetch leases, refreshes) is always exercised.
        `env` is the plugin's VM environment (not Envoy's process environment).
        `filters_after`, `connection_manager` and `app_http2`: see `render_bootstrap`.
        `admin_port`: the admin API's port (0: a free one).

        expect_failure=True: wait until Envoy exits or becomes ready and return an
        EnvoyStart with the log, for configs that must be refused.
        """
        if plugin_config is not None and not Path(wasm_path).exists():
            raise FileNotFoundError(f"{wasm_path} not found: build the plugin first (./build.sh)")
        name = self.unique_name("envoy")
        port = port or free_port()
        bootstrap = render_bootstrap(port, app_port, idp_port, plugin_config, env or {},
                                     extra_clusters or {}, Path(wasm_path), filters_after,
                                     connection_manager, app_http2, admin_port)
        envoy = self.own(launch(self.workdir, name, bootstrap, port, concurrency))
        if expect_failure:
            return self._outcome(envoy, timeout)
        envoy.proc.wait_ready(envoy.is_ready, timeout)
        return envoy

    @staticmethod
    def _outcome(envoy: Envoy, timeout: float) -> EnvoyStart:
        proc = envoy.proc
        try:
            wait_until(lambda: not proc.alive or envoy.is_ready(), timeout, f"{proc.name} to exit or be ready")
        except TimeoutError:
            pass
        # A refusal at startup can race with readiness; give a dying Envoy a moment.
        rc = proc.wait_exit(1.0) if proc.alive else proc.returncode
        return EnvoyStart(envoy, exited=not proc.alive, returncode=rc, log=proc.log_text())

    def close(self) -> None:
        for thing in reversed(self.procs):
            thing.stop()
