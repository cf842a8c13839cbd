"""The classifying load of bench/chaos.py: simulated users that each send one request every
`interval` seconds from their own thread, with every answer recorded (kind, status, latency),
so that failures can be counted per kind of credential and per time window.

Unlike wrk this sees each answer and keeps each session's cookies up to date (a refreshed
session comes back in `Set-Cookie`, a failed refresh clears it), as a browser would.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from support.envoy import Envoy
from support.login import Browser

# Each request's own bound: far above anything the filter should take, so a hang shows up as
# a latency, and the loops always end.
REQUEST_TIMEOUT_S = 15


@dataclass
class Outcome:
    at: float  # time.monotonic() when sent
    kind: str
    client: int
    status: int  # 0: no HTTP answer (connection error or timeout)
    seconds: float


class Client:
    """One simulated user: a logged-in browser (its cookies), a bearer token, or `mint`ing a
    new token for every request. `expect` is the status every answer should have."""

    def __init__(self, kind: str, envoy: Envoy, *, browser: Browser | None = None,
                 token: str | None = None, mint: Callable[[], str] | None = None, expect: int = 200):
        self.kind, self.envoy, self.browser, self.token, self.mint = kind, envoy, browser, token, mint
        self.expect = expect

    def send(self, path: str) -> int:
        if self.mint is not None:
            self.token = self.mint()
        try:
            if self.browser is not None:
                hop = self.browser.get(f"http://127.0.0.1:{self.envoy.port}{path}",
                                       headers={"accept": "application/json"}, navigate=False)
                self.browser.history.clear()  # only the cookies are kept
                return hop.status
            return self.envoy.get(path, self.token, timeout=REQUEST_TIMEOUT_S).status
        except (OSError, http.client.HTTPException):
            return 0


class Load:
    """Every client sends a request every `interval` s (first one at a random offset) until
    `stop()`, or at the latest after `max_seconds`."""

    def __init__(self, clients: list[Client], interval: float, max_seconds: float):
        self.clients, self.interval, self.max_seconds = clients, interval, max_seconds
        self.outcomes: list[Outcome] = []  # list.append is atomic
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(len(clients))]

    def start(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(REQUEST_TIMEOUT_S + 5)

    def _run(self, index: int) -> None:
        client = self.clients[index]
        deadline = time.monotonic() + self.max_seconds
        next_at = time.monotonic() + random.uniform(0, self.interval)
        n = 0
        while not self._stop.wait(max(0.0, next_at - time.monotonic())) and time.monotonic() < deadline:
            sent = time.monotonic()
            status = client.send(f"/{client.kind}/{index}/{n}")
            self.outcomes.append(Outcome(sent, client.kind, index, status, time.monotonic() - sent))
            n += 1
            next_at = max(next_at + self.interval, time.monotonic())

    def window(self, start: float, end: float, kind: str | None = None) -> list[Outcome]:
        return [o for o in list(self.outcomes) if start <= o.at < end and (kind is None or o.kind == kind)]

    def last_status(self, index: int) -> int | None:
        mine = [o for o in list(self.outcomes) if o.client == index]
        return mine[-1].status if mine else None


@dataclass
class Tally:
    """Requests of one kind in one window: how many, how many failed, latencies."""
    requests: int
    failed: int
    statuses: Counter
    p50_ms: float
    p99_ms: float
    max_ms: float
    clients_failing: int

    @classmethod
    def of(cls, outcomes: list[Outcome], expect: int) -> "Tally":
        ms = sorted(o.seconds * 1000 for o in outcomes)
        pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else 0.0  # noqa: E731
        failing = {o.client for o in outcomes if o.status != expect}
        return cls(len(outcomes), sum(o.status != expect for o in outcomes),
                   Counter(o.status for o in outcomes), pick(0.5), pick(0.99), ms[-1] if ms else 0.0,
                   len(failing))

    def statuses_text(self) -> str:
        return ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(self.statuses.items()))
