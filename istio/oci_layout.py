#!/usr/bin/env python3
"""Writes an OCI image layout holding plugin.wasm in the form Istio's agent accepts.

    python3 istio/oci_layout.py dist/plugin.wasm dist/oci --tag 0.1.0

The image is the "compat" variant of the Wasm OCI image spec, the one Istio's agent
(pkg/wasm/imagefetcher.go) reads: a plain OCI image manifest (not an index) whose last and only
layer has media type `application/vnd.oci.image.layer.v1.tar+gzip` and is a tar holding one
regular file `plugin.wasm`, plus the manifest annotation `module.wasm.image/variant=compat`.

Reproducible: the tar entry has mode 0644, uid/gid 0, no user/group names and mtime 0; the
gzip header has mtime 0, no file name and fixed flags; JSON is written with a fixed key order
and no whitespace. The same plugin.wasm therefore always gives the same manifest digest (with
the same zlib, whose deflate output at a given level has been stable for many years). That
digest, without `sha256:`, is what a WasmPlugin's `sha256` field pins for an `oci://` url.

Only the Python standard library is used; no container tooling is needed to build the image.
`./build.sh oci` runs this on dist/plugin.wasm; `./build.sh push REF` pushes it with skopeo.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import struct
import sys
import tarfile
import zlib
from pathlib import Path

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
VARIANT_ANNOTATION = "module.wasm.image/variant"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
WASM_MAGIC = b"\0asm"
# Istio's agent refuses modules above ISTIO_WASM_MAX_BINARY_SIZE_BYTES (256 MiB by default).
MAX_WASM_BYTES = 256 * 1024 * 1024


def layer_tar(wasm: bytes) -> bytes:
    """An uncompressed tar with the single regular file `plugin.wasm`, fixed metadata."""
    info = tarfile.TarInfo("plugin.wasm")
    info.size = len(wasm)
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.type = tarfile.REGTYPE
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def gzip_fixed(data: bytes) -> bytes:
    """RFC 1952 gzip with a fixed header (mtime 0, no name, XFL 2, OS 255 "unknown").

    Written by hand rather than with the gzip module, whose header bytes differ between
    Python versions; only zlib's deflate stream (level 9) varies with the input.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def canonical_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, blob: bytes, annotations: dict | None = None) -> dict:
    d = {"mediaType": media_type, "digest": f"sha256:{sha256_hex(blob)}", "size": len(blob)}
    if annotations:
        d["annotations"] = annotations
    return d


def build_blobs(wasm: bytes) -> tuple[dict[str, bytes], bytes]:
    """All blobs by hex digest, and the manifest bytes."""
    if not wasm.startswith(WASM_MAGIC):
        raise ValueError("not a WebAssembly module (no \\0asm magic)")
    if len(wasm) > MAX_WASM_BYTES:
        raise ValueError(f"{len(wasm)} bytes is over Istio's {MAX_WASM_BYTES}-byte limit")
    tar = layer_tar(wasm)
    layer = gzip_fixed(tar)
    config = canonical_json({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha256_hex(tar)}"]},
    })
    manifest = canonical_json({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": [descriptor(LAYER_MEDIA_TYPE, layer)],
        "annotations": {VARIANT_ANNOTATION: "compat"},
    })
    blobs = {sha256_hex(b): b for b in (layer, config, manifest)}
    return blobs, manifest


def write_layout(wasm: bytes, out: Path, tag: str) -> str:
    """Writes the layout directory (replacing an earlier layout there); returns the manifest
    digest as `sha256:<hex>`."""
    blobs, manifest = build_blobs(wasm)
    out = Path(out)
    if out.exists():
        if any(out.iterdir()) and not (out / "oci-layout").is_file():
            raise ValueError(f"{out} exists and is not an OCI layout; refusing to overwrite it")
        shutil.rmtree(out)
    (out / "blobs" / "sha256").mkdir(parents=True)
    for digest, blob in blobs.items():
        (out / "blobs" / "sha256" / digest).write_bytes(blob)
    (out / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor(MANIFEST_MEDIA_TYPE, manifest, {REF_NAME_ANNOTATION: tag})],
    }
    (out / "index.json").write_bytes(canonical_json(index))
    return f"sha256:{sha256_hex(manifest)}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wasm", type=Path, help="the module, e.g. dist/plugin.wasm")
    parser.add_argument("out", type=Path, help="layout directory to write, e.g. dist/oci")
    parser.add_argument("--tag", required=True, help="tag recorded in index.json (ref.name)")
    parser.add_argument("--digest-only", action="store_true",
                        help="print only the manifest digest (sha256:<hex>)")
    args = parser.parse_args(argv)
    try:
        digest = write_layout(args.wasm.read_bytes(), args.out, args.tag)
    except (OSError, ValueError) as e:
        print(f"oci_layout: {e}", file=sys.stderr)
        return 1
    if args.digest_only:
        print(digest)
    else:
        print(f"{args.out}: OCI image layout, tag {args.tag}, manifest {digest}")
        print(f"  WasmPlugin sha256 (for an oci:// url of this image): {digest.split(':', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
