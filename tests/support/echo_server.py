"""Echo upstream for the integration tests.

    python -m support.echo_server --port P [--html] [--cors-origin ORIGIN]

Every request is answered 200 with JSON describing what arrived:
    {"method": ..., "path": ..., "headers": {lowercased name: value, or a list if repeated},
     "body_len": n}
and counted. Control paths (queried directly by the tests, never through Envoy):
    GET  /__echo/count     -> {"count": n}
    GET  /__echo/requests  -> [<the echo bodies of every counted request>, ...]
    POST /__echo/reset     -> zero the count and forget the requests
Header values are decoded as latin-1 (as http.server does), so raw non-UTF-8 bytes survive.
--cors-origin: the upstream owns a CORS policy that lets pages of ORIGIN call it, as an API
behind the gateway does: a preflight from ORIGIN (counted too) is answered 204 with the methods
and headers it may use, and every answer to ORIGIN carries Access-Control-Allow-Origin.
The standard library's server is used on purpose: a WSGI server would fold header names
(`kubeflow_userid` into `HTTP_KUBEFLOW_USERID`) and join repeated headers, hiding exactly what
the tests look for.
"""

import threading
from html import escape

from support.serving import Handler, command_line, serve_threaded

CONTROL_PREFIX = "/__echo/"
IDENTITY_HEADERS = ("kubeflow-userid", "kubeflow-groups")
# --html: the demo's public page after logout (its after_logout_url, an allowed path).
SIGNED_OUT_PATH = "/signed-out"
SIGNED_OUT_PAGE = b"""<!doctype html><meta charset="utf-8"><title>Signed out</title>
<h1>You are signed out</h1>
<p><a id=sign-in href="/authservice/login?rd=/">Sign in again</a></p>
"""

_lock = threading.Lock()
_requests: list = []


def _read_body(handler: Handler) -> bytes:
    length = handler.headers.get("content-length")
    if length is not None:
        return handler.rfile.read(int(length))
    if "chunked" in (handler.headers.get("transfer-encoding") or "").lower():
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Trailers (if any) end with an empty line.
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return b""


def _headers_dict(handler: Handler) -> dict:
    out: dict = {}
    for name, value in handler.headers.items():
        key = name.lower()
        if key in out:
            prev = out[key]
            out[key] = prev + [value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _credential(headers: dict) -> str:
    """Which credential the gateway took the identity from. The gateway removes its session
    cookie before the request comes here, so an identity without a bearer token is a session's."""
    if "kubeflow-userid" not in headers:
        return "Not signed in."
    if str(headers.get("authorization", "")).lower().startswith("bearer "):
        return "Signed in with a bearer token (Authorization: Bearer)."
    return "Signed in with a session cookie (authservice_session)."


class EchoHandler(Handler):
    name = "echo"
    server_version = "echo"
    html = False  # --html: answer browsers with the demo's "who am I" and signed-out pages
    cors_origin: str | None = None  # --cors-origin

    def _control(self) -> None:
        with _lock:
            if self.path == "/__echo/count":
                return self.send_json(200, {"count": len(_requests)})
            if self.path == "/__echo/requests":
                return self.send_json(200, list(_requests))
            if self.path == "/__echo/reset" and self.command == "POST":
                _requests.clear()
                return self.send_json(200, {"count": 0})
        return self.send_json(404, {"error": "unknown control path"})

    def _handle(self) -> None:
        body = _read_body(self)
        if self.path.startswith(CONTROL_PREFIX):
            return self._control()
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": _headers_dict(self),
            "body_len": len(body),
        }
        with _lock:
            _requests.append(seen)
        if self._allowed_origin() and self.command == "OPTIONS" \
                and "access-control-request-method" in self.headers:
            return self._preflight()
        if self.html and self.path.split("?")[0] == SIGNED_OUT_PATH:
            return self.send(200, "text/html; charset=utf-8", SIGNED_OUT_PAGE)
        if self.html and "text/html" in self.headers.get("accept", ""):
            return self._page(seen)
        self.answer(seen)

    def answer(self, seen: dict) -> None:
        """The answer to a counted request: what arrived. The platform stand-ins
        (support/platform_server.py) answer as their platform's API does instead."""
        self.send_json(200, seen)

    def _allowed_origin(self) -> bool:
        # No headers yet when the request line itself was refused (send_error).
        headers = getattr(self, "headers", None)
        return self.cors_origin is not None and headers is not None \
            and headers.get("origin") == self.cors_origin

    def _preflight(self) -> None:
        self.send_response(204)
        self.send_header("access-control-allow-methods", "GET, POST")
        # Named explicitly: the wildcard "*" never covers Authorization.
        self.send_header("access-control-allow-headers", "authorization, content-type")
        self.send_header("content-length", "0")
        self.end_headers()

    def end_headers(self) -> None:
        if self._allowed_origin():
            self.send_header("access-control-allow-origin", self.cors_origin)
            self.send_header("vary", "Origin")
        super().end_headers()

    def _page(self, seen: dict) -> None:
        """The demo's "who am I" page: the identity headers up front, the credential that
        carried them, and every header and cookie the app received."""
        h = seen["headers"]
        rows = "".join(f"<tr{' class=identity' if k in IDENTITY_HEADERS else ''}><td>{escape(k)}</td>"
                       f"<td>{escape(str(v))}</td></tr>" for k, v in sorted(h.items()))
        cookies = [c.split("=", 1)[0].strip() for c in str(h.get("cookie", "")).split(";") if c.strip()]
        data = f"""<!doctype html><meta charset="utf-8"><title>whoami</title>
<style>.identity {{ background: #fff3b0; font-weight: bold }} td {{ padding: 2px 8px }}</style>
<h1>Hello, {escape(h.get("kubeflow-userid", "anonymous"))}</h1>
<table class=identity-headers>
<tr class=identity><td>kubeflow-userid</td><td>{escape(h.get("kubeflow-userid", "(none)"))}</td></tr>
<tr class=identity><td>kubeflow-groups</td><td>{escape(h.get("kubeflow-groups", "") or "(none)")}</td></tr>
</table>
<p id=credential>{_credential(h)}</p>
<p id=cookies>Cookies this app received: {escape(", ".join(cookies) or "(none)")}</p>
<p><a href="/authservice/logout">Log out</a></p>
<h2>Headers this app received</h2><table>{rows}</table>
""".encode()
        self.send(200, "text/html; charset=utf-8", data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--html", action="store_true", help="answer browsers with a whoami page")
    parser.add_argument("--cors-origin", help="the origin whose pages may call this upstream")
    args = parser.parse_args()
    EchoHandler.html = args.html
    EchoHandler.cors_origin = args.cors_origin
    serve_threaded(EchoHandler, args.port)


if __name__ == "__main__":
    main()
