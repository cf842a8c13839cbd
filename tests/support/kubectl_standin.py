"""A stand-in for `kubectl`, for istio/check_attached.py's tests: answers the three calls it
makes from a cluster described in the JSON file $KUBECTL_WORLD:

  {"wasmplugins": {"<ns>/<name>": <WasmPlugin>}, "pods": [<Pod>], "admin": "http://127.0.0.1:N"}

  kubectl [-n NS | --all-namespaces] get wasmplugin NAME -o json
  kubectl [-n NS | --all-namespaces] get pods -l SELECTOR -o json   (k=v, k, k in (a,b); comma-joined)
  kubectl -n NS exec POD -c istio-proxy -- pilot-agent request GET PATH
      the real Envoy admin API at "admin", printed as pilot-agent prints it (404 bodies too).
Anything else exits 1, as kubectl does on an error.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request


def matches(selector: str, labels: dict) -> bool:
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        term = term.strip()
        if m := re.fullmatch(r"(\S+) in \((.*)\)", term):
            if labels.get(m.group(1)) not in m.group(2).split(","):
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def get(world: dict, namespace: str | None, args: list[str]) -> dict:
    if args[0] == "wasmplugin":
        found = world["wasmplugins"].get(f"{namespace}/{args[1]}")
        if found is None:
            sys.exit(f'Error from server (NotFound): wasmplugins "{args[1]}" not found')
        return found
    assert args[:2] == ["pods", "-l"], args
    pods = [p for p in world["pods"] if matches(args[2], p["metadata"].get("labels", {}))
            and namespace in (None, p["metadata"]["namespace"])]
    return {"kind": "List", "items": pods}


def admin(world: dict, path: str) -> bytes:
    try:
        with urllib.request.urlopen(f"{world['admin']}/{path}", timeout=10) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return e.read()
        raise


def main(argv: list[str]) -> None:
    with open(os.environ["KUBECTL_WORLD"]) as f:
        world = json.load(f)
    namespace = None
    if argv[0] == "-n":
        namespace, argv = argv[1], argv[2:]
    elif argv[0] == "--all-namespaces":
        argv = argv[1:]
    if argv[0] == "get":
        assert argv[-2:] == ["-o", "json"], argv
        print(json.dumps(get(world, namespace, argv[1:-2])))
    elif argv[0] == "exec":
        assert argv[2:] == ["-c", "istio-proxy", "--", "pilot-agent", "request", "GET", argv[-1]], argv
        sys.stdout.buffer.write(admin(world, argv[-1]) + b"\n")
    else:
        sys.exit(f"kubectl stand-in: unexpected {argv}")


if __name__ == "__main__":
    main(sys.argv[1:])
