"""A tiny static HTTP server: plays a JWKS-only issuer such as the Kubernetes
service-account issuer (`https://kubernetes.default.svc.cluster.local`, keys at
`/openid/v1/jwks`), which has no login endpoints.

    python -m support.static_server --port P --routes routes.json

routes.json: {"/openid/v1/jwks": {"status": 200, "content_type": "application/json",
                                  "body": "<text>"}, ...}
Unknown paths get 404. Control paths (queried directly by the tests):
    GET  /__static/hits    -> {"<path>": n, ...} (every non-control request, by path)
    POST /__static/routes  -> replace the routes with the JSON body
"""

import json
import threading

from support.serving import Handler, command_line, serve_threaded

_lock = threading.Lock()
_routes: dict = {}
_hits: dict = {}


class StaticHandler(Handler):
    name = "static"

    def do_GET(self) -> None:
        if self.path == "/__static/hits":
            with _lock:
                return self.send_json(200, _hits)
        with _lock:
            _hits[self.path] = _hits.get(self.path, 0) + 1
            route = _routes.get(self.path.split("?")[0])
        if route is None:
            return self.send(404, "text/plain", b"not found")
        self.send(route.get("status", 200), route.get("content_type", "application/json"),
                  route["body"].encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/__static/routes":
            with _lock:
                _routes.clear()
                _routes.update(json.loads(body))
            return self.send_json(200, {})
        self.send(404, "text/plain", b"not found")


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--routes", required=True)
    args = parser.parse_args()
    with open(args.routes) as f:
        _routes.update(json.load(f))
    serve_threaded(StaticHandler, args.port)


if __name__ == "__main__":
    main()
