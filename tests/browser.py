"""A scripted browser for login-flow tests: a cookie jar per host (ports share cookies, as in
real browsers), navigation headers, manual redirects, and the test IdP's login form.

The real-browser test (test_browser.py) drives Chromium; this one lets tests look at every
hop and tamper with cookies in between.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Hop:
    status: int
    url: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def location(self) -> str:
        return urllib.parse.urljoin(self.url, self.header("location") or "")


@dataclass
class Browser:
    """Cookies are keyed by name only: everything in these tests lives on 127.0.0.1."""
    cookies: dict[str, str] = field(default_factory=dict)
    history: list[Hop] = field(default_factory=list)

    def request(self, method: str, url: str, headers: dict | None = None, body: bytes | None = None,
                navigate: bool = True) -> Hop:
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = {"host": parts.netloc}
        if navigate:
            sent.update({"accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                         "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"})
        if self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update({k.lower(): v for k, v in (headers or {}).items()})
        try:
            conn.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
            resp = conn.getresponse()
            hop = Hop(resp.status, url, resp.getheaders(), resp.read())
        finally:
            conn.close()
        self.history.append(hop)
        self.store(hop.set_cookies())
        return hop

    def store(self, set_cookies: list[str]) -> None:
        for line in set_cookies:
            pair, _, attrs = line.partition(";")
            name, _, value = pair.strip().partition("=")
            if re.search(r"max-age=0\b", attrs, re.I) or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, url: str, **kw) -> Hop:
        return self.request("GET", url, **kw)

    def follow(self, url: str, user: str = "alice", stop_at: str | None = None, limit: int = 12) -> Hop:
        """Navigates from `url`, following redirects and submitting the IdP's login form as
        `user`, until a non-redirect answer (or a redirect to a URL starting with stop_at)."""
        hop = self.get(url)
        for _ in range(limit):
            if hop.status in (301, 302, 303):
                if stop_at and hop.location.startswith(stop_at):
                    return hop
                hop = self.get(hop.location)
                continue
            form = re.search(rb'<form[^>]*action="([^"]+)"', hop.body)
            if hop.status == 200 and form and b'name="login"' in hop.body:
                action = urllib.parse.urljoin(hop.url, form.group(1).decode())
                data = urllib.parse.urlencode({"prompt": "login", "login": user, "password": "any"}).encode()
                hop = self.request("POST", action, {"content-type": "application/x-www-form-urlencoded"}, data)
                continue
            return hop
        raise AssertionError(f"too many hops from {url}: {[h.status for h in self.history]}")
