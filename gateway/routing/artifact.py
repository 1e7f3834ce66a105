"""The gateway's routing artifact: a manifest plus plain arrays, never a pickle.

Layout (a directory, or the same two files in a plain `.tar`):

    manifest.json   format, format_version, strategy, version, candidates, embedding spec,
                    params (small JSON values), metrics, files: {name: sha256}
    arrays.npz      numpy arrays, loaded with allow_pickle=False

The tar form is what is published to S3 and watched for hot reload: one object, one ETag.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gateway.errors import ArtifactError

# Bounds on what an artifact may make the gateway read into memory: a tar is read before it is
# verified, so a bad or hostile one must not be able to exhaust memory. The largest real artifact is
# a few tens of MB (a static encoder table is 16 MB; a knn artifact holds one row per training query).
MAX_MEMBERS = 8
MAX_MEMBER_BYTES = 1 << 30

FORMAT_NAME = "gateway-routing-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"


@dataclass(frozen=True)
class EmbeddingSpec:
    """Which encoder produced the training embeddings; the runtime must use the same."""

    model: str = "all-MiniLM-L6-v2"
    dim: int = 384
    max_tokens: int = 256
    normalize: bool = True


@dataclass(frozen=True)
class Artifact:
    """A verified, loaded routing artifact."""

    strategy: str
    version: str
    candidates: tuple[str, ...]
    arrays: Mapping[str, np.ndarray]
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    embedding: EmbeddingSpec | None = None
    sha256: str = ""
    source: str = ""

    def array(self, name: str) -> np.ndarray:
        """An array by name, or an ArtifactError naming what is missing."""
        try:
            return self.arrays[name]
        except KeyError:
            raise ArtifactError(
                f"{self.source}: array '{name}' missing for strategy {self.strategy} "
                f"(present: {', '.join(sorted(self.arrays)) or 'none'})"
            ) from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in sorted(arrays.items())})
    return buffer.getvalue()


def build_files(
    *,
    strategy: str,
    version: str,
    candidates: list[str],
    arrays: Mapping[str, np.ndarray],
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    embedding: EmbeddingSpec | None = None,
) -> dict[str, bytes]:
    """The artifact's files as bytes, manifest last so it can carry the others' checksums."""
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ArtifactError(f"array '{name}' has dtype object; only plain numeric arrays are allowed")
    npz = _npz_bytes(arrays)
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "strategy": strategy,
        "version": version,
        "candidates": list(candidates),
        "embedding": None if embedding is None else embedding.__dict__,
        "params": dict(params or {}),
        "metrics": dict(metrics or {}),
        "files": {ARRAYS: sha256_bytes(npz)},
    }
    return {MANIFEST: json.dumps(manifest, indent=2, sort_keys=True).encode(), ARRAYS: npz}


def write_tar(files: Mapping[str, bytes], path: Path) -> Path:
    """Write the packed form atomically (temp file + rename), with fixed metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".artifact-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size = len(files[name])
                info.mode = 0o644
                info.mtime = 0
                tar.addfile(info, io.BytesIO(files[name]))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_dir(files: Mapping[str, bytes], path: Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def _read_files(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        files = {}
        for name in (MANIFEST, ARRAYS):
            candidate = path / name
            if candidate.exists():
                _check_size(path, name, candidate.stat().st_size)
                files[name] = candidate.read_bytes()
        return files
    try:
        with tarfile.open(path, mode="r:*") as tar:
            files = {}
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise ArtifactError(f"{path}: more than {MAX_MEMBERS} members; an artifact has "
                                        f"{MANIFEST} and {ARRAYS}")
                if not member.isfile() or "/" in member.name or member.name.startswith("."):
                    raise ArtifactError(f"{path}: unexpected member '{member.name}' in artifact archive")
                _check_size(path, member.name, member.size)
                handle = tar.extractfile(member)
                files[member.name] = handle.read() if handle else b""
            return files
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable artifact archive ({exc})") from exc


def _check_size(path: Path, name: str, size: int) -> None:
    if size > MAX_MEMBER_BYTES:
        raise ArtifactError(f"{path}: {name} is {size} bytes, over the limit of {MAX_MEMBER_BYTES} bytes "
                            "(gateway.routing.artifact.MAX_MEMBER_BYTES); not read")


def digest_of(path: Path) -> str:
    """sha256 of the packed file, or of the manifest for a directory artifact."""
    path = Path(path)
    target = path / MANIFEST if path.is_dir() else path
    return sha256_bytes(target.read_bytes())


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Read, verify (format, version, checksums) and load an artifact, or raise ArtifactError."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: artifact not found")
    if not os.access(path, os.R_OK):
        raise ArtifactError(f"{path}: artifact is not readable (permissions)")
    files = _read_files(path)
    if MANIFEST not in files:
        raise ArtifactError(f"{path}: {MANIFEST} missing")
    try:
        manifest = json.loads(files[MANIFEST])
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ArtifactError(f"{path}: not a {FORMAT_NAME} (format={manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this gateway reads format_version {FORMAT_VERSION})"
        )
    declared = manifest.get("files") or {}
    extra = set(files) - {MANIFEST} - set(declared)
    if extra:
        raise ArtifactError(f"{path}: files not listed in the manifest: {', '.join(sorted(extra))}")
    for name, expected in declared.items():
        if name not in files:
            raise ArtifactError(f"{path}: {name} listed in the manifest but missing")
        actual = sha256_bytes(files[name])
        if actual != expected:
            raise ArtifactError(
                f"{path}: checksum mismatch for {name} (manifest {expected[:12]}…, file {actual[:12]}…)"
            )
    arrays: dict[str, np.ndarray] = {}
    if ARRAYS in files:
        try:
            with np.load(io.BytesIO(files[ARRAYS]), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (ValueError, OSError) as exc:
            raise ArtifactError(f"{path}: {ARRAYS} cannot be read without pickle ({exc})") from exc
    candidates = manifest.get("candidates")
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        raise ArtifactError(f"{path}: manifest 'candidates' must be a list of model names")
    embedding = manifest.get("embedding")
    return Artifact(
        strategy=str(manifest.get("strategy", "")),
        version=str(manifest.get("version", "")),
        candidates=tuple(candidates),
        arrays=arrays,
        params=manifest.get("params") or {},
        metrics=manifest.get("metrics") or {},
        embedding=EmbeddingSpec(**embedding) if isinstance(embedding, dict) else None,
        sha256=digest_of(path),
        source=str(path),
    )
