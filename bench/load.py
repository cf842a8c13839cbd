"""The load side of the benchmark: wrk runs and bearer tokens.

`run_wrk` drives one Envoy with `wrk` (closed loop: `connections` connections, each sending
its next request as soon as the previous answer arrives) for a fixed time and returns a
`Sample` (requests, req/s, latency percentiles, errors). The request headers come from a
requests file read by `wrk.lua`, one request per line.

`TokenPool` holds distinct signed tokens for the fresh-token scenarios; they are minted in
parallel processes (RS256 signing costs ~1 ms per token in Python) and each one is sent once.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization

from support.processes import die_with_parent
from support.tokens import KeySet, claims_for

BENCH_DIR = Path(__file__).resolve().parent
WRK_LUA = BENCH_DIR / "wrk.lua"
TOKEN_LIFETIME = 4 * 3600  # outlives any run
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass
class Sample:
    """One wrk run. Latencies in ms; `errors` counts socket errors and HTTP status >= 400."""
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0  # wrk's own CPU time

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def write_requests(path: Path, header_lines: list[str]) -> Path:
    """A requests file for wrk.lua: one extra header line per request ("" for none)."""
    assert all("\n" not in line for line in header_lines)
    path.write_text("".join(f"{line}\n" for line in header_lines))
    return path


def run_wrk(url: str, requests_file: Path, seconds: float, *, connections: int, threads: int,
            cpus: list[int] | None, script: Path = WRK_LUA, script_args: tuple[str, ...] = ()) -> Sample:
    """Run wrk against `url` for `seconds`, pinned to `cpus`; parse the BENCH line. `script`
    must take wrk.lua's arguments (then `script_args`) and print its BENCH line."""
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    cmd = pin + ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                 "--timeout", "5s", "-s", str(script), url, "--", str(requests_file), str(threads), *script_args]
    cpu_before = _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=die_with_parent)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        if proc.poll() is None:  # interrupted: never leave wrk running
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n{out[-2000:]}")
    r = json.loads(line[len("BENCH "):])
    ms = lambda us: us / 1000.0  # noqa: E731
    return Sample(requests=r["requests"], seconds=r["duration_us"] / 1e6,
                  p50_ms=ms(r["p50_us"]), p90_ms=ms(r["p90_us"]), p99_ms=ms(r["p99_us"]),
                  max_ms=ms(r["max_us"]), errors={k: r[f"err_{k}"] for k in ERROR_KINDS},
                  client_cpu_s=_children_cpu() - cpu_before)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------
# Tokens

_signer: tuple | None = None


def _init_signer(pem: bytes, alg: str, kid: str, issuer: str, cpus: set[int]) -> None:
    """In a minting process: load the key once; run on `cpus` (the Envoys are idle now), at
    normal priority (minting is not measured, and must not starve the rest of the machine)."""
    global _signer
    os.sched_setaffinity(0, cpus)
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    _signer = (serialization.load_pem_private_key(pem, None), alg, kid, issuer)


def _mint_batch(ids: list[str]) -> list[str]:
    assert _signer is not None
    key, alg, kid, issuer = _signer
    return [jwt.encode(claims_for(issuer, lifetime=TOKEN_LIFETIME, jti=jti), key, algorithm=alg,
                       headers={"kid": kid}) for jti in ids]


def mint(keys: KeySet, issuer: str, alg: str, count: int, cpus: set[int]) -> list[str]:
    """`count` distinct valid tokens (same claims as the repeated token, unique `jti`),
    signed by one process per CPU in `cpus`."""
    if count <= 0:
        return []
    pem = keys.key(alg).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    ids = [uuid.uuid4().hex for _ in range(count)]
    batches = [ids[i:i + 500] for i in range(0, count, 500)]
    with ProcessPoolExecutor(len(cpus), initializer=_init_signer,
                             initargs=(pem, alg, keys.kid(alg), issuer, cpus)) as pool:
        return [tok for batch in pool.map(_mint_batch, batches) for tok in batch]


class TokenPool:
    """Distinct tokens of one algorithm; every token is handed to wrk for one measurement
    only. `pilot` tokens are for warm-ups (they may repeat; warm-ups are not measured)."""

    def __init__(self, keys: KeySet, issuer: str, alg: str, pilot: int, cpus: set[int]):
        self.keys, self.issuer, self.alg, self.cpus = keys, issuer, alg, cpus
        self.pilot = mint(keys, issuer, alg, pilot, cpus)
        self.tokens: list[str] = []
        self.used = 0
        self.mint_seconds = 0.0

    @property
    def remaining(self) -> int:
        return len(self.tokens) - self.used

    def ensure(self, count: int) -> None:
        """Mint until at least `count` unused tokens are left."""
        missing = count - self.remaining
        if missing > 0:
            started = time.monotonic()
            self.tokens += mint(self.keys, self.issuer, self.alg, missing, self.cpus)
            self.mint_seconds += time.monotonic() - started

    def next_slice(self, count: int) -> list[str]:
        """The next `count` unused tokens (not yet marked used: see `consume`)."""
        return self.tokens[self.used:self.used + count]

    def consume(self, count: int) -> None:
        self.used = min(len(self.tokens), self.used + count)
