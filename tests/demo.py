"""The local demo: a real OpenID provider, Envoy with oidc-gate, and an app that shows who you are.

    ./build.sh demo [--port 8080] [--idp-port 9000]

Everything binds 127.0.0.1 and stops on Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import CLIENT_ID, CLIENT_SECRET  # noqa: E402
from support.lab import Lab  # noqa: E402
from support.tokens import KeySet, claims_for  # noqa: E402

DEMO_USER = "alice"
DEMO_PASSWORD = "any password (the demo IdP accepts every login)"


def plugin_config(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "idp_cluster": "idp",
        "client_id": CLIENT_ID,
        "client_secret_env": "OIDC_CLIENT_SECRET",
        "session_keys_env": "OIDC_SESSION_KEYS",
        # The demo runs on plain http://127.0.0.1, where browsers drop Secure cookies.
        "session_cookie_secure": False,
        "skip_auth_paths": ["/public"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8080)))
    parser.add_argument("--idp-port", type=int, default=int(os.environ.get("DEMO_IDP_PORT", 9000)))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="oidc-gate-demo-"))
    lab = Lab(workdir)
    try:
        keys = KeySet(prefix="demo-")
        users = {DEMO_USER: {"groups": ["ml-admin", "dev"], "name": "Alice"}}
        idp = lab.idp(keys, config={"users": users}, port=args.idp_port)
        app = lab.echo(html=True)
        env = {
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_SESSION_KEYS": base64.b64encode(os.urandom(32)).decode(),
        }
        envoy = lab.envoy(plugin_config(idp.issuer), app_port=app.port, idp_port=idp.port,
                          env=env, port=args.port)
        token = keys.mint(claims_for(idp.issuer, lifetime=3600))
        url = f"http://127.0.0.1:{envoy.port}"
        print(f"""
oidc-gate demo is running.

  Open {url}/ in a browser: you are sent to the OpenID provider's login page.
  Sign in as {DEMO_USER} with {DEMO_PASSWORD}; you land back on the app,
  which shows the identity Envoy handed it. "Log out" ends the session.

  app through Envoy + oidc-gate   {url}/
  OpenID provider                 {idp.issuer}
  Envoy admin (stats)             http://127.0.0.1:{envoy.admin_port}/stats?filter=oidc_gate

From a terminal:
  curl -i {url}/api/whoami                       # 401: no credential
  curl -i {url}/public/hello                     # skip-auth path: passes, no identity
  curl -s {url}/api/whoami -H 'kubeflow-userid: mallory' -H "Authorization: Bearer $TOKEN"

with a one-hour token for alice@example.com signed by the provider's key:
  TOKEN={token}

The app echoes the headers it received: look for kubeflow-userid and kubeflow-groups
(mallory's header never arrives). Logs: {workdir}. Ctrl-C stops everything.
""", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
