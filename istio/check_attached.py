#!/usr/bin/env python3
"""Confirms that oidc-gate runs in the Istio gateway it is meant for; fails loudly otherwise.

A WasmPlugin whose selector or targetRefs match no gateway pod is accepted by Kubernetes and
by istiod without a word, and the gateway then serves without authentication. Run this after
every install and upgrade:

  istio/check_attached.py [-n NAMESPACE] [--name NAME] [--root-namespace istio-system]
      reads the WasmPlugin (default istio-system/oidc-gate) with kubectl, finds the pods it
      selects, and checks each one's Envoy through `kubectl exec ... pilot-agent request`.
  istio/check_attached.py --admin http://127.0.0.1:15000 [-n NAMESPACE] [--name NAME]
      checks one Envoy's admin API (e.g. through `kubectl port-forward <pod> 15000`).

For each Envoy: the plugin's filter is configured (ECDS, under the name istiod gives it), as
the Wasm module and not the RBAC filter Istio puts in its place when the module cannot be
fetched; the module started (its `wasmcustom.oidc_gate.*` stats exist: a configuration the
filter refused leaves none); and the policy of components/require-oidc-gate comes after it in
every HTTP connection manager that has it. Exit 0 when all holds, 1 with a line per problem,
2 when kubectl or the admin API cannot be read. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
# The filter state oidc-gate sets on every request it lets through; the companion policy
# refuses requests without it.
PASSED_KEY = "wasm.oidc_gate.passed"
# The names istiod gives the filter, by version: 1.24-1.25
# `extenstions.istio.io/wasmplugin/<ns>.<name>` (sic), 1.26-1.29
# `extensions.istio.io/wasmplugin/<ns>.<name>`, from 1.30
# `extensions.istio.io/trafficextension/<ns>.<name>~istio-translated-wasmplugin`.
ISTIO_1_30_SUFFIX = "~istio-translated-wasmplugin"
GATEWAY_API_LABEL = "gateway.networking.k8s.io/gateway-name"


class Unreadable(Exception):
    """kubectl or the admin API gave no answer we can read (exit 2)."""


def is_plugin_name(name: str, namespace: str, plugin: str) -> bool:
    """Whether an ECDS resource or HTTP filter name is the one istiod gives this WasmPlugin."""
    pattern = rf"(?:.*/)?{re.escape(f'{namespace}.{plugin}')}(?:{re.escape(ISTIO_1_30_SUFFIX)})?"
    return re.fullmatch(pattern, name) is not None


# --- what one Envoy says ------------------------------------------------------------------------


def check_envoy(admin, namespace: str, plugin: str) -> list[str]:
    """The problems of one Envoy, read through `admin(path) -> bytes`; empty when it runs the
    filter with the fail-closed policy after it."""
    problems = check_ecds(admin, namespace, plugin)
    if problems:
        return problems
    return check_started(admin) + check_policy(admin, namespace, plugin)


def check_ecds(admin, namespace: str, plugin: str) -> list[str]:
    dump = read_json(admin, "/config_dump?resource=ecds_filters")
    found = [c.get("ecds_filter", {}) for c in dump.get("configs", [])
             if is_plugin_name(c.get("ecds_filter", {}).get("name", ""), namespace, plugin)]
    if not found:
        return [f"no filter of WasmPlugin {namespace}/{plugin}: it is not attached to this gateway "
                "(its selector or targetRefs match other pods, or its match leaves these ports out)"]
    problems = []
    for extension in found:
        typed = extension.get("typed_config", {})
        if typed.get("@type") == WASM_TYPE:
            continue
        if typed.get("@type") == RBAC_TYPE and "rules" in typed:
            problems.append(f"{extension['name']}: Istio put a deny-all filter in its place: the "
                            "module could not be fetched (url, sha256, imagePullSecret, registry; "
                            "istio-proxy log: 'error in converting the wasm config'); every "
                            "request gets 403")
        else:
            problems.append(f"{extension['name']}: Istio put an allow-all filter in its place "
                            "(failStrategy FAIL_OPEN and the module could not be fetched): "
                            "requests pass unauthenticated unless the fail-closed policy refuses them")
    return problems


def check_started(admin) -> list[str]:
    stats = read_json(admin, "/stats?format=json&filter=" + urllib.parse.quote(r"^wasmcustom\.oidc_gate\."))
    if stats.get("stats"):
        return []
    return ["the filter is configured but its module did not start: no wasmcustom.oidc_gate stats "
            "(istio-proxy log: 'oidc-gate: invalid configuration')"]


def check_policy(admin, namespace: str, plugin: str) -> list[str]:
    """Every HTTP filter chain with the plugin has the fail-closed policy after it."""
    chains = list(http_filter_chains(read_json(admin, "/config_dump")))
    problems = []
    for names in chains:
        at = [i for i, f in enumerate(names) if is_plugin_name(f["name"], namespace, plugin)]
        policy = [i for i, f in enumerate(names) if PASSED_KEY in json.dumps(f)]
        if at and not policy:
            problems.append("no fail-closed policy after the filter (components/require-oidc-gate): "
                            "if the filter ever stops running here, requests pass unauthenticated")
        elif at and min(policy) < max(at):
            problems.append("the fail-closed policy runs before the filter: it refuses every request")
    return sorted(set(problems))


def http_filter_chains(node):
    """The `http_filters` lists of every HTTP connection manager in a config dump."""
    if isinstance(node, dict):
        if isinstance(node.get("http_filters"), list):
            yield node["http_filters"]
        for value in node.values():
            yield from http_filter_chains(value)
    elif isinstance(node, list):
        for value in node:
            yield from http_filter_chains(value)


def read_json(admin, path: str) -> dict:
    body = admin(path).strip()
    # Envoy answers 404 with this text when the dump has no such section (no ECDS at all).
    if body.endswith(b"not found in config dump"):
        return {}
    try:
        return json.loads(body)
    except ValueError as e:
        raise Unreadable(f"admin {path}: not JSON: {e}") from None


def admin_over_http(base: str):
    def get(path: str) -> bytes:
        try:
            with urllib.request.urlopen(base.rstrip("/") + path, timeout=10) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:  # the body says what is missing (as `pilot-agent request` prints it)
                return e.read()
            raise Unreadable(f"{base}{path}: {e}") from None
        except OSError as e:
            raise Unreadable(f"{base}{path}: {e}") from None
    return get


# --- which pods, through kubectl ------------------------------------------------------------------


def kubectl_json(kubectl: list[str], *args: str) -> dict:
    out = run(kubectl + list(args) + ["-o", "json"])
    try:
        return json.loads(out)
    except ValueError as e:
        raise Unreadable(f"kubectl {' '.join(args)}: not JSON: {e}") from None


def run(command: list[str]) -> bytes:
    try:
        done = subprocess.run(command, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unreadable(f"{command[0]}: {e}") from None
    if done.returncode != 0:
        raise Unreadable(f"{' '.join(command)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def selected_pods(kubectl: list[str], namespace: str, name: str, root: str) -> tuple[str, list[dict]]:
    """(how the WasmPlugin selects, the pods it selects). A plugin in the root namespace with a
    selector applies in every namespace; targetRefs name Gateways of its own namespace."""
    spec = kubectl_json(kubectl, "-n", namespace, "get", "wasmplugin", name).get("spec", {})
    refs = spec.get("targetRefs") or ([spec["targetRef"]] if spec.get("targetRef") else [])
    if refs:
        gateways = [r["name"] for r in refs if r.get("kind") == "Gateway"]
        query = f"{GATEWAY_API_LABEL} in ({','.join(gateways)})"
        pods = kubectl_json(kubectl, "-n", namespace, "get", "pods", "-l", query)
        return f"targetRefs Gateway {', '.join(gateways)}", pods.get("items", [])
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    query = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    where = ["--all-namespaces"] if namespace == root else ["-n", namespace]
    pods = kubectl_json(kubectl, *where, "get", "pods", "-l", query) if labels else {"items": []}
    return f"selector {query or '(none)'}", pods.get("items", [])


def gateway_pods_hint(kubectl: list[str]) -> str:
    """The pods that look like Istio gateways, with their `istio` label, to pick a selector."""
    try:
        items = kubectl_json(kubectl, "--all-namespaces", "get", "pods", "-l", "istio").get("items", [])
    except Unreadable:
        return ""
    found = [f"{p['metadata']['namespace']}/{p['metadata']['name']} (istio={p['metadata']['labels']['istio']})"
             for p in items]
    return "; pods with an istio label: " + (", ".join(found) if found else "none")


def admin_in_pod(kubectl: list[str], pod: dict):
    meta = pod["metadata"]

    def get(path: str) -> bytes:
        return run(kubectl + ["-n", meta["namespace"], "exec", meta["name"], "-c", "istio-proxy", "--",
                              "pilot-agent", "request", "GET", path.lstrip("/")])
    return get


# --- main -------------------------------------------------------------------------------------------


def report(target: str, problems: list[str]) -> bool:
    for problem in problems:
        print(f"FAIL {target}: {problem}")
    if not problems:
        print(f"ok   {target}: oidc-gate runs, the fail-closed policy after it")
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--namespace", default="istio-system", help="the WasmPlugin's namespace")
    parser.add_argument("--name", default="oidc-gate", help="the WasmPlugin's name")
    parser.add_argument("--root-namespace", default="istio-system", help="the mesh's root namespace")
    parser.add_argument("--admin", help="check this Envoy admin URL instead of asking kubectl")
    parser.add_argument("--kubectl", default="kubectl", help="kubectl command (e.g. 'kubectl --context x')")
    args = parser.parse_args(argv)
    try:
        if args.admin:
            ok = report(args.admin, check_envoy(admin_over_http(args.admin), args.namespace, args.name))
            return 0 if ok else 1
        kubectl = args.kubectl.split()
        how, pods = selected_pods(kubectl, args.namespace, args.name, args.root_namespace)
        if not pods:
            print(f"FAIL WasmPlugin {args.namespace}/{args.name}: its {how} matches no pod: "
                  f"no gateway runs oidc-gate{gateway_pods_hint(kubectl)}")
            return 1
        results = [report(f"{p['metadata']['namespace']}/{p['metadata']['name']}",
                          check_envoy(admin_in_pod(kubectl, p), args.namespace, args.name))
                   for p in pods]
        return 0 if all(results) else 1
    except Unreadable as e:
        print(f"check_attached: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
