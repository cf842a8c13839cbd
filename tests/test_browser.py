"""A real browser (Debian's Chromium, driven by playwright-core) logs in on the IdP's own login
page through Envoy and lands on the app, which shows the identity it received."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from support import TESTS_DIR
from support.gate import gate_config, wait_for_pass

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def gate(module_lab, keys, echo, plugin_wasm):
    idp = module_lab.idp(keys, config={"users": {"alice": {"groups": ["ml-admin", "dev"]}}})
    config = gate_config(idp, session_cookie_secure=False)
    envoy = module_lab.envoy(config, app_port=echo.port, idp_port=idp.port, wasm_path=plugin_wasm)
    wait_for_pass(envoy, keys.mint(idp.claims()))
    envoy.idp = idp
    return envoy


def drive(*args: str) -> dict:
    proc = subprocess.run(["node", str(TESTS_DIR / "idp" / "browser.mjs"), *args],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, f"browser driver failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup.sh")
def test_chromium_logs_in_and_out(gate):
    app = f"http://127.0.0.1:{gate.port}/notebooks/"
    result = drive(app, "alice", "--logout", "/authservice/logout")
    assert result["landed"] == app
    seen = json.loads(result["body"])
    assert seen["headers"]["kubeflow-userid"] == "alice@example.com"
    assert seen["headers"]["kubeflow-groups"] == "ml-admin,dev"
    assert any(h.startswith(f"{gate.idp.issuer}/") for h in result["hops"]), "went through the IdP"
    session = [c for c in result["cookies"] if c["name"] == "authservice_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax"
    # Logout ends the IdP session too (RP-initiated logout), so the app asks for a login again.
    # After the IdP's confirmation it returns to after_logout_url ("/"), where the gateway,
    # holding no session any more, starts a new login.
    assert result["after_logout"].startswith(f"{gate.idp.issuer}/interaction/")
    assert result["after_logout_app_url"].startswith(f"{gate.idp.issuer}/")



@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by tests/setup.sh")
def test_chromium_a_tab_reloaded_after_logout_never_shows_the_app(gate):
    # Another tab shows the app; the user logs out (gateway and IdP) in the first. Reloading
    # the other tab, even with the old session cookies put back into the browser (a copy kept
    # elsewhere), shows the IdP's login, not the app.
    app = f"http://127.0.0.1:{gate.port}/notebooks/"
    result = drive(app, "alice", "--logout", "/authservice/logout", "--other-tab")
    assert json.loads(result["other_tab_body"])["headers"]["kubeflow-userid"] == "alice@example.com"
    assert result["other_tab_reloaded_url"].startswith(f"{gate.idp.issuer}/interaction/"), result
    assert "kubeflow-userid" not in result["other_tab_reloaded_body"]
