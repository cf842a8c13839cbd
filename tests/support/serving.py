"""The one base of the test HTTP servers (echo, static, WSGI upstream), both halves:

  * in the server process: `Handler` (HTTP/1.1, one log line a request) and `serve()`;
  * in the tests: `ServerProcess`, the handle that runs `python -m support.<server> --port P`
    on a free port as a `Proc` and asks its control paths directly (never through Envoy).

The servers run as processes of their own, like Envoy and the IdP: a test can stop one, and
the Python interpreter of pytest never answers Envoy's requests.
"""

from __future__ import annotations

import argparse
import json
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from support import TESTS_DIR
from support.processes import Proc, free_port


class OneLineLog:
    """Logs one line a request on stdout, which is the server's log file."""
    name = "server"

    def log_message(self, fmt: str, *args: Any) -> None:
        print(f"{self.name} {self.address_string()} {fmt % args}", flush=True)


class Handler(OneLineLog, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, obj: Any) -> None:
        self.send(status, "application/json", json.dumps(obj).encode())


def command_line(doc: str | None) -> argparse.ArgumentParser:
    """The arguments every test server takes (`--port`); a server adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    return parser


def serve(name: str, server: socketserver.TCPServer) -> None:
    print(f"{name} listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def serve_threaded(handler: type[Handler], port: int) -> None:
    """`handler` on 127.0.0.1:`port`, a thread a connection, until the process is killed."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    serve(handler.name, server)


class ServerProcess:
    """A test server (`module`, run with `python -m`) on a free port, as a process of the test."""
    module = ""

    def __init__(self, workdir: Path, name: str, *args: Any):
        self.port = free_port()
        cmd = [sys.executable, "-m", self.module, "--port", self.port, *args]
        self.proc = Proc(name, cmd, Path(workdir) / f"{name}.log", cwd=TESTS_DIR)

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self):
        self.proc.start()
        self.proc.wait_ready(self.ready, 10)
        return self

    def stop(self) -> None:
        self.proc.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"
