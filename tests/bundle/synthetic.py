"""A tiny stand-in for the repository and its build outputs, so a bundle builds in about a second.

Same layout as the real inputs (wheelhouse/dist/linux-<arch>/ with requirements/ and SHA256SUMS,
dist/apt/linux-<arch>/, vendor/dist/, ansible/site.yml, ...), a few bytes each.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundle.tools import vulnerabilities
from gateway.sums import write_sums

ROOT = Path(__file__).resolve().parents[2]
BUILD_PY = ROOT / "bundle" / "tools" / "build.py"
INSTALL_SH = ROOT / "bundle" / "install.sh"
EPOCH = "1795786296"
VERSION = "0.1.0"
TOP = f"gateway-appliance-{VERSION}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str],
               entry_points: str = "") -> Path:
    """A valid pure-Python wheel (pip installs it), with a RECORD and optional console scripts."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if entry_points:
        contents[f"{dist_info}/entry_points.txt"] = entry_points
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    out = directory / f"{name}-{version}-py3-none-any.whl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in sorted(contents.items()):
            zf.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), text)
    return out


def make_repo(root: Path) -> Path:
    """The synthetic repository with every input `build.py` reads (apt, vendor, no images)."""
    _write(root / "pyproject.toml", f'[project]\nname = "gateway"\nversion = "{VERSION}"\n')
    _write(root / "README.md", "# The gateway\n")
    _write(root / "bundle/install.sh", INSTALL_SH.read_bytes(), 0o755)
    _write(root / "ansible/site.yml", "- hosts: all\n  gather_facts: false\n  tasks: []\n")
    _write(root / "ansible/ansible.cfg", "[defaults]\nroles_path = roles\n")
    _write(root / "ansible/roles/common/tasks/main.yml", "---\n- name: Nothing\n  ansible.builtin.meta: noop\n")
    _write(root / "ansible/roles/common/files/helper.sh", "#!/bin/sh\necho hi\n", 0o750)
    _write(root / "examples/appliance/single-node/appliance.yaml", "site: {name: lab}\n")
    _write(root / "examples/demo/config.yaml", "model_list: []\n")
    _write(root / "examples/demo/queries.jsonl", '{"query": "hello"}\n')
    _write(root / "docs/moat-mode.md", "# Moat mode\n")
    _write(root / "docs/adr/0001-x.md", "# ADR\n")
    for arch in ("amd64", "arm64"):
        _write(root / f"wheelhouse/locks/runtime-linux-{arch}.txt", "# lock\n")
        wh = root / f"wheelhouse/dist/linux-{arch}"
        wheel = make_wheel(wh, "demo_pkg", "1.0", {"demo_pkg/__init__.py": f"ARCH = '{arch}'\n"})
        gw = make_wheel(wh, "gateway", VERSION, {"gateway/__init__.py": ""})
        _write(wh / "requirements/runtime.txt",
               f"demo-pkg==1.0 \\\n    --hash=sha256:{sha256(wheel.read_bytes())}\n    # via -r runtime.in\n")
        _write(wh / "requirements/gateway.txt", f"gateway=={VERSION} --hash=sha256:{sha256(gw.read_bytes())}\n")
        write_sums(wh)
        apt = root / f"dist/apt/linux-{arch}"
        _write(apt / f"nftables_1.0_{arch}.deb", f"deb for {arch}")
        _write(apt / "Packages", "Package: nftables\n")
        write_sums(apt)
        _write(root / f"vendor/dist/otelcol-1.0-linux-{arch}/otelcol.tar.gz", f"otelcol {arch}")
    _write(root / "vendor/artifacts.lock.json", '{"artifacts": []}\n')
    write_vulnerability_report(root)
    return root


def write_vulnerability_report(root: Path, fetch=None, now: dt.datetime | None = None) -> Path:
    """dist/reports/vulnerabilities.json for the repository's locks, from `fetch` (default: PyPI knows nothing)."""
    report = vulnerabilities.check(vulnerabilities.read_locks(root / "wheelhouse/locks"),
                                   fetch or (lambda url: (404, b"")), now or dt.datetime.now(dt.UTC))
    out = root / "dist/reports/vulnerabilities.json"
    _write(out, vulnerabilities.dumps(report))
    return out


def make_key(path: Path) -> Path:
    """An Ed25519 private key (PKCS8 PEM); its public key is written next to it as .pub.pem."""
    key = Ed25519PrivateKey.generate()
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)
    _write(path.with_suffix(".pub.pem"), key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def build(repo: Path, out_dir: Path, key: Path | None, *extra: str, env: dict | None = None, images: bool = False):
    """build.py on the synthetic repository (no image unless `images`; the builtin Python SBOM writer)."""
    args = [sys.executable, str(BUILD_PY), "--repo", str(repo), "--out-dir", str(out_dir), "--python-sbom", "builtin"]
    if not images:
        args.append("--no-images")
    if key is not None:
        args += ["--signing-key", str(key)]
    run_env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, **(env or {}))
    return subprocess.run([*args, *extra], capture_output=True, text=True, env=run_env)


def bundle_path(out_dir: Path, arches: str = "amd64-arm64") -> Path:
    return out_dir / f"{TOP}-{arches}.tar.zst"


def read_tar(bundle: Path) -> tarfile.TarFile:
    raw = subprocess.run(["zstd", "-dc", str(bundle)], capture_output=True, check=True).stdout
    return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")


def unpack(bundle: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "--zstd", "-xf", str(bundle), "-C", str(into)], check=True)
    return into / TOP


def make_tar_zst(out: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A hand-made .tar.zst, for archives build.py would never write (links, '..', absolute paths)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.GNU_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    subprocess.run(["zstd", "-q", "-f", "-o", str(out)], input=buf.getvalue(), check=True)
    return out


def run_install_sh(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL_SH), *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))
