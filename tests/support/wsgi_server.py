"""A WSGI upstream that reads the identity the way a Flask or Django app does.

    python -m support.wsgi_server --port P

The server is the standard library's `wsgiref.simple_server`, which builds the WSGI environ
the CGI way (PEP 3333): header `kubeflow_userid` and header `kubeflow-userid` both become
`HTTP_KUBEFLOW_USERID` (values comma-joined in arrival order). The app reads the identity with
Werkzeug's request headers, exactly as a Flask view's `request.headers.get("Kubeflow-Userid")`
does. (Werkzeug's and gunicorn's own servers, and waitress, drop underscore headers instead;
this one folds them, so a spoofed variant that gets past the proxy shows up here.)

Every request is answered 200 with JSON:
    {"path": ..., "userid": <Kubeflow-Userid or null>, "groups": <Kubeflow-Groups or null>,
     "environ": {every HTTP_KUBEFLOW_* variable}}
and counted, except the control path GET /__wsgi/count -> {"count": n}.
"""

import json
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from werkzeug.wrappers import Request, Response

from support.serving import OneLineLog, command_line, serve

_lock = threading.Lock()
_count = 0


@Request.application
def app(request: Request) -> Response:
    global _count
    if request.path == "/__wsgi/count":
        with _lock:
            return Response(json.dumps({"count": _count}), content_type="application/json")
    with _lock:
        _count += 1
    seen = {
        "path": request.full_path,
        "userid": request.headers.get("Kubeflow-Userid"),
        "groups": request.headers.get("Kubeflow-Groups"),
        "environ": {k: v for k, v in request.environ.items() if k.startswith("HTTP_KUBEFLOW")},
    }
    return Response(json.dumps(seen), content_type="application/json")


class WsgiHandler(OneLineLog, WSGIRequestHandler):
    name = "wsgi"


def main() -> None:
    args = command_line(__doc__).parse_args()
    serve(WsgiHandler.name, make_server("127.0.0.1", args.port, app, handler_class=WsgiHandler))


if __name__ == "__main__":
    main()
