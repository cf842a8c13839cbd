"""Results of the benchmark: the table, the targets, markdown and a PNG chart.

Ratios are computed per round (both scenarios measured in the same round) and the median over
rounds is reported; req/s, p50, p99 and CPU per request are medians over rounds. Rows with a
`base` (the scale rows) go to their own table, "How cost grows", as ratios to that base.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

# (description, scenario, baseline, factor): scenario req/s >= factor x baseline req/s
TARGETS = [
    ("(e) session ≥ 0.95 × (a1)", "e", "a1", 0.95),
    ("(f) repeated bearer ≥ 0.95 × (a1)", "f", "a1", 0.95),
    ("(e) ≥ 0.9 × (h), its native peer", "e", "h", 0.9),
    ("(f) ≥ 0.9 × (c), its native peer", "f", "c", 0.9),
    ("(g) RS256 ≥ 0.7 × (b)", "g RS256", "b", 0.7),
    ("(g) EdDSA ≥ 0.6 × (b)", "g EdDSA", "b", 0.6),
    ("(g) ES256 ≥ 0.3 × (b)", "g ES256", "b", 0.3),
    ("(e) ≥ 1.25 × (d)", "e", "d", 1.25),
    ("(f) ≥ 1.25 × (d)", "f", "d", 1.25),
    ("(e-sessions) ≥ 0.9 × (e)", "e-sessions", "e", 0.9),
    ("(f-tokens) ≥ 0.9 × (f)", "f-tokens", "f", 0.9),
]

# Size, start-up and memory targets, next to the ratios above.
MODULE_TARGET_BYTES = 600_000
START_TARGET_MS = 500
RSS_TARGET_MIB = 10

COLOURS = {"floor": "#9e9e9e", "native": "#4c72b0", "external": "#dd8452", "gate": "#55a868"}


@dataclass
class RunInfo:
    date: str
    envoy_version: str
    cores: int
    cpu_model: str
    commit: str
    wrk: str
    layout: str
    sched: str
    duration: float
    rounds: int
    warmup: float
    connections: int
    threads: int
    load_before: tuple
    load_after: tuple = ()
    wall_seconds: float = 0.0
    minted: dict = field(default_factory=dict)


@dataclass
class Scale:
    """What the scale rows were made of, and what they cost besides throughput."""
    count: int = 0  # distinct sessions, and distinct bearer tokens
    cache_entries: int = 0  # credential_cache_entries of the gate they run on
    sessions_mint_s: float = 0.0
    tokens_mint_s: float = 0.0
    warm_s: dict[str, float] = field(default_factory=dict)  # sending each credential once
    rss_big_start_kib: int = 0  # the big-cache gate before its first credential
    rss_big_after_kib: int = 0  # and after the run
    session_bytes: int = 0
    chunked_bytes: int = 0
    groups_token_bytes: int = 0
    jwks_bytes: int = 0
    jwks_fetches: int = 0  # of the JWKS of 100 keys, during the rounds


@dataclass
class Extras:
    module_bytes: int
    cookie_bytes: int
    token_bytes: int
    start_gate_s: list[float] = field(default_factory=list)
    start_plain_s: list[float] = field(default_factory=list)
    rss_plain_kib: dict[int, int] = field(default_factory=dict)
    rss_noop_kib: dict[int, int] = field(default_factory=dict)
    rss_gate_kib: dict[int, int] = field(default_factory=dict)
    heap_noop_kib: dict[int, int] = field(default_factory=dict)  # Envoy's heap in use
    heap_gate_kib: dict[int, int] = field(default_factory=dict)
    rss_gate_after_run_kib: int = 0
    distinct_tokens: int = 0
    scale: Scale = field(default_factory=Scale)


@dataclass
class Row:
    key: str
    label: str
    group: str
    rps: list[float]  # per round
    p50_ms: list[float]
    p99_ms: list[float]
    cpu_us: list[float]
    busy: list[tuple[float, float]]
    notes: list[str]
    base: str | None = None  # scale rows: their small case

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)


def row(scenario) -> Row:
    s = scenario
    return Row(s.key, s.label, s.group, [x.rps for x in s.samples], [x.p50_ms for x in s.samples],
               [x.p99_ms for x in s.samples], list(s.cpu_us), list(s.busy),
               list(s.notes), s.base)


@dataclass
class Result:
    info: RunInfo
    rows: list[Row]
    extras: Extras

    def by_key(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)

    @property
    def main_rows(self) -> list[Row]:
        return [r for r in self.rows if r.base is None]

    @property
    def scale_rows(self) -> list[Row]:
        return [r for r in self.rows if r.base is not None]

    def ratio(self, key: str, base: str) -> float:
        """Median over rounds of req/s(key) / req/s(base) in the same round."""
        a, b = self.by_key(key), self.by_key(base)
        return statistics.median(x / y for x, y in zip(a.rps, b.rps))

    def targets(self) -> list[tuple[str, str, float, bool]]:
        """(description, baseline key, measured ratio, met)."""
        return [(desc, base, self.ratio(key, base), self.ratio(key, base) >= factor)
                for desc, key, base, factor in TARGETS]


# ---------------------------------------------------------------------------------------------
# Markdown


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _table(result: Result) -> list[str]:
    lines = ["| scenario | req/s | × (a) | p50 ms | p99 ms | Envoy CPU µs/req | CPU busy: Envoy / load side "
             "| req/s per round |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in result.main_rows:
        rounds = " / ".join(f"{x:,.0f}" for x in r.rps)
        flag = " ⚠" if r.notes else ""
        lines.append(f"| ({r.key}) {r.label}{flag} | {r.median_rps:,.0f} | {result.ratio(r.key, 'a'):.2f} | "
                     f"{_med(r.p50_ms):.2f} | {_med(r.p99_ms):.2f} | {_med(r.cpu_us):.0f} | "
                     f"{_med([b[0] for b in r.busy]):.0%} / {_med([b[1] for b in r.busy]):.0%} | {rounds} |")
    return lines


def _targets(result: Result) -> list[str]:
    lines = ["| target | measured | |", "|---|---:|---|"]
    verdict = lambda met: "pass" if met else "**miss**"  # noqa: E731
    for desc, base, ratio, met in result.targets():
        lines.append(f"| {desc} | {ratio:.2f} × ({base}) | {verdict(met)} |")
    e = result.extras
    if e.start_gate_s and e.rss_gate_kib:
        start_ms = _med(e.start_gate_s) * 1000
        # The worse of the two worker counts.
        over_kib = max(e.rss_gate_kib[w] - e.rss_noop_kib[w] for w in e.rss_gate_kib)
        lines += [
            f"| module ≤ {MODULE_TARGET_BYTES:,} bytes | {e.module_bytes:,} bytes "
            f"| {verdict(e.module_bytes <= MODULE_TARGET_BYTES)} |",
            f"| start to first authenticated request ≤ {START_TARGET_MS} ms (unpinned, median) "
            f"| {start_ms:.0f} ms | {verdict(start_ms <= START_TARGET_MS)} |",
            f"| Envoy RSS ≤ the no-op Wasm filter's + {RSS_TARGET_MIB} MiB "
            f"| +{over_kib / 1024:.1f} MiB | {verdict(over_kib <= RSS_TARGET_MIB * 1024)} |",
        ]
    return lines


def _floors(result: Result) -> list[str]:
    """What any Wasm auth filter costs before doing its own work, next to oidc-gate's own cost."""
    keys = {r.key for r in result.rows}
    if not {"a", "a1", "c", "e", "f"} <= keys:
        return []
    # The lowest round: other load on the machine only ever adds CPU time.
    cpu = lambda key: min(result.by_key(key).cpu_us)  # noqa: E731
    return [
        "",
        f"The floor of any proxy-wasm filter that reads a credential, (a1), is "
        f"{result.ratio('a1', 'a'):.2f} × (a) and {result.ratio('a1', 'c'):.2f} × (c) in this run "
        f"({cpu('a1') - cpu('a'):.0f} µs/req of Envoy CPU over (a), lowest rounds): Envoy's per-stream Wasm "
        f"context and V8 calls, before any work. oidc-gate's own work on top of that floor: "
        f"(e) {cpu('e') - cpu('a1'):.0f} µs/req, (f) {cpu('f') - cpu('a1'):.0f} µs/req (reading "
        f"the header map, the decision, writing the identity headers; Envoy clears its route "
        f"cache on every header a Wasm filter writes).",
    ]


def _scale(result: Result) -> list[str]:
    """Each big case as a ratio to its small case measured in the same rounds."""
    rows, sc = result.scale_rows, result.extras.scale
    if not rows:
        return []
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    lines = ["| row | small case | req/s | × small case | Envoy CPU µs/req (small case) | p50 ms | p99 ms |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        base = result.by_key(r.base)
        flag = " ⚠" if r.notes else ""
        lines.append(f"| ({r.key}) {r.label}{flag} | ({base.key}) | {r.median_rps:,.0f} | "
                     f"{result.ratio(r.key, base.key):.2f} | {_med(r.cpu_us):.0f} ({_med(base.cpu_us):.0f}) | "
                     f"{_med(r.p50_ms):.2f} | {_med(r.p99_ms):.2f} |")
    warm = ", ".join(f"({k}) {v:.0f} s" for k, v in sc.warm_s.items())
    return lines + [
        "",
        f"- The {sc.count:,} sessions and {sc.count:,} bearer tokens run on an oidc-gate Envoy of their "
        f"own with `credential_cache_entries` {sc.cache_entries}; each credential was sent once before the rounds "
        f"({warm}), so every measured request is a cache hit, and the rounds go on through the rotation. "
        f"Its Envoy RSS: {mib(sc.rss_big_start_kib)} before the first credential, "
        f"{mib(sc.rss_big_after_kib)} after the run (the gate of (e)-(g): "
        f"{mib(result.extras.rss_gate_after_run_kib)}).",
        f"- Minting them: {sc.count:,} sessions in {sc.sessions_mint_s:.1f} s (`examples/mint-sessions.rs`, "
        f"{sc.session_bytes} bytes each, about as long as the login's), {sc.count:,} RS256 tokens in "
        f"{sc.tokens_mint_s:.0f} s (Python, one process per CPU).",
        f"- Sizes: the 4-chunk session cookie {sc.chunked_bytes:,} bytes; the token with 200 groups "
        f"{sc.groups_token_bytes:,} bytes (tokens over 4,096 bytes are not cached); the JWKS of 100 keys "
        f"{sc.jwks_bytes:,} bytes, fetched {sc.jwks_fetches} times during the rounds.",
    ]


def _extras(result: Result) -> list[str]:
    e = result.extras
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    ms = lambda xs: (f"{_med(xs) * 1000:.0f} ms" + (f" (median of {len(xs)}: "  # noqa: E731
                     f"{min(xs) * 1000:.0f}–{max(xs) * 1000:.0f})" if len(xs) > 1 else ""))
    return [
        f"- **Module size:** {e.module_bytes:,} bytes ({e.module_bytes / 1024:.0f} KiB), `dist/plugin.wasm`.",
        f"- **Start to first authenticated request** (Envoy with oidc-gate, unpinned, a worker per core: "
        f"process start → module compiled, VMs started, discovery + JWKS fetched → first `200` for a "
        f"bearer token): {ms(e.start_gate_s)}. Envoy without a filter, start to first `200`: "
        f"{ms(e.start_plain_s)}.",
        "- **Envoy RSS** (VmRSS after a warm-up; in brackets Envoy's heap in use, `allocated` of the "
        "admin `/memory` endpoint: the rest is the binary, V8's compiled code, the Wasm memories and "
        "what the allocator keeps after frees):",
        "",
        "  | | 1 worker | 2 workers |",
        "  |---|---:|---:|",
        f"  | no auth | {mib(e.rss_plain_kib[1])} | {mib(e.rss_plain_kib[2])} |",
        f"  | no-op proxy-wasm filter (V8 itself) | {mib(e.rss_noop_kib[1])} ({mib(e.heap_noop_kib[1])}) "
        f"| {mib(e.rss_noop_kib[2])} ({mib(e.heap_noop_kib[2])}) |",
        f"  | oidc-gate | {mib(e.rss_gate_kib[1])} ({mib(e.heap_gate_kib[1])}) "
        f"| {mib(e.rss_gate_kib[2])} ({mib(e.heap_gate_kib[2])}) |",
        f"  | oidc-gate after (e)–(g), {e.distinct_tokens:,} distinct tokens seen "
        f"| {mib(e.rss_gate_after_run_kib)} | |",
        "",
        f"- Credentials sent: bearer token {e.token_bytes} bytes, session `Cookie` header "
        f"{e.cookie_bytes} bytes.",
    ]


def markdown(result: Result, chart_name: str | None = None) -> str:
    i = result.info
    load = lambda la: " / ".join(f"{x:.2f}" for x in la)  # noqa: E731
    lines = [
        "# oidc-gate benchmark",
        "",
        f"{i.date} · Envoy {i.envoy_version} · {i.cores} cores ({i.cpu_model}) · tree `{i.commit}` · "
        f"`bench/run.sh` ({i.wall_seconds / 60:.1f} min)",
        "",
        f"One Envoy worker under test (`--concurrency 1`), an Envoy `direct_response` upstream, "
        f"`wrk -t{i.threads} -c{i.connections}` on loopback; {i.rounds} round(s) of "
        f"{i.duration:g} s per scenario after {i.warmup:g} s warm-up; medians over rounds, ratios per round. "
        f"Pinning: {i.layout}; every benchmark process under {i.sched}. Load average before / after: {load(i.load_before)} → {load(i.load_after)}.",
        "",
    ]
    if chart_name:
        lines += [f"![throughput and latency]({chart_name})", ""]
    lines += _table(result) + ["", "## Targets", ""] + _targets(result) + _floors(result)
    scale_lines = _scale(result)
    if scale_lines:
        lines += ["", "## How cost grows", ""] + scale_lines
    lines += ["", "## Size, memory, start-up", ""] + _extras(result)
    notes = [f"- ({r.key}) {n}" for r in result.rows for n in r.notes]
    if notes:
        lines += ["", "## Warnings", ""] + notes
    lines += [
        "",
        "## Notes",
        "",
        "- (b), (c), (d), (f) send the same RS256 token; (g) sends each pre-minted token once "
        f"({', '.join(f'{k}: {v:,}' for k, v in i.minted.items())} minted), so no cache can help.",
        "- (h) sends the cookies Envoy's oauth2 filter set at a login through it (BearerToken, OauthHMAC, "
        "OauthExpires, IdToken, RefreshToken): it checks their HMAC and decrypts the tokens; it "
        "verifies no signature and passes no identity upstream.",
        "- (d) counts only the Envoy under test; the authorizer's own CPU comes on top in a real deployment.",
        "- Envoy CPU µs/req: the Envoy under test's utime+stime per request (all its threads); "
        "less disturbed by other load on the machine than req/s.",
        "- CPU busy: CPU time / wall time during the measurement, of the Envoy under test (100 % = "
        "its core saturated, the intended bottleneck) and of the load side (wrk + upstream + "
        "authorizer, sharing the other core on a 2-core machine). Well under 100 % for the Envoy "
        "under test means something else limited that row: the load side or other processes.",
        "- Numbers are for this machine and this run; compare the ratios, not the absolute values.",
    ]
    if i.sched.startswith("SCHED_RR"):
        lines.append(
            "- p99 is the least reliable figure here: on a shared machine the slowest 1 % of requests "
            "include stalls of tens of ms (the kernel's real-time throttling hands a saturated core to "
            "waiting processes for up to 50 ms at a time; the VM's own scheduling adds more), the more "
            "so in rows with fewer requests. Compare p50 across rows and read p99 as an upper bound. "
            "The throttling also costs saturated rows up to 5 % of their req/s.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Chart


def chart(result: Result, path: Path) -> None:
    """Two panels: req/s with the ratio to (a), and p50/p99 latency."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(reversed(result.main_rows))  # (a) on top
    labels = [f"({r.key}) {r.label}" for r in rows]
    y = range(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.6), sharey=True,
                                      gridspec_kw={"width_ratios": [3, 2]})
    rps = [r.median_rps for r in rows]
    left.barh(y, rps, color=[COLOURS[r.group] for r in rows])
    for yi, r, v in zip(y, rows, rps):
        left.text(v, yi, f" {v:,.0f}  ({result.ratio(r.key, 'a'):.2f}×)", va="center", fontsize=8)
    left.set_yticks(list(y), labels, fontsize=9)
    left.set_xlabel("requests/s (median over rounds; ratio to (a))")
    left.set_xlim(0, max(rps) * 1.35)
    h = 0.38
    right.barh([yi + h / 2 for yi in y], [_med(r.p50_ms) for r in rows], h, label="p50", color="#8da0cb")
    right.barh([yi - h / 2 for yi in y], [_med(r.p99_ms) for r in rows], h, label="p99", color="#e78ac3")
    right.set_xlabel("latency, ms")
    right.legend(loc="lower right", fontsize=8)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", alpha=0.3)
    i = result.info
    fig.suptitle(f"oidc-gate vs Envoy auth options — Envoy {i.envoy_version}, 1 worker, "
                 f"wrk -c{i.connections}, {i.cores} cores, {i.date}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: Result, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(result, chart_name="results.png"))
    chart(result, out / "results.png")
