"""The reproducible `.tar.zst` (its SHA256SUMS is written by `gateway.sums`).

The tar is written here rather than by GNU tar so that every header field is fixed: members sorted
by path (parents first), mtime = SOURCE_DATE_EPOCH, uid/gid 0, uname/gname "root", modes 0644 or
0755 (0755 for directories and for files executable in the source), GNU format (long names use
././@LongLink; no pax headers, so no atime/ctime). Only regular files and directories, no links.
The stream goes through `zstd -T0` (multi-threaded mode: the output is the same for any number of
workers, measured with zstd 1.5.4 on -T1/-T2/-T0; `--single-thread` gives other bytes, so it is not
used). The same zstd version is needed for byte-identical output; the uncompressed tar's sha256 is
reported too, as a check that does not depend on the compressor.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from bundle.tools.errors import BundleError
from bundle.tools.inputs import Entry
from gateway.sums import atomic_write, sha256_file

BLOCK = 512
RECORD = 20 * BLOCK  # tar's default record size: the archive is padded to a multiple of it
CHUNK = 1 << 20
SIG = "SHA256SUMS.sig"


def entry_sha256(e: Entry) -> str:
    return hashlib.sha256(e.data).hexdigest() if e.data is not None else sha256_file(e.source)


def _member_order(paths: list[str]) -> list[tuple[str, bool]]:
    """(path, is_dir) for every file and every directory above one, parents before their contents."""
    dirs = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    members = [(d, True) for d in dirs] + [(p, False) for p in paths]
    return sorted(members, key=lambda m: [part.encode() for part in m[0].split("/")])


def _header(name: str, size: int, mode: int, mtime: int, is_dir: bool) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.size, info.mode, info.mtime = size, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    sha256: str
    tar_sha256: str  # of the uncompressed stream
    tar_size: int


class _HashingWriter:
    def __init__(self, raw):
        self.raw, self.hash, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # an unbuffered pipe may take part of a write
            view = view[self.raw.write(view):]
        self.hash.update(data)
        self.size += len(data)


def _write_members(out: _HashingWriter, top: str, entries: list[Entry], hashes: dict[str, str], mtime: int):
    by_path = {e.path: e for e in entries}
    out.write(_header(top, 0, 0o755, mtime, True))
    for path, is_dir in _member_order(list(by_path)):
        if is_dir:
            out.write(_header(f"{top}/{path}", 0, 0o755, mtime, True))
            continue
        e = by_path[path]
        mode = 0o755 if e.executable else 0o644
        if e.data is not None:
            out.write(_header(f"{top}/{path}", len(e.data), mode, mtime, False))
            out.write(e.data)
            size = len(e.data)
        else:
            size = os.stat(e.source).st_size
            out.write(_header(f"{top}/{path}", size, mode, mtime, False))
            digest, read = hashlib.sha256(), 0
            with open(e.source, "rb") as f:
                while chunk := f.read(min(CHUNK, size - read)):
                    digest.update(chunk)
                    out.write(chunk)
                    read += len(chunk)
            # The hash in SHA256SUMS was taken before; the bytes written must be those bytes.
            if read != size or digest.hexdigest() != hashes[path]:
                raise BundleError(f"{e.source}: changed while the bundle was being written; build again")
        out.write(b"\0" * (-size % BLOCK))
    out.write(b"\0" * (2 * BLOCK))
    out.write(b"\0" * (-out.size % RECORD))


def write_tar_zst(out: Path, top: str, entries: list[Entry], hashes: dict[str, str], mtime: int,
                  level: int) -> Written:
    """Write `<top>/...` as a zstd-compressed tar to `out` (atomically: whole or not at all)."""
    zstd = shutil.which("zstd")
    if not zstd:
        raise BundleError("zstd not found: install the Debian package zstd")
    if not 1 <= level <= 19:
        raise BundleError(f"--zstd-level {level}: use 1..19")
    with atomic_write(out) as dst:
        proc = subprocess.Popen([zstd, f"-{level}", "-T0", "-q", "-c"], stdin=subprocess.PIPE, stdout=dst, bufsize=0)
        writer = _HashingWriter(proc.stdin)
        try:
            _write_members(writer, top, entries, hashes, mtime)
        except BrokenPipeError:
            raise BundleError(f"zstd stopped while {out} was being written (disk full?)") from None
        finally:
            proc.stdin.close()
            rc = proc.wait()
        if rc != 0:
            raise BundleError(f"zstd exited with status {rc} writing {out}")
    return Written(out, out.stat().st_size, sha256_file(out), writer.hash.hexdigest(), writer.size)
