"""Handles of the test upstreams and JWKS-only issuers (their servers: support/*_server.py),
and `UpstreamWatch`, which proves that nothing reached an upstream."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from support.control import http_call, http_json
from support.serving import ServerProcess


class Echo(ServerProcess):
    """The echo upstream: answers what it received, and counts it."""
    module = "support.echo_server"

    def __init__(self, workdir: Path, name: str = "echo", html: bool = False,
                 cors_origin: str | None = None):
        args = (["--html"] if html else []) + (["--cors-origin", cors_origin] if cors_origin else [])
        super().__init__(workdir, name, *args)

    def ready(self) -> bool:
        return self.count() >= 0

    def count(self) -> int:
        return http_json(self.url("/__echo/count"), timeout=2)["count"]

    def requests(self) -> list[dict]:
        return http_json(self.url("/__echo/requests"))

    def reset(self) -> None:
        http_json(self.url("/__echo/reset"), "POST", {})


class StaticServer(ServerProcess):
    """Serves fixed bodies by path (a JWKS-only issuer such as Kubernetes')."""
    module = "support.static_server"

    def __init__(self, workdir: Path, routes: dict, name: str = "static"):
        routes_path = Path(workdir) / f"{name}-routes.json"
        routes_path.parent.mkdir(parents=True, exist_ok=True)
        routes_path.write_text(json.dumps(routes))
        super().__init__(workdir, name, "--routes", routes_path)

    def ready(self) -> bool:
        return http_call(self.url("/__static/hits"), timeout=1)[0] == 200

    def hits(self) -> dict:
        return http_json(self.url("/__static/hits"))

    def set_routes(self, routes: dict) -> None:
        http_json(self.url("/__static/routes"), "POST", routes)


def jwks_route(jwks: dict) -> dict:
    return {"status": 200, "content_type": "application/json", "body": json.dumps(jwks)}


class WsgiUpstream(ServerProcess):
    """A WSGI app behind wsgiref, which folds header names; `direct()` asks it without Envoy in
    between."""
    module = "support.wsgi_server"

    def __init__(self, workdir: Path, name: str = "wsgi"):
        super().__init__(workdir, name)

    def ready(self) -> bool:
        return self.count() >= 0

    def direct(self, path: str, headers: list[tuple[str, str]]) -> dict:
        # http.client, not requests: the spoofed header names must go out exactly as spelled.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.putrequest("GET", path)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            return json.loads(resp.read())
        finally:
            conn.close()

    def count(self) -> int:
        return self.direct("/__wsgi/count", [])["count"]


class UpstreamWatch:
    """`with UpstreamWatch(upstream): ...` fails if any request reached the upstream inside
    (`upstream`: anything with a `count()` of the requests it received)."""

    def __init__(self, upstream: Echo | WsgiUpstream):
        self.upstream = upstream

    def __enter__(self):
        self.before = self.upstream.count()
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            after = self.upstream.count()
            assert after == self.before, f"{after - self.before} request(s) reached the upstream"


class PlatformStandIn(Echo):
    """A platform's server for its real client (support/platform_server.py): the echo upstream
    that answers the API calls of kfp and acryl-datahub as their servers do."""
    module = "support.platform_server"

    def __init__(self, workdir: Path, name: str = "platform"):
        ServerProcess.__init__(self, workdir, name)


class AmundsenFrontend(ServerProcess):
    """Amundsen's frontend (support/amundsen_app.py, Flask) calling `metadata_url`."""
    module = "support.amundsen_app"

    def __init__(self, workdir: Path, metadata_url: str, name: str = "amundsen"):
        super().__init__(workdir, name, "--metadata-url", metadata_url)

    def ready(self) -> bool:
        return self.count() >= 0

    def count(self) -> int:
        return http_json(self.url("/__amundsen/count"), timeout=2)["count"]
