"""A fault-injecting HTTP proxy between Envoy's IdP cluster and the real test IdP (chaos.py).

    python faultproxy.py --port P --upstream-port U

Listens on 127.0.0.1:P and forwards every request to the IdP on 127.0.0.1:U unchanged, unless
a fault is set. Control paths on the same port (Envoy's fetches never use them):

    POST /__fault   {"mode": M, "paths": ["/jwks", ...], "delay_ms": n}   set the fault
    GET  /__fault/hits                  {"<mode> <path>": count, ...} requests seen per fault

Modes, applied to requests whose path is in `paths` (every path when `paths` is empty):
    pass       forward unchanged
    slow       wait `delay_ms`, then forward (the client has usually given up by then)
    html       200 text/html maintenance page
    notjson    200 application/json, a body that is not JSON at all
    truncated  200 application/json, the real answer cut in half
    huge       200 application/json, the real JWKS padded with made-up RSA keys to 10 MB
    stall      the real answer's headers and half its body, then `delay_ms` of silence, then
               the rest (the client gives up with the response half read)
    empty      200 application/json `{"keys":[]}`
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.client
import http.server
import json
import os
import threading
import time
from collections import Counter

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}
HUGE_BYTES = 10 * 1024 * 1024
MODES = {"pass", "slow", "html", "notjson", "truncated", "huge", "empty", "stall"}


class State:
    """The fault in force and what it has been applied to, shared by the handler threads."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.mode, self.paths, self.delay_ms = "pass", set(), 0
        self.hits: Counter = Counter()

    def fault_for(self, path: str) -> tuple[str, int]:
        with self.lock:
            mode = self.mode if not self.paths or path in self.paths else "pass"
            self.hits[f"{mode} {path}"] += 1
            return mode, self.delay_ms


@functools.lru_cache(maxsize=1)
def padded_jwks(real: bytes) -> bytes:
    """The real keys first, then made-up 2048-bit RSA keys until the document is 10 MB (made
    once: making it takes about a second, longer than the filter waits)."""
    keys = json.loads(real)["keys"]
    filler, size = [], len(real)
    while size < HUGE_BYTES:
        n = base64.urlsafe_b64encode(os.urandom(256)).rstrip(b"=").decode()
        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": f"filler-{len(filler)}", "n": n, "e": "AQAB"}
        filler.append(key)
        size += len(json.dumps(key)) + 2
    return json.dumps({"keys": keys + filler}).encode()


def make_handler(state: State):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # Envoy keeps its connections to the cluster open

        def log_message(self, *_):  # one line per request would only slow the proxy down
            pass

        def do_GET(self):
            self.handle_any()

        def do_POST(self):
            self.handle_any()

        def handle_any(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path = self.path.split("?", 1)[0]
            if path.startswith("/__fault"):
                return self.control(path, body)
            mode, delay_ms = state.fault_for(path)
            if mode == "html":
                return self.answer(200, "text/html", b"<!doctype html><h1>Down for maintenance</h1>")
            if mode == "notjson":
                return self.answer(200, "application/json", b"Service Unavailable")
            if mode == "empty":
                return self.answer(200, "application/json", b'{"keys":[]}')
            if mode == "slow":
                time.sleep(delay_ms / 1000)
            status, headers, data = self.forward(body)
            if mode == "truncated":
                data = data[: len(data) // 2]
            elif mode == "huge" and status == 200:
                data = padded_jwks(data)
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if mode == "stall":
                self.write(data[: len(data) // 2])
                self.wfile.flush()
                time.sleep(delay_ms / 1000)
                data = data[len(data) // 2:]
            self.write(data)

        def forward(self, body: bytes) -> tuple[int, list, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", state.upstream_port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.getheaders(), resp.read()
            except OSError as e:
                return 502, [("content-type", "text/plain")], f"proxy: {e}".encode()
            finally:
                conn.close()

        def control(self, path: str, body: bytes):
            if self.command == "POST" and path == "/__fault":
                fault = json.loads(body)
                if fault.get("mode") not in MODES:
                    return self.answer(400, "text/plain", f"unknown mode {fault.get('mode')!r}".encode())
                with state.lock:
                    state.mode = fault["mode"]
                    state.paths = set(fault.get("paths") or [])
                    state.delay_ms = int(fault.get("delay_ms") or 0)
                return self.answer(200, "application/json", b"{}")
            if path == "/__fault/hits":
                with state.lock:
                    return self.answer(200, "application/json", json.dumps(state.hits).encode())
            return self.answer(404, "text/plain", b"not found")

        def answer(self, status: int, content_type: str, data: bytes):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.write(data)

        def write(self, data: bytes):
            try:
                self.wfile.write(data)
            except OSError:  # the client timed out and closed: expected in slow mode
                self.close_connection = True

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State(args.upstream_port)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
