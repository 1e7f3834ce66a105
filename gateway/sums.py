"""SHA256SUMS, the checksum file of every pillar that hands files on: wheelhouse, vendor, bundle.

One protocol for all of them, in `sha256sum -c` format: one `<sha256>  <relative path>` line per
file, sorted by path in byte order (as `LC_ALL=C sort`), every other file of the directory listed
and nothing else. Verification reports files that are missing, extra or altered; a line naming an
absolute path or `..` is refused before any path is opened, whoever the caller is (a SHA256SUMS
travels with what it lists, so it is input like any other). Writes are atomic: a reader sees the
old file or the new one, never a part.

Standard library only: the wheelhouse, vendor and bundle tools import it from the repository root
(on hosts and in tool venvs where the gateway package is not installed).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SUMS = "SHA256SUMS"
# `sha256sum` writes "  " (text mode) or " *" (binary mode) between the hash and the name.
_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
# sha256sum escapes names holding these, which no reader of the plain format would follow.
_UNLISTABLE = ("\n", "\r", "\\")


class SumsError(ValueError):
    """A path that cannot be listed in a SHA256SUMS (absolute, `..`, a newline or backslash)."""


@dataclass(frozen=True)
class Problem:
    """One reason a directory does not match its SHA256SUMS; `str()` is the message."""

    kind: str  # "no-sums", "unsafe" (a line refused), "duplicate", "missing", "extra" or "altered"
    path: str  # as listed (relative), or the refused line
    line: int = 0  # the SHA256SUMS line, for unsafe and duplicate
    want: str = ""  # the listed sha256 (altered)
    got: str = ""  # the file's sha256 (altered)

    def __str__(self) -> str:
        return {
            "no-sums": f"no {SUMS}",
            "unsafe": f"{SUMS} line {self.line}: not '<sha256>  <relative path>' or names '..': {self.path!r}",
            "duplicate": f"{SUMS} line {self.line}: lists {self.path} again",
            "missing": f"{self.path} listed in {SUMS} but missing",
            "extra": f"{self.path} not listed in {SUMS}",
            "altered": f"{self.path} does not match its sha256 in {SUMS}",
        }[self.kind]


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def unsafe_reason(rel: str) -> str | None:
    """Why `rel` cannot be a path in a SHA256SUMS, or None when it can."""
    if not rel:
        return "is empty"
    if rel.startswith("/"):
        return "is absolute"
    if ".." in rel.split("/"):
        return "has a '..' component"
    if any(c in rel for c in _UNLISTABLE):
        return "has a newline or backslash"
    return None


def list_files(directory: Path) -> list[str]:
    """Every file under `directory` (relative, `/`-separated, byte order), but its own SHA256SUMS."""
    names = (p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    return sorted((n for n in names if n != SUMS), key=os.fsencode)


def format_sums(hashes: Mapping[str, str]) -> bytes:
    """The SHA256SUMS text for relative path -> sha256, sorted by path in byte order."""
    for rel in hashes:
        if reason := unsafe_reason(rel):
            raise SumsError(f"{rel!r} {reason}, so it cannot be listed in {SUMS}; rename the file")
    return "".join(f"{hashes[p]}  {p}\n" for p in sorted(hashes, key=os.fsencode)).encode()


def write_sums(directory: Path, hashes: Mapping[str, str] | None = None) -> dict[str, str]:
    """Write `directory/SHA256SUMS` over every other file there (or over `hashes`, already taken)."""
    if hashes is None:
        hashes = {rel: sha256_file(directory / rel) for rel in list_files(directory)}
    with atomic_write(directory / SUMS) as fh:
        fh.write(format_sums(hashes))
    return dict(hashes)


def parse_sums(text: str) -> tuple[dict[str, str], list[Problem]]:
    """(relative path -> sha256, the lines refused). A leading `./` is dropped, as sha256sum does."""
    listed: dict[str, str] = {}
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.fullmatch(line)
        rel = match.group(2).removeprefix("./") if match else ""
        if match is None or unsafe_reason(rel):
            problems.append(Problem("unsafe", line, number))
        elif rel in listed:
            problems.append(Problem("duplicate", rel, number))
        else:
            listed[rel] = match.group(1)
    return listed, problems


def verify_sums(directory: Path, present: Mapping[str, str] | None = None) -> list[Problem]:
    """What keeps `directory` from matching its SHA256SUMS; [] when it matches.

    `present` (relative path -> sha256) stands for the files when their hashes are known already;
    otherwise the files under `directory` are listed and the listed ones hashed. Order: refused
    lines, then missing, extra and altered files, each by path.
    """
    sums = directory / SUMS
    if not sums.is_file():
        return [Problem("no-sums", SUMS)]
    text = sums.read_text(encoding="utf-8", errors="surrogateescape")
    if present is None:
        present = _LazyHashes(directory, list_files(directory))
    return verify_listing(text, present)


def verify_listing(text: str, present: Mapping[str, str]) -> list[Problem]:
    """What keeps the files `present` (relative path -> sha256) from matching the SHA256SUMS `text`.

    For files that are not in a directory, e.g. the members of an archive hashed as it streams by.
    """
    listed, problems = parse_sums(text)
    names = set(present) - {SUMS}
    problems += [Problem("missing", n) for n in sorted(listed.keys() - names, key=os.fsencode)]
    problems += [Problem("extra", n) for n in sorted(names - listed.keys(), key=os.fsencode)]
    for n in sorted(listed.keys() & names, key=os.fsencode):
        got = present[n]
        if got != listed[n]:
            problems.append(Problem("altered", n, want=listed[n], got=got))
    return problems


class _LazyHashes(Mapping[str, str]):
    """The files of a directory, hashed only when asked (an unlisted file is never read)."""

    def __init__(self, directory: Path, names: list[str]):
        self.directory, self.names = directory, names

    def __getitem__(self, name: str) -> str:
        return sha256_file(self.directory / name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


@contextmanager
def atomic_write(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A binary file that appears at `path` whole, with `mode`, when the block ends without an error.

    It is written as a temporary file next to `path` (same filesystem, so the rename is atomic),
    created 0600 and set to `mode` before any byte is written: a key is never readable by others.
    On an error the temporary file is removed and `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)  # exactly `mode`: not mkstemp's 0600, not narrowed by the umask
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
