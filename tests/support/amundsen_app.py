"""Amundsen's frontend as a Flask app behind the gateway, in the flaskoidc style: it reads the
signed-in user from the identity header the gateway sets and calls the metadata service as that
user with the token the gateway forwards (`forward_token`), as Amundsen's frontend does with
the access token flaskoidc keeps for it.

    python -m support.amundsen_app --port P --metadata-url http://127.0.0.1:M

    GET /                      -> the frontend's page
    GET /api/metadata/v0/user  -> {"user": <Kubeflow-Userid>, "metadata": <the metadata service's
                                   JSON answer to GET /user/<user>>}; 401 when the gateway
                                   forwarded no token
    GET /__amundsen/count      -> {"count": n}: requests the app received (this one excepted)
"""

import threading

import requests
from flask import Flask, abort, jsonify, request
from werkzeug.serving import make_server

from support.serving import command_line, serve

app = Flask(__name__)
_lock = threading.Lock()
_count = 0


@app.before_request
def count() -> None:
    global _count
    if request.path != "/__amundsen/count":
        with _lock:
            _count += 1


@app.get("/__amundsen/count")
def counted():
    with _lock:
        return jsonify(count=_count)


@app.get("/")
def index():
    return "<!doctype html><title>Amundsen</title><h1>Amundsen</h1>"


@app.get("/api/metadata/v0/user")
def current_user():
    user = request.headers.get("Kubeflow-Userid")
    token = request.headers.get("Authorization")
    if not user or not token:
        abort(401)
    answer = requests.get(f"{app.config['METADATA_URL']}/user/{user}",
                          headers={"Authorization": token}, timeout=10)
    if answer.status_code != 200:
        abort(502)
    return jsonify(user=user, metadata=answer.json())


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--metadata-url", required=True)
    args = parser.parse_args()
    app.config["METADATA_URL"] = args.metadata_url
    serve("amundsen", make_server("127.0.0.1", args.port, app, threaded=True))


if __name__ == "__main__":
    main()
