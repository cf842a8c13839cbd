"""A tiny static HTTP server: plays a JWKS-only issuer such as the Kubernetes
service-account issuer (`https://kubernetes.default.svc.cluster.local`, keys at
`/openid/v1/jwks`), which has no login endpoints.

    python static_server.py --port P --routes routes.json

routes.json: {"/openid/v1/jwks": {"status": 200, "content_type": "application/json",
                                  "body": "<text>"}, ...}
Unknown paths get 404. Control paths (queried directly by the tests):
    GET  /__static/hits    -> {"<path>": n, ...} (every non-control request, by path)
    POST /__static/routes  -> replace the routes with the JSON body
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_routes: dict = {}
_hits: dict = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/__static/hits":
            with _lock:
                return self._send(200, "application/json", json.dumps(_hits))
        with _lock:
            _hits[self.path] = _hits.get(self.path, 0) + 1
            route = _routes.get(self.path.split("?")[0])
        if route is None:
            return self._send(404, "text/plain", "not found")
        self._send(route.get("status", 200), route.get("content_type", "application/json"), route["body"])

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/__static/routes":
            with _lock:
                _routes.clear()
                _routes.update(json.loads(body))
            return self._send(200, "application/json", "{}")
        self._send(404, "text/plain", "not found")

    def log_message(self, fmt, *args) -> None:
        print(f"static {fmt % args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", required=True)
    args = parser.parse_args()
    with open(args.routes) as f:
        _routes.update(json.load(f))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"static server listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
