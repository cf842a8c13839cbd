"""Child processes of the tests, and waiting for things to happen.

Every process runs in its own process group, logs to a file and dies with pytest however pytest
dies; `ALL_PROCS` lets a failing test show their logs, and the end of the session stop them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable


def free_port() -> int:
    """A port that was free a moment ago (bind to 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `pred` until it returns a truthy value; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:  # the thing we poll is usually not up yet
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")
        time.sleep(interval)


# Every process started by the tests, so a failing test can show their logs and a crashed
# session can still kill them.
ALL_PROCS: list["Proc"] = []


class Proc:
    """A child process in its own process group, logging to a file; always killable."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None
        self.stopped_at: float | None = None
        ALL_PROCS.append(self)

    def start(self) -> "Proc":
        assert not self.alive, f"{self.name} already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(self.cmd)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True, preexec_fn=die_with_parent,
            )
        self.stopped_at = None
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def wait_ready(self, check: Callable[[], Any], timeout: float = 20) -> Any:
        """Poll `check` until truthy; fail fast (with the log) if the process exits."""
        def pred():
            if not self.alive:
                raise ProcessExited(self)
            return check()
        try:
            return wait_until(pred, timeout, f"{self.name} to become ready")
        except ProcessExited:
            raise
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n--- {self.name} log tail ---\n{self.tail()}") from None

    def wait_exit(self, timeout: float) -> int | None:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Kill stragglers in the group even if the leader is gone.
        self._signal(signal.SIGKILL)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.stopped_at = time.monotonic()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])


def die_with_parent() -> None:
    """In the child: get SIGKILL when pytest dies, however it dies (no orphaned Envoys)."""
    try:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class ProcessExited(RuntimeError):
    def __init__(self, proc: Proc):
        super().__init__(f"{proc.name} exited with {proc.returncode}\n--- {proc.name} log tail ---\n{proc.tail()}")
        self.proc = proc


def stop_all() -> None:
    for p in ALL_PROCS:
        p.stop(timeout=2)


def parallel(fn: Callable[[int], Any], n: int) -> list:
    """Run fn(0..n-1) on n threads at once; return results in order (exceptions re-raised)."""
    results: list = [None] * n
    errors: list = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            results[i] = fn(i)
        except BaseException as e:  # surfaced below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results
