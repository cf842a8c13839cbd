"""`oidc-gate-check` as operators run it: every error of a configuration at once, JSON or YAML,
the configurations inside a WasmPlugin manifest or an Envoy config (the repo's own examples
pass), `--no-env` when the secrets are not at hand, and its exit codes (0 valid, 1 invalid,
2 unreadable input). The filter's own refusal of the same configurations is in test_config.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from support import REPO
from support.deploy import ENVOY_DIR, ISTIO_DIR, check_binary, render
from support.gate import session_key

SECRET = "s3cret-never-printed"
ENV = {"OIDC_CLIENT_SECRET": SECRET, "OIDC_SESSION_KEYS": session_key()}
VALID = {
    "issuer": "https://idp.example.com",
    "idp_cluster": "idp",
    "client_id": "app",
    "client_secret_env": "OIDC_CLIENT_SECRET",
    "session_keys_env": "OIDC_SESSION_KEYS",
}
INVALID = "oidc-gate: invalid configuration: "


def check(*args: str | Path, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    """The checker with only `env` (plus PATH) as its environment."""
    proc_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(ENV if env is None else env)}
    return subprocess.run([str(check_binary()), *map(str, args)], input=stdin, capture_output=True,
                          env=proc_env, timeout=30)


def lines(out: bytes) -> list[str]:
    return out.decode().splitlines()


def test_every_error_is_reported_at_once(tmp_path):
    config = {**VALID, "mode": "strict", "clock_skew_seconds": 9999, "session_same_site": "Sometimes",
              "colour": "blue"}
    res = check(stdin=json.dumps(config).encode())
    assert res.returncode == 1
    assert lines(res.stderr) == [
        f'{INVALID}colour: unknown key',
        f'{INVALID}session_same_site: "Sometimes" is not one of Strict, Lax, None',
        f'{INVALID}mode: "strict": "enforce" or "audit"',
        f"{INVALID}clock_skew_seconds: must be a whole number from 0 to 600",
    ]
    assert res.stdout == b""


def test_yaml_reads_as_json(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**VALID, "scopes": ["openid", "email"]}))
    res = check(path)
    assert (res.returncode, lines(res.stdout)) == (0, ["ok"]), res.stderr
    path.write_text(yaml.safe_dump({**VALID, "scopes": "openid"}))
    res = check(path)
    assert res.returncode == 1 and lines(res.stderr) == [f"{INVALID}scopes: must be a list of strings, got a string"]


@pytest.mark.parametrize("name", sorted(p.name for p in ENVOY_DIR.glob("*.yaml")))
def test_the_repos_envoy_configs_pass(name):
    res = check(ENVOY_DIR / name, "--no-env", env={})
    assert res.returncode == 0, res.stderr
    assert [line.rsplit(": ", 1)[1] for line in lines(res.stdout)] == ["ok"]


@pytest.mark.parametrize("overlay", ["generic", "kubeflow"])
def test_the_repos_rendered_istio_overlays_pass(overlay):
    manifest = yaml.safe_dump_all(render(ISTIO_DIR / "overlays" / overlay)).encode()
    res = check("-", "--no-env", "--request", "GET kubeflow.example.com/", stdin=manifest, env={})
    assert res.returncode == 0, res.stderr
    assert lines(res.stdout) == ["WasmPlugin istio-system/oidc-gate: ok",
                                 "WasmPlugin istio-system/oidc-gate: GET kubeflow.example.com/ -> authenticate (no rule)"]


def test_each_wasm_plugin_of_a_manifest_is_checked_and_named(tmp_path):
    def plugin(name, config):
        return {"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
                "metadata": {"name": name, "namespace": "gw"}, "spec": {"pluginConfig": config}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oidc"}, "stringData": {"x": SECRET}}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all([secret, plugin("good", VALID), plugin("bad", {**VALID, "issuer": None, "mode": "x"})]))
    res = check(path)
    assert res.returncode == 1
    assert lines(res.stdout) == ["WasmPlugin gw/good: ok"]
    assert lines(res.stderr) == [f"WasmPlugin gw/bad: {INVALID}issuer: required",
                                 f'WasmPlugin gw/bad: {INVALID}mode: "x": "enforce" or "audit"']


def test_an_envoy_configs_wasm_filter_and_ecds_resource_are_checked(tmp_path):
    bootstrap = yaml.safe_load((ENVOY_DIR / "edge.yaml").read_text())
    wasm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"][0]
    wasm["typed_config"]["config"]["configuration"]["value"] = json.dumps({**VALID, "client_id": ""})
    ecds = {"resources": [{"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
                           "name": "oidc", "typed_config": wasm["typed_config"]}]}
    for config, place in [(bootstrap, "static_resources.listeners[0].filter_chains[0].filters[0]"
                                      ".typed_config.http_filters[0].typed_config"),
                          (ecds, "resources[0].typed_config")]:
        path = tmp_path / "envoy.json"
        path.write_text(json.dumps(config))
        res = check(path)
        assert res.returncode == 1
        assert lines(res.stderr) == [f"{place}: {INVALID}client_id: must not be empty"]


def test_no_env_takes_the_named_variables_as_set_and_still_checks_their_names():
    raw = json.dumps(VALID).encode()
    res = check(stdin=raw, env={})
    assert res.returncode == 1
    assert [line.split(": ")[2] for line in lines(res.stderr)] == ["client_secret_env", "session_keys_env"]
    res = check("--no-env", stdin=raw, env={})
    assert (res.returncode, lines(res.stdout)) == (0, ["ok"]), res.stderr
    res = check("--no-env", stdin=json.dumps({**VALID, "session_keys_env": "not a name"}).encode(), env={})
    assert res.returncode == 1 and "session_keys_env" in res.stderr.decode()


def test_secrets_are_never_printed():
    res = check(stdin=json.dumps({**VALID, "client_secret_env": None, "client_secret": SECRET,
                                  "mode": "x"}).encode())
    assert res.returncode == 1 and b"mode" in res.stderr
    assert SECRET.encode() not in res.stdout + res.stderr


@pytest.mark.parametrize("content", [b"issuer: [unclosed\n", b"kind: Deployment\nmetadata: {name: app}\n"])
def test_unreadable_input_exits_2(tmp_path, content):
    path = tmp_path / "input.yaml"
    path.write_text(content.decode())
    res = check(path)
    assert res.returncode == 2 and lines(res.stderr)[0].startswith(f"oidc-gate-check: {path}: "), res.stderr
    assert check(tmp_path / "missing.json").returncode == 2


@pytest.mark.timeout(900)
def test_cargo_install_path_installs_the_checker(tmp_path):
    """The README's `cargo install --path .`: here a debug build into a scratch root, in the
    checkout's build directory so that what the other tests built is reused."""
    target_dir = os.environ.get("CARGO_TARGET_DIR") or REPO / "target"
    out = subprocess.run(["cargo", "install", "--quiet", "--debug", "--offline", "--path", REPO,
                          "--root", tmp_path, "--target-dir", target_dir],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["oidc-gate-check"]
    res = subprocess.run([tmp_path / "bin" / "oidc-gate-check", "--no-env"], input=json.dumps(VALID).encode(),
                         capture_output=True, timeout=30)
    assert (res.returncode, res.stdout) == (0, b"ok\n"), res.stderr
