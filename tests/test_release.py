"""`./build.sh release VERSION`: the files a release publishes (.github/workflows/release.yml
runs exactly that command on a tag).

* Reproducible: the release built in two checkouts at different paths (copies of this tree that
  share the cargo target directory and its cached builds) is the same byte for byte, file times
  included (the commit's, SOURCE_DATE_EPOCH), and no build path (checkout, cargo home, target
  directory) appears in the module or the binary, so a build elsewhere compiles the same bytes.
* Every sha256 file verifies with `sha256sum -c`; the OCI layout is an image skopeo reads, with
  the module inside; `oidc-gate-check` is a stripped Linux x86_64 program that checks a
  configuration; RELEASE-NOTES.md is CHANGELOG.md's section for the version.
* The checkout's Istio overlays end up pinned to the release image: its tag and manifest digest.
  `./build.sh push-release VERSION` pushes that image (to Debian's docker-registry on
  127.0.0.1 here) and the registry serves it under the digest the overlays pin. The overlays
  in git are pinned the same way, to a released version.
* A malformed version, a version other than Cargo.toml's and a version CHANGELOG.md has no
  section for are refused before anything is built.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from support import REPO
from support.deploy import start_registry

# The first test waits for the release builds: on a fresh target directory, the native tool's
# optimised dependencies take minutes.
pytestmark = pytest.mark.timeout(900)

OVERLAYS = ["generic", "kubeflow"]
IMAGE = re.compile(r"^oci://(?P<image>[^@\s]+):(?P<version>[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$")


def crate_version() -> str:
    return re.search(r'^version = "(.+)"$', (REPO / "Cargo.toml").read_text(), re.M)[1]


def changelog_section(changelog: str, version: str) -> str:
    match = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## |\Z)", changelog, re.M | re.S)
    assert match, f"CHANGELOG.md has no section for {version}"
    return match[1].strip()


def copy_checkout(dest: Path) -> Path:
    """The tree as it is (tracked and new files, not ignored ones, with their times), without
    its git history. Cargo reuses the shared target directory's builds for it: compiling this
    crate again in each copy would cost minutes of the suite."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target").resolve()


def commit_time() -> str:
    return subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()


def run_release(checkout: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir()), "SOURCE_DATE_EPOCH": commit_time()}
    return subprocess.run([checkout / "build.sh", "release", *args], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=timeout)


def files_of(directory: Path) -> dict[str, Path]:
    return {str(p.relative_to(directory)): p for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """The release of this tree, built in two checkouts at different paths."""
    version = crate_version()
    built = []
    for name in ("one", "checkout-two"):
        checkout = copy_checkout(tmp_path_factory.mktemp(name))
        result = run_release(checkout, version)
        assert result.returncode == 0, result.stdout + result.stderr
        built.append((checkout, checkout / "dist" / "release" / version))
    return version, built


def test_two_checkouts_build_the_same_bytes(releases):
    _, [(_, first), (_, second)] = releases
    files = files_of(first)
    assert set(files) == set(files_of(second))
    assert {"plugin.wasm", "plugin.wasm.sha256", "oidc-gate-check", "oidc-gate-check.sha256",
            "RELEASE-NOTES.md", "oci/index.json", "oci/oci-layout"} <= set(files)
    for name, path in files.items():
        assert path.read_bytes() == (second / name).read_bytes(), f"{name} differs between checkouts"
        assert path.stat().st_mtime == (second / name).stat().st_mtime == int(commit_time()), name


def test_no_build_path_in_the_module_or_the_binary(releases):
    _, built = releases
    cargo_home = os.environ.get("CARGO_HOME") or str(Path.home() / ".cargo")
    paths = [str(checkout) for checkout, _ in built] + [cargo_home, str(target_dir()), str(REPO)]
    for _, release in built:
        for name in ("plugin.wasm", "oidc-gate-check"):
            data = (release / name).read_bytes()
            for path in paths:
                assert path.encode() not in data, f"{name} holds the build path {path}"
    # The remapped dependency sources are still named (panic locations), just not where.
    assert b"/cargo/registry/src/" in (built[0][1] / "plugin.wasm").read_bytes()


def test_sha256_files_verify(releases):
    _, [(_, release), _] = releases
    for name in ("plugin.wasm.sha256", "oidc-gate-check.sha256"):
        check = subprocess.run(["sha256sum", "--check", "--strict", name], cwd=release,
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
    # A changed file fails its check.
    tampered = release.parent / "tampered"
    shutil.copytree(release, tampered)
    with open(tampered / "plugin.wasm", "ab") as module:
        module.write(b"\0")
    check = subprocess.run(["sha256sum", "--check", "plugin.wasm.sha256"], cwd=tampered,
                           capture_output=True, text=True, timeout=30)
    assert check.returncode != 0 and "FAILED" in check.stdout


def test_oci_layout_is_an_image_holding_the_module(releases):
    version, [(_, release), _] = releases
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is not installed: run tests/setup.sh", pytrace=False)
    inspect = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{release / 'oci'}:{version}"],
                             capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    manifest = json.loads(inspect.stdout)
    assert manifest["annotations"] == {"module.wasm.image/variant": "compat"}
    digest = subprocess.run(["skopeo", "inspect", "--format", "{{.Digest}}", f"oci:{release / 'oci'}:{version}"],
                            capture_output=True, text=True, timeout=60)
    assert digest.returncode == 0, digest.stderr
    (entry,) = json.loads((release / "oci" / "index.json").read_text())["manifests"]
    assert digest.stdout.strip() == entry["digest"]
    layer = (release / "oci" / "blobs" / "sha256" / manifest["layers"][-1]["digest"].split(":")[1]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        assert tar.extractfile("plugin.wasm").read() == (release / "plugin.wasm").read_bytes()


def test_check_tool_is_a_stripped_linux_x86_64_program(releases, tmp_path):
    _, [(_, release), _] = releases
    binary = release / "oidc-gate-check"
    data = binary.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2  # 64-bit
    assert int.from_bytes(data[18:20], "little") == 0x3E  # EM_X86_64
    assert b".symtab" not in data  # no symbol table: stripped
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"issuer": "not a url"}))
    res = subprocess.run([binary, config], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "invalid configuration" in res.stderr, res


def test_release_notes_are_the_changelog_section(releases):
    version, [(_, release), _] = releases
    notes = (release / "RELEASE-NOTES.md").read_text()
    assert notes.startswith(f"# oidc-gate {version}\n")
    assert changelog_section((REPO / "CHANGELOG.md").read_text(), version) in notes
    # And the checksums and the image digest a user verifies against.
    (entry,) = json.loads((release / "oci" / "index.json").read_text())["manifests"]
    assert entry["digest"] in notes
    for name in ("plugin.wasm", "oidc-gate-check"):
        assert (release / f"{name}.sha256").read_text().split()[0] in notes


def pinned(checkout: Path, overlay: str) -> tuple[str, str]:
    spec = yaml.safe_load((checkout / "istio" / "overlays" / overlay / "wasmplugin-patch.yaml").read_text())["spec"]
    return spec["url"], spec["sha256"]


def test_release_pins_the_overlays_to_its_image(releases):
    version, [(checkout, release), _] = releases
    (entry,) = json.loads((release / "oci" / "index.json").read_text())["manifests"]
    for overlay in OVERLAYS:
        url, sha256 = pinned(checkout, overlay)
        assert IMAGE.match(url)["version"] == version
        assert sha256 == entry["digest"].removeprefix("sha256:")
    # Only those two lines changed.
    for overlay in OVERLAYS:
        rel = f"istio/overlays/{overlay}/wasmplugin-patch.yaml"
        before = [line for line in (REPO / rel).read_text().splitlines()
                  if not line.startswith(("  url: ", "  sha256: "))]
        after = [line for line in (checkout / rel).read_text().splitlines()
                 if not line.startswith(("  url: ", "  sha256: "))]
        assert before == after


def test_push_release_sends_the_image_the_overlays_pin(releases, lab):
    version, [(checkout, _), _] = releases
    registry = start_registry(lab)
    push = subprocess.run([checkout / "build.sh", "push-release", version, "--dest-tls-verify=false"],
                          cwd=checkout, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RELEASE_IMAGE": f"{registry}/oidc-gate"})
    assert push.returncode == 0, push.stdout + push.stderr
    _, sha256 = pinned(checkout, "generic")
    assert f"manifest digest: sha256:{sha256}" in push.stdout
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                              f"docker://{registry}/oidc-gate:{version}"],
                             capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.strip() == f"sha256:{sha256}"


def test_push_release_needs_that_release():
    res = subprocess.run([REPO / "build.sh", "push-release", "0.0.0-none", "--dest-tls-verify=false"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and "run ./build.sh release 0.0.0-none first" in res.stderr, res
    res = subprocess.run([REPO / "build.sh", "push-release", "v1"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "usage" in res.stderr, res


def test_overlays_in_git_pin_a_released_image():
    changelog = (REPO / "CHANGELOG.md").read_text()
    pins = {pinned(REPO, overlay) for overlay in OVERLAYS}
    assert len(pins) == 1, f"the overlays pin different images: {pins}"
    ((url, sha256),) = pins
    match = IMAGE.match(url)
    assert match, url
    assert re.fullmatch(r"[0-9a-f]{64}", sha256) and set(sha256) != {"0"}, sha256
    changelog_section(changelog, match["version"])  # a released version


@pytest.mark.parametrize("version", ["", "1.2", "v0.1.0", "0.1.0 ", "0.1.0/../x", "01.2.3.4"])
def test_malformed_versions_are_refused(version):
    res = run_release(REPO, version, timeout=30)
    assert res.returncode == 2 and "usage" in res.stderr, res


def test_a_version_other_than_the_crates_is_refused():
    res = run_release(REPO, "99.0.0", timeout=30)
    assert res.returncode == 1, res
    assert f"Cargo.toml's version is {crate_version()}, not 99.0.0" in res.stderr


def test_a_version_without_a_changelog_section_is_refused(tmp_path):
    checkout = copy_checkout(tmp_path)
    changelog = checkout / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(f"## [{crate_version()}]", "## [0.0.0]"))
    res = run_release(checkout, crate_version(), timeout=30)
    assert res.returncode == 1, res
    assert f'CHANGELOG.md has no section "## [{crate_version()}] - YYYY-MM-DD"' in res.stderr
    assert not (checkout / "dist").exists()
