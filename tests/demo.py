"""The local demo: a real OpenID provider, Envoy with oidc-gate, and an app that shows who you are.

    ./build.sh demo [--port 8080] [--idp-port 9000] [--admin-port 9901] [--keep-logs]

The app is on http://127.0.0.1:<port>, the provider on http://localhost:<idp-port>: two host
names, as an app and its IdP have in production, so that the provider's cookies never reach
the app. Envoy's admin API (the metrics) is on <admin-port>, or a free port when that one is
taken. Everything listens on 127.0.0.1 and stops on Ctrl-C; the process logs are removed then,
unless --keep-logs. DEMO_PORT, DEMO_IDP_PORT and DEMO_ADMIN_PORT set the ports too.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import CLIENT_ID, CLIENT_SECRET  # noqa: E402
from support.echo_server import SIGNED_OUT_PATH  # noqa: E402
from support.lab import Lab  # noqa: E402
from support.tokens import KeySet, claims_for  # noqa: E402

DEMO_USER = "alice"
DEMO_PASSWORD = "any password (the demo IdP accepts every login)"
# Another name for 127.0.0.1: browsers keep cookies per host name, whatever the port.
IDP_HOST = "localhost"
LOGIN_PATH = "/authservice/login"


def plugin_config(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "idp_cluster": "idp",
        "client_id": CLIENT_ID,
        "client_secret_env": "OIDC_CLIENT_SECRET",
        "session_keys_env": "OIDC_SESSION_KEYS",
        # The demo runs on plain http://127.0.0.1, where browsers drop Secure cookies.
        "session_cookie_secure": False,
        # After logout, a public page that offers a new sign-in (a protected one would show
        # the login form straight away).
        "skip_auth_paths": ["/public", SIGNED_OUT_PATH],
        "after_logout_url": SIGNED_OUT_PATH,
        "login_path": LOGIN_PATH,
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8080)))
    parser.add_argument("--idp-port", type=int, default=int(os.environ.get("DEMO_IDP_PORT", 9000)))
    parser.add_argument("--admin-port", type=int, default=int(os.environ.get("DEMO_ADMIN_PORT", 9901)))
    parser.add_argument("--keep-logs", action="store_true", help="keep the process logs after Ctrl-C")
    return parser.parse_args()


def admin_port(wanted: int) -> int:
    """`wanted` when it is free, else 0 (Envoy picks one), saying so."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", wanted))
            return wanted
        except OSError:
            print(f"Port {wanted} is taken: Envoy's admin API goes on a free port "
                  f"(--admin-port chooses another).", flush=True)
            return 0


def wait_for_ctrl_c() -> None:
    # Blocked (now that the children run, which would inherit the mask) so that sigwait takes
    # them, rather than SIGTERM's default action ending the demo without its cleanup.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    signal.sigwait(stop_signals)


def main() -> None:
    args = arguments()
    workdir = Path(tempfile.mkdtemp(prefix="oidc-gate-demo-"))
    lab = Lab(workdir)
    try:
        keys = KeySet(prefix="demo-")
        users = {DEMO_USER: {"groups": ["ml-admin", "dev"], "name": "Alice"}}
        idp = lab.idp(keys, config={"users": users}, port=args.idp_port, host=IDP_HOST)
        app = lab.echo(html=True)
        env = {
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_SESSION_KEYS": base64.b64encode(os.urandom(32)).decode(),
        }
        envoy = lab.envoy(plugin_config(idp.issuer), app_port=app.port, idp_port=idp.port,
                          env=env, port=args.port, admin_port=admin_port(args.admin_port))
        token = keys.mint(claims_for(idp.issuer, lifetime=3600))
        url = f"http://127.0.0.1:{envoy.port}"
        logs = f"{workdir} (kept after Ctrl-C)" if args.keep_logs else \
            f"{workdir} (removed on Ctrl-C; --keep-logs keeps them)"
        print(f"""
oidc-gate demo is running.

  Open {url}/ in a browser: you are sent to the OpenID provider's login page.
  Sign in as {DEMO_USER} with {DEMO_PASSWORD}; you land back on the app,
  which shows the identity Envoy handed it and the credential it came with.
  "Log out" ends the session, here and at the provider, and lands on {url}{SIGNED_OUT_PATH}.

  app through Envoy + oidc-gate   {url}/
  OpenID provider                 {idp.issuer}  (another host name: its cookies stay its own)
  metrics                         http://127.0.0.1:{envoy.admin_port}/stats/prometheus?filter=oidc_gate
  Envoy admin                     http://127.0.0.1:{envoy.admin_port}/

From a terminal:
  curl -i {url}/api/whoami                       # 401: no credential
  curl -i {url}/public/hello                     # skip-auth path: passes, no identity
  curl -s {url}/api/whoami -H 'kubeflow-userid: mallory' -H "Authorization: Bearer $TOKEN"

with a one-hour token for alice@example.com signed by the provider's key:
  TOKEN={token}

The app echoes the headers it received: look for kubeflow-userid and kubeflow-groups
(mallory's header never arrives). Logs: {logs}. Ctrl-C stops everything.
""", flush=True)
        wait_for_ctrl_c()
    finally:
        lab.close()
        if not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
