"""tests/setup-system.sh, the system-package step of tests/setup.sh, run against stand-ins for
apt-get, apt-cache, systemctl, id and sudo (scripts that record their calls and print apt-like
noise), so no package is installed and no root is needed:

* each missing package is installed with its own quiet apt-get call and one line of output;
  apt's output goes to tests/.work/apt.log only, and is shown when an install fails;
* the package lists are refreshed only when apt does not know a package;
* docker-registry's and prometheus's services are stopped and disabled at boot right after
  install;
* without root or sudo it stops first with a message naming the packages; with sudo, apt-get
  runs through it; with everything present it does nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import TESTS_DIR

ALL = ["skopeo", "docker-registry", "prometheus", "chromium", "fonts-liberation"]
# What the script needs besides the stand-ins (bash builtins aside).
TOOLS = ["bash", "dirname", "env", "grep", "mkdir", "tail"]

STANDINS = {
    "apt-get": """echo "$DEBIAN_FRONTEND apt-get $*" >>"$CALLS"
echo "Reading package lists... NOISE"; echo "W: NOISE" >&2
[[ " $* " == *" install "* && " $FAIL_PKGS " == *" ${*: -1} "* ]] && exit 100
exit 0""",
    "apt-cache": """for pkg in $UNKNOWN_PKGS; do [[ "$2" == "$pkg" ]] && { echo "  Candidate: (none)"; exit 0; }; done
echo "  Candidate: 1.0-1\"""",
    "systemctl": 'echo "systemctl $*" >>"$CALLS"',
    "id": 'echo "$FAKE_UID"',
    "sudo": 'echo "sudo $*" >>"$CALLS"; exec "$@"',
}


class Machine:
    """A copy of the script and a PATH of stand-ins and the few real tools it needs."""

    def __init__(self, root: Path, *, sudo: bool = False, present: tuple[str, ...] = ()):
        self.root = root
        (root / "tests").mkdir(parents=True)
        self.script = root / "tests" / "setup-system.sh"
        shutil.copy(TESTS_DIR / "setup-system.sh", self.script)
        self.bin = root / "bin"
        self.bin.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))
        for name, body in STANDINS.items():
            if name != "sudo" or sudo:
                self._script(name, body)
        for name in present:
            self._script(name, "exit 0")
        self.calls = root / "calls"
        self.calls.touch()
        self.apt_log = root / "tests" / ".work" / "apt.log"

    def _script(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!{shutil.which('bash')}\n{body}\n")
        path.chmod(0o755)

    def run(self, *, uid: int = 0, unknown: str = "", fail: str = "") -> subprocess.CompletedProcess:
        env = {"PATH": str(self.bin), "CALLS": str(self.calls), "FAKE_UID": str(uid),
               "UNKNOWN_PKGS": unknown, "FAIL_PKGS": fail, "HOME": str(self.root)}
        return subprocess.run([self.bin / "bash", self.script], env=env, capture_output=True,
                              text=True, timeout=30)

    def recorded(self) -> list[str]:
        return self.calls.read_text().splitlines()


def install_call(pkg: str) -> str:
    return f"noninteractive apt-get -q -y install --no-install-recommends {pkg}"


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def test_each_missing_package_quietly_with_one_line(machine):
    res = machine.run()
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        f"setup: installing as root with apt-get: {' '.join(ALL)} (apt's output in {machine.apt_log})",
        *[f"setup: installed {pkg}" for pkg in ALL],
    ]
    assert "NOISE" in machine.apt_log.read_text()
    assert machine.recorded() == [*[install_call(pkg) for pkg in ALL],
                                  "systemctl disable --now --quiet docker-registry.service",
                                  "systemctl disable --now --quiet prometheus.service"]


def test_lists_are_refreshed_only_for_a_package_apt_does_not_know(machine):
    assert machine.run(unknown="chromium").returncode == 0
    assert machine.recorded()[0] == "noninteractive apt-get -q -y update"
    assert machine.recorded().count("noninteractive apt-get -q -y update") == 1


def test_a_failed_install_shows_apts_output_and_stops(machine):
    res = machine.run(fail="chromium")
    assert res.returncode == 1
    assert "setup: installed docker-registry" in res.stderr
    assert "NOISE" in res.stderr  # the log's tail, now that it matters
    assert f"setup: apt-get install chromium failed (full log: {machine.apt_log})" in res.stderr
    # Retried once after refreshing the lists; nothing after it.
    assert machine.recorded()[-3:] == [install_call("chromium"), "noninteractive apt-get -q -y update",
                                       install_call("chromium")]


def test_without_root_or_sudo_it_says_so_before_anything(machine):
    res = machine.run(uid=1000)
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        f"setup: needs root (or sudo) to install system packages: {' '.join(ALL)}",
        f"setup: run as root once, or: apt-get install {' '.join(ALL)}",
    ]
    assert machine.recorded() == [] and not machine.apt_log.exists()


def test_with_sudo_apt_runs_through_it(tmp_path):
    machine = Machine(tmp_path, sudo=True, present=("skopeo", "chromium", "promtool"))
    res = machine.run(uid=1000)
    assert res.returncode == 0, res.stderr
    assert machine.recorded() == [
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends docker-registry",
        "noninteractive apt-get -q -y install --no-install-recommends docker-registry",
        "sudo systemctl disable --now --quiet docker-registry.service",
        "systemctl disable --now --quiet docker-registry.service",
    ]


def test_nothing_to_do_when_everything_is_there(tmp_path):
    machine = Machine(tmp_path, present=("skopeo", "docker-registry", "chromium", "promtool"))
    res = machine.run(uid=1000)
    assert res.returncode == 0
    assert res.stderr == "setup: system packages present: skopeo docker-registry chromium prometheus\n"
    assert machine.recorded() == [] and not machine.apt_log.exists()


def test_setup_runs_the_system_step_first():
    setup = (TESTS_DIR / "setup.sh").read_text()
    assert 'bash "$TESTS_DIR/setup-system.sh"' in setup
    assert setup.index("setup-system.sh") < setup.index("--- Python venv")
    assert os.access(TESTS_DIR / "setup-system.sh", os.X_OK)
