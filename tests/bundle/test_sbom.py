"""bundle/tools/sbom.py: deterministic CycloneDX documents; the multi-arch image is described per arch."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from bundle.tools import sbom
from bundle.tools.errors import BundleError

EPOCH = 1795786296
TOOLS_VENV = Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build")) / "tools"
LOCK = """demo-pkg==1.0 \\
    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \\
    --hash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    # via -r runtime.in
other_pkg[extra]==2.0 --hash=sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
"""


def test_normalize_fixes_the_timestamp_and_derives_the_serial_number_from_the_content():
    a = {"bomFormat": "CycloneDX", "serialNumber": "urn:uuid:1", "metadata": {"timestamp": "2020-01-01T00:00:00Z"},
         "components": [{"name": "x"}]}
    b = dict(a, serialNumber="urn:uuid:2", metadata={"timestamp": "2031-05-05T00:00:00Z"})
    assert sbom.normalize(a, EPOCH) == sbom.normalize(b, EPOCH)
    doc = json.loads(sbom.normalize(a, EPOCH))
    assert doc["metadata"]["timestamp"] == "2026-11-27T13:31:36Z"
    assert doc["serialNumber"].startswith("urn:uuid:")
    changed = json.loads(sbom.normalize(dict(a, components=[{"name": "y"}]), EPOCH))
    assert changed["serialNumber"] != doc["serialNumber"]


def test_the_builtin_writer_lists_each_pin_with_the_hash_of_the_wheel_the_bundle_carries():
    doc = sbom.builtin_python_sbom("python-runtime-linux-amd64", LOCK, "0.1.0",
                                   {"demo_pkg-1.0-py3-none-any.whl": "d" * 64})
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name["demo-pkg"]["purl"] == "pkg:pypi/demo-pkg@1.0"
    assert by_name["demo-pkg"]["hashes"] == [{"alg": "SHA-256", "content": "d" * 64}]
    # no wheel in the bundle for it: the lock's hashes are what is known
    assert by_name["other_pkg"]["hashes"] == [{"alg": "SHA-256", "content": "c" * 64}]
    assert doc["specVersion"] == "1.5"


@pytest.mark.slow  # two cyclonedx-py runs: 3-8 s each
@pytest.mark.skipif(not sbom.find_tool("cyclonedx-py", None, TOOLS_VENV), reason="cyclonedx-py: `make bundle`")
def test_cyclonedx_py_output_is_reproducible_once_normalized():
    tool = sbom.find_tool("cyclonedx-py", None, TOOLS_VENV)
    first = sbom.normalize(sbom.cyclonedx_py_sbom(tool, "python-runtime-linux-amd64", LOCK, "0.1.0", EPOCH), EPOCH)
    second = sbom.normalize(sbom.cyclonedx_py_sbom(tool, "python-runtime-linux-amd64", LOCK, "0.1.0", EPOCH), EPOCH)
    assert first == second
    doc = json.loads(first)
    assert {c["name"] for c in doc["components"]} == {"demo-pkg", "other_pkg"}
    assert doc["metadata"]["component"]["name"] == "python-runtime-linux-amd64"


def _blob(blobs: dict[str, bytes], data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def _image(blobs: dict[str, bytes], arch: str) -> dict:
    """A one-layer image with a dpkg status naming one package per architecture."""
    status = f"Package: hello-{arch}\nStatus: install ok installed\nVersion: 1.0\nArchitecture: {arch}\n\n"
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tf:
        for name, text in (("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'), ("var/lib/dpkg/status", status)):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text.encode()))
    layer = _blob(blobs, gzip.compress(layer_tar.getvalue(), mtime=0))
    config = _blob(blobs, json.dumps({
        "architecture": arch, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()]},
    }).encode())
    manifest = _blob(blobs, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }).encode())
    return dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
                platform={"architecture": arch, "os": "linux"})


def _oci_archive(path: Path, arches=("amd64", "arm64")) -> Path:
    """Like `make images`: index.json -> an image index -> one manifest per architecture."""
    blobs: dict[str, bytes] = {}
    nested = _blob(blobs, json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                      "manifests": [_image(blobs, a) for a in arches]}).encode())
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps({"schemaVersion": 2, "manifests": [
                 dict(nested, mediaType="application/vnd.oci.image.index.v1+json")]}).encode()}
    files.update({f"blobs/sha256/{d.split(':')[1]}": data for d, data in blobs.items()})
    with tarfile.open(path, "w") as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_a_multi_arch_index_is_split_into_one_layout_per_architecture(tmp_path):
    unpacked = tmp_path / "archive"
    unpacked.mkdir()
    with tarfile.open(_oci_archive(tmp_path / "img.tar")) as tf:
        tf.extractall(unpacked)
    layouts = sbom._layout_per_arch(unpacked, ("amd64", "arm64"), "gateway:0.1.0")
    for arch, layout in layouts.items():
        (desc,) = json.loads((layout / "index.json").read_text())["manifests"]
        assert desc["platform"]["architecture"] == arch
        manifest = layout / "blobs/sha256" / desc["digest"].split(":")[1]
        assert manifest.stat().st_ino == (unpacked / "blobs/sha256" / manifest.name).stat().st_ino  # hard link


def test_an_image_without_a_wanted_architecture_names_make_images(tmp_path):
    unpacked = tmp_path / "archive"
    unpacked.mkdir()
    with tarfile.open(_oci_archive(tmp_path / "img.tar", arches=("amd64",))) as tf:
        tf.extractall(unpacked)
    with pytest.raises(BundleError, match=r"no linux/arm64 image \(it has: amd64\).*make images"):
        sbom._layout_per_arch(unpacked, ("amd64", "arm64"), "gateway:0.1.0")


@pytest.mark.slow  # four syft runs
@pytest.mark.skipif(not sbom.find_tool("syft", None, TOOLS_VENV), reason="syft: `make bundle` installs it")
def test_syft_describes_each_architecture_of_the_image_reproducibly(tmp_path):
    syft = sbom.find_tool("syft", None, TOOLS_VENV)
    archive = _oci_archive(tmp_path / "img.tar")
    first = sbom.image_sboms(syft, archive, ("amd64", "arm64"), "0.1.0")
    for arch in ("amd64", "arm64"):
        names = {c["name"] for c in first[arch]["components"]}
        assert f"hello-{arch}" in names and f"hello-{'arm64' if arch == 'amd64' else 'amd64'}" not in names
    second = sbom.image_sboms(syft, archive, ("amd64", "arm64"), "0.1.0")
    assert all(sbom.normalize(first[a], EPOCH) == sbom.normalize(second[a], EPOCH) for a in first)
