"""HTTP calls to the control APIs of the test servers (never through Envoy), with `requests`."""

from __future__ import annotations

from typing import Any

import requests


def http_call(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 5,
              headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of one request, also for 4xx/5xx."""
    resp = requests.request(method, url, data=body, headers=headers, timeout=timeout)
    return resp.status_code, resp.content


def http_json(url: str, method: str = "GET", obj: Any = None, timeout: float = 5) -> Any:
    """The JSON answer of a control call that must succeed (`obj`, if any, is the JSON body)."""
    resp = requests.request(method, url, json=obj, timeout=timeout)
    if resp.status_code != 200:
        raise RuntimeError(f"{method} {url} -> {resp.status_code}: {resp.content[:500]!r}")
    return resp.json()
