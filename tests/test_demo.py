"""`./build.sh demo` as a newcomer meets it (tests/demo.py, run as it is, on free ports): a real
browser signs in and the app shows the identity, the credential and no cookie of the IdP
(which is on another host name); logout lands on the public signed-out page, which offers a new
sign-in; the printed metrics URL answers; the logs are kept with --keep-logs, removed without."""

from __future__ import annotations

import re
import shutil
import socket
import sys
from pathlib import Path

import pytest
import requests

from support import TESTS_DIR
from support.processes import Proc, free_port, wait_until
from test_browser import CHROMIUM, drive

pytestmark = pytest.mark.timeout(180)


def start_demo(workdir: Path, *args: str) -> tuple[Proc, dict]:
    """The demo on free ports; returns its process and the ports."""
    ports = {"port": free_port(), "idp": free_port(), "admin": free_port()}
    proc = Proc("demo", [sys.executable, TESTS_DIR / "demo.py", "--port", ports["port"], "--idp-port",
                         ports["idp"], "--admin-port", ports["admin"], *args], workdir / "demo.log")
    proc.start()
    proc.wait_ready(lambda: "Ctrl-C stops everything" in proc.log_text(), timeout=90)
    return proc, ports


def logs_dir(proc: Proc) -> Path:
    return Path(re.search(r"Logs: (\S+)", proc.log_text()).group(1))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    proc, ports = start_demo(tmp_path_factory.mktemp("demo"))
    yield proc, ports
    proc.stop()


def test_the_demo_prints_where_everything_is(demo):
    proc, ports = demo
    out = proc.log_text()
    assert f"http://127.0.0.1:{ports['port']}/" in out
    assert f"OpenID provider                 http://localhost:{ports['idp']}" in out
    metrics = f"http://127.0.0.1:{ports['admin']}/stats/prometheus?filter=oidc_gate"
    assert metrics in out
    body = requests.get(metrics, timeout=10).text
    assert "oidc_gate" in body and all("oidc_gate" in line for line in body.splitlines())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup.sh")
def test_a_browser_signs_in_sees_its_identity_and_signs_out_to_the_public_page(demo):
    _, ports = demo
    app = f"http://127.0.0.1:{ports['port']}/"
    result = drive(app, "alice", "--logout", "/authservice/logout")
    assert any(hop.startswith(f"http://localhost:{ports['idp']}/") for hop in result["hops"])
    assert result["landed"] == app
    page = result["body"]
    assert "Hello, alice@example.com" in page
    assert "kubeflow-groupsml-admin,dev" in page
    assert "Signed in with a session cookie (authservice_session)." in page
    # The IdP's own cookies (oidc-provider's _session, _interaction) live on its host name,
    # and the gateway's session cookie is removed before the request goes upstream.
    assert "Cookies this app received: (none)\n" in page
    assert result["after_logout"] == f"http://127.0.0.1:{ports['port']}/signed-out"
    assert "You are signed out" in result["after_logout_body"]
    assert "Sign in again" in result["after_logout_body"]


def test_the_signed_out_page_is_public_and_links_to_the_login(demo):
    _, ports = demo
    url = f"http://127.0.0.1:{ports['port']}"
    page = requests.get(f"{url}/signed-out", headers={"accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "You are signed out" in page.text
    link = re.search(r'<a id=sign-in href="([^"]+)"', page.text).group(1)
    login = requests.get(url + link, headers={"accept": "text/html", "sec-fetch-mode": "navigate"},
                         allow_redirects=False, timeout=10)
    assert login.status_code == 302
    assert login.headers["location"].startswith(f"http://localhost:{ports['idp']}/auth?")


def test_a_bearer_token_is_named_as_the_credential(demo):
    proc, ports = demo
    token = re.search(r"TOKEN=(\S+)", proc.log_text()).group(1)
    page = requests.get(f"http://127.0.0.1:{ports['port']}/", timeout=10,
                        headers={"accept": "text/html", "authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert "Signed in with a bearer token (Authorization: Bearer)." in page.text


def test_logs_are_kept_with_keep_logs_and_removed_without(tmp_path):
    kept, _ = start_demo(tmp_path, "--keep-logs")
    removed, _ = start_demo(tmp_path / "other")
    try:
        kept.stop()
        removed.stop()
        assert (logs_dir(kept) / "idp1.log").exists() and list(logs_dir(kept).glob("envoy*.log"))
        assert not logs_dir(removed).exists()
    finally:
        shutil.rmtree(logs_dir(kept), ignore_errors=True)


def test_a_taken_admin_port_is_said_and_another_used(tmp_path):
    taken = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", taken))
        s.listen()
        proc = Proc("demo", [sys.executable, TESTS_DIR / "demo.py", "--port", free_port(), "--idp-port",
                             free_port(), "--admin-port", taken], tmp_path / "demo.log")
        proc.start()
        try:
            proc.wait_ready(lambda: "Ctrl-C stops everything" in proc.log_text(), timeout=90)
            out = proc.log_text()
            assert f"Port {taken} is taken" in out
            admin = re.search(r"metrics +http://127.0.0.1:(\d+)/", out).group(1)
            assert int(admin) != taken
            wait_until(lambda: requests.get(f"http://127.0.0.1:{admin}/ready", timeout=5).ok, 10, "admin")
        finally:
            proc.stop()
