"""The OCI image of plugin.wasm (istio/oci_layout.py, `./build.sh oci` / `./build.sh push`).

* The layout is reproducible: the same module gives byte-identical blobs and the same
  manifest digest.
* It follows what Istio's agent accepts (pkg/wasm/imagefetcher.go, "compat" variant): a plain
  OCI manifest (not an index), the last layer `application/vnd.oci.image.layer.v1.tar+gzip`
  holding a regular file whose base name is `plugin.wasm`, the annotation
  `module.wasm.image/variant=compat`; every descriptor's digest and size match its blob.
* `./build.sh push` sends it with skopeo to Debian's docker-registry on 127.0.0.1; the test
  reads it back the way the agent does (registry API: manifest, last layer, gunzip, tar walk)
  and with `skopeo copy`, and checks that the wasm inside is byte-identical and that the
  registry serves the digest push printed — the value of a WasmPlugin's `sha256`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import tarfile
import urllib.request

import pytest

from support import REPO
from support.deploy import ISTIO_DIR, start_registry

TAG = "0.1.0-test"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# The media types Istio's agent takes its module from (Docker v2 manifest or OCI compat).
AGENT_LAYER_TYPES = {LAYER, "application/vnd.docker.image.rootfs.diff.tar.gzip"}


def _load_oci_layout():
    spec = importlib.util.spec_from_file_location("oci_layout", ISTIO_DIR / "oci_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oci_layout = _load_oci_layout()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(layout, digest: str) -> bytes:
    algo, hexdigest = digest.split(":")
    assert algo == "sha256"
    data = (layout / "blobs" / "sha256" / hexdigest).read_bytes()
    assert sha256(data) == hexdigest, f"blob {digest} does not match its digest"
    return data


def module_from_layer(layer: bytes) -> bytes:
    """What Istio's agent does with a compat layer: gunzip, walk the tar, return the first
    entry whose base name is plugin.wasm."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer)), mode="r:") as tar:
        for member in tar:
            if os.path.basename(member.name) == "plugin.wasm":
                assert member.isreg(), member
                return tar.extractfile(member).read()
    raise AssertionError("no plugin.wasm in the layer")


@pytest.fixture(scope="module")
def layout(tmp_path_factory, plugin_wasm):
    out = tmp_path_factory.mktemp("oci") / "layout"
    digest = oci_layout.write_layout(plugin_wasm.read_bytes(), out, TAG)
    return out, digest


def test_layout_is_reproducible(layout, plugin_wasm, tmp_path):
    first, digest = layout
    again = tmp_path / "again"
    assert oci_layout.write_layout(plugin_wasm.read_bytes(), again, TAG) == digest
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel
    # Through the command line too (what ./build.sh oci runs), into the same directory twice.
    for _ in range(2):
        out = subprocess.run(["python3", ISTIO_DIR / "oci_layout.py", plugin_wasm, tmp_path / "cli",
                              "--tag", TAG, "--digest-only"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == digest
    # A different module, a different digest.
    other = oci_layout.write_layout(plugin_wasm.read_bytes() + b"\0", tmp_path / "other", TAG)
    assert other != digest


def test_layout_is_what_istios_agent_accepts(layout, plugin_wasm):
    out, digest = layout
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((out / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["mediaType"] == MANIFEST  # a plain manifest, not a nested index
    assert entry["digest"] == digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == TAG
    raw = blob(out, digest)
    assert entry["size"] == len(raw)
    manifest = json.loads(raw)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MANIFEST
    assert manifest["annotations"] == {"module.wasm.image/variant": "compat"}
    (layer_desc,) = manifest["layers"]
    assert layer_desc["mediaType"] == LAYER
    layer = blob(out, layer_desc["digest"])
    assert layer_desc["size"] == len(layer)
    config_desc = manifest["config"]
    assert config_desc["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = json.loads(blob(out, config_desc["digest"]))
    assert config_desc["size"] == len(blob(out, config_desc["digest"]))
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    tar_bytes = gzip.decompress(layer)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{sha256(tar_bytes)}"]}
    # The reproducibility knobs: gzip mtime 0, one entry with fixed metadata.
    assert layer[:2] == b"\x1f\x8b" and layer[4:8] == b"\0\0\0\0"
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        (member,) = tar.getmembers()
    assert (member.name, member.mode, member.uid, member.gid, member.mtime) == ("plugin.wasm", 0o644, 0, 0, 0)
    wasm = module_from_layer(layer)
    assert wasm == plugin_wasm.read_bytes()
    assert wasm[:4] == b"\0asm" and len(wasm) < 256 * 1024 * 1024


def test_layout_refuses_what_is_not_a_module(tmp_path):
    with pytest.raises(ValueError, match="magic"):
        oci_layout.write_layout(b"MZ not wasm", tmp_path / "x", TAG)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "file").write_text("mine")
    with pytest.raises(ValueError, match="not an OCI layout"):
        oci_layout.write_layout(b"\0asm\x01\0\0\0", tmp_path / "keep", TAG)


# --- through a registry ------------------------------------------------------------------------


@pytest.fixture
def registry(lab):
    return start_registry(lab)


def registry_get(url: str, accept: str | None = None) -> tuple[bytes, dict]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read(), {k.lower(): v for k, v in resp.headers.items()}


def test_push_and_pull_back_through_a_registry(registry, layout, plugin_wasm, tmp_path, capsys):
    out, digest = layout
    ref = f"{registry}/oidc-gate:{TAG}"
    push = subprocess.run([REPO / "build.sh", "push", ref, "--dest-tls-verify=false"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OCI_LAYOUT": str(out)})
    assert push.returncode == 0, push.stdout + push.stderr
    assert f"manifest digest: {digest}" in push.stdout
    assert f"sha256: {digest.removeprefix('sha256:')}" in push.stdout

    # As Istio's agent reads it: the manifest, its last layer, plugin.wasm inside.
    raw, headers = registry_get(f"http://{registry}/v2/oidc-gate/manifests/{TAG}", MANIFEST)
    assert headers["content-type"] == MANIFEST
    assert headers["docker-content-digest"] == digest
    assert f"sha256:{sha256(raw)}" == digest  # pushed byte for byte (--preserve-digests)
    manifest = json.loads(raw)
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    last = manifest["layers"][-1]
    assert last["mediaType"] in AGENT_LAYER_TYPES
    layer, _ = registry_get(f"http://{registry}/v2/oidc-gate/blobs/{last['digest']}")
    assert module_from_layer(layer) == plugin_wasm.read_bytes()

    # With skopeo, as a user would check it.
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                              f"docker://{ref}"], capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.strip() == digest
    pulled = tmp_path / "pulled"
    copy = subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                           f"oci:{pulled}:{TAG}"], capture_output=True, text=True, timeout=60)
    assert copy.returncode == 0, copy.stderr
    (entry,) = json.loads((pulled / "index.json").read_text())["manifests"]
    assert entry["digest"] == digest
    pulled_manifest = json.loads(blob(pulled, entry["digest"]))
    assert [layer["mediaType"] for layer in pulled_manifest["layers"]] == [LAYER]
    assert pulled_manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    wasm = module_from_layer(blob(pulled, pulled_manifest["layers"][-1]["digest"]))
    assert wasm == plugin_wasm.read_bytes()

    with capsys.disabled():
        print(f"\n[oci] {plugin_wasm.name} ({len(wasm)} bytes): manifest digest {digest}"
              f" -> WasmPlugin sha256: {digest.removeprefix('sha256:')}")


def test_push_needs_a_layout(tmp_path):
    res = subprocess.run([REPO / "build.sh", "push", "127.0.0.1:1/x:y"], capture_output=True,
                         text=True, timeout=30, env={**os.environ, "OCI_LAYOUT": str(tmp_path / "none")})
    assert res.returncode == 1 and "run ./build.sh oci first" in res.stderr
    res = subprocess.run([REPO / "build.sh", "push"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "usage" in res.stderr
