"""One pass over a bundle (`.tar.zst` or an unpacked directory): every file hashed, metadata kept.

Nothing is extracted: the archive streams through `zstd -dc` and `tarfile` once, each member is
hashed as it goes by, and only the small files that describe the bundle (SHA256SUMS and its
signature, BUNDLE-INFO, SBOMs, reports, the OCI index and manifests of an image
archive) are kept in memory. What would be unsafe to unpack (a path outside the top directory, a
link, a special file, a name given twice) is recorded as a problem, for `verify` to refuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gateway.errors import GatewayError
from gateway.sums import unsafe_reason

CHUNK = 1 << 20
#: files kept in memory, by path inside the bundle: what describes the bundle rather than ships in it
KEPT_FILES = ("SHA256SUMS", "SHA256SUMS.sig", "BUNDLE-INFO")
KEPT_DIRS = ("sbom/", "reports/")
KEPT_MAX = 64 << 20  # an SBOM of the whole image is a few MB
IMAGE_DIR, IMAGE_SUFFIX = "images/", ".tar"
OCI_BLOB_MAX = 1 << 20  # index, manifests and configs; layers are larger and only hashed


class BundleReadError(GatewayError):
    """The bundle cannot be read at all (no such file, not a zstd tar, zstd missing)."""


@dataclass
class Bundle:
    """What one pass over a bundle found."""

    source: Path
    top: str = ""  # the top directory, `<name>-<version>`
    files: dict[str, str] = field(default_factory=dict)  # path inside the top directory -> sha256
    sizes: dict[str, int] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    kept: dict[str, bytes] = field(default_factory=dict)  # KEPT_FILES / KEPT_DIRS contents
    images: dict[str, dict[str, bytes]] = field(default_factory=dict)  # archive -> OCI index.json and blobs
    problems: list[str] = field(default_factory=list)  # unsafe to unpack: refused by verify

    def text(self, path: str) -> str | None:
        data = self.kept.get(path)
        return data.decode("utf-8", errors="replace") if data is not None else None

    def json(self, path: str):
        data = self.kept.get(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise BundleReadError(f"{self.source}: {path} is not JSON ({exc})") from None


def _kept(path: str) -> bool:
    return path in KEPT_FILES or path.startswith(KEPT_DIRS)


def _is_image(path: str) -> bool:
    return path.startswith(IMAGE_DIR) and path.endswith(IMAGE_SUFFIX) and "/" not in path[len(IMAGE_DIR):]


class _Hashing:
    """A reader that hashes and counts what passes through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw, self.hash, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _oci_parts(stream: _Hashing) -> dict[str, bytes]:
    """index.json and the small blobs of an OCI layout tar, read from a stream (no seeking)."""
    parts: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as inner:
            for member in inner:
                name = member.name.removeprefix("./")
                small = member.isfile() and member.size <= OCI_BLOB_MAX
                if small and (name == "index.json" or name.startswith("blobs/sha256/")):
                    parts[name] = inner.extractfile(member).read()
    except tarfile.TarError:
        parts = {}  # not an OCI archive: hashed like any file, and inventory says it has no index
    stream.drain()
    return parts


def _record(bundle: Bundle, path: str, stream: _Hashing) -> None:
    if _is_image(path):
        bundle.images[path] = _oci_parts(stream)
    elif _kept(path):
        data = stream.read(KEPT_MAX + 1)
        if len(data) <= KEPT_MAX:
            bundle.kept[path] = data
        stream.drain()
    else:
        stream.drain()
    if path in bundle.files:
        bundle.problems.append(f"{path}: stored twice in the archive (unpacking would keep the last one)")
    bundle.files[path] = stream.hash.hexdigest()
    bundle.sizes[path] = stream.size


def _member_path(bundle: Bundle, name: str) -> str | None:
    """The path inside the top directory, or None (with a problem recorded) when it is unsafe."""
    name = name.removeprefix("./").rstrip("/")
    if name.startswith("/") or ".." in name.split("/"):
        bundle.problems.append(f"member '{name}' has an absolute path or '..'; unpacking it could write "
                               "outside the staging directory")
        return None
    top, _, rest = name.partition("/")
    if not bundle.top:
        bundle.top = top
    if top != bundle.top:
        bundle.problems.append(f"member '{name}' is outside the top directory '{bundle.top}'")
        return None
    return rest


def _read_tar_zst(bundle: Bundle) -> None:
    zstd = shutil.which("zstd")
    if zstd is None:
        raise BundleReadError("zstd not found: install the Debian package zstd to read a .tar.zst bundle")
    proc = subprocess.Popen([zstd, "-dc", "-q", "--", str(bundle.source)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                rest = _member_path(bundle, member.name)
                if rest is None:
                    continue
                if member.isdir():
                    if rest:
                        bundle.dirs.add(rest)
                elif not member.isfile():
                    bundle.problems.append(f"{rest or member.name}: a link or special file; a bundle holds "
                                           "only regular files")
                elif rest:
                    _record(bundle, rest, _Hashing(tar.extractfile(member)))
    except tarfile.TarError as exc:
        proc.kill()
        proc.wait()
        detail = proc.stderr.read().decode(errors="replace").strip()
        raise BundleReadError(f"{bundle.source}: not a readable .tar.zst bundle ({detail or exc})") from None
    finally:
        proc.stdout.close()
    if proc.wait() != 0:
        detail = proc.stderr.read().decode(errors="replace").strip()
        raise BundleReadError(f"{bundle.source}: zstd could not decompress it ({detail})")
    proc.stderr.close()


def _walk(directory: Path) -> Iterator[tuple[str, os.stat_result]]:
    for dirpath, dirnames, filenames in os.walk(directory):
        rel_dir = os.path.relpath(dirpath, directory)
        for name in sorted(dirnames) + sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            yield rel, os.lstat(os.path.join(dirpath, name))


def _read_dir(bundle: Bundle) -> None:
    bundle.top = bundle.source.resolve().name
    for rel, st in _walk(bundle.source):
        if stat.S_ISDIR(st.st_mode):
            bundle.dirs.add(rel)
        elif not stat.S_ISREG(st.st_mode) or unsafe_reason(rel):
            bundle.problems.append(f"{rel}: a link or special file; a bundle holds only regular files")
        else:
            with open(bundle.source / rel, "rb") as fh:
                _record(bundle, rel, _Hashing(fh))


def read_bundle(path: Path) -> Bundle:
    """Read a bundle `.tar.zst` or the top directory of an unpacked one."""
    bundle = Bundle(path)
    if path.is_dir():
        _read_dir(bundle)
    elif path.is_file():
        _read_tar_zst(bundle)
    else:
        raise BundleReadError(f"{path}: no such bundle file or directory")
    if not bundle.files:
        raise BundleReadError(f"{path}: holds no files; not a bundle")
    return bundle
