"""Where a watched object lives, and how to tell that it changed: file mtime or S3 ETag.

`probe()` is cheap and returns a version token; `fetch()` copies the object to a private
temporary file, so what is verified and loaded is exactly what was read, never a file that is
still being written.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from gateway.config.models import S3Settings


class SourceError(Exception):
    """The object cannot be checked or read now (store down, denied, missing)."""


class Source(ABC):
    #: a human-readable location, e.g. file:///etc/gateway/knn.tar or s3://bucket/key
    url: str

    @abstractmethod
    async def probe(self) -> str:
        """A token that changes when the object changes."""

    @abstractmethod
    async def fetch(self, directory: Path) -> Path:
        """Copy the object into `directory` and return the copy's path."""


def private_temp(directory: Path, suffix: str) -> Path:
    """A path that does not exist yet, in a fresh 0700 folder of its own."""
    return Path(tempfile.mkdtemp(prefix=".incoming-", dir=directory)) / f"object{suffix}"


class FileSource(Source):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.url = f"file://{self.path}"

    async def probe(self) -> str:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise SourceError(f"{self.path}: not found") from None
        except OSError as exc:
            raise SourceError(f"{self.path}: {exc.strerror}") from None
        return f"mtime={stat.st_mtime_ns} size={stat.st_size}"

    async def fetch(self, directory: Path) -> Path:
        target = private_temp(directory, self.path.suffix)
        try:
            await asyncio.to_thread(shutil.copyfile, self.path, target)
        except OSError as exc:
            cleanup(target)
            raise SourceError(f"{self.path}: {exc.strerror}") from None
        return target


class S3Source(Source):
    def __init__(self, settings: S3Settings, bucket: str, key: str):
        from gateway.reload.s3 import make_client

        self.client = make_client(settings)
        self.bucket = bucket
        self.key = key
        self.url = f"s3://{bucket}/{key}"

    def _error(self, exc: Exception) -> SourceError:
        code = getattr(exc, "code", None)
        detail = f"{code}: {getattr(exc, 'message', '')}" if code else f"{type(exc).__name__}: {exc}"
        return SourceError(f"{self.url}: {detail}")

    async def probe(self) -> str:
        try:
            stat = await asyncio.to_thread(self.client.stat_object, self.bucket, self.key)
        except Exception as exc:  # the SDK raises S3Error, urllib3 and ssl errors alike
            raise self._error(exc) from None
        return f"etag={stat.etag}"

    async def fetch(self, directory: Path) -> Path:
        target = private_temp(directory, Path(self.key).suffix)
        try:
            await asyncio.to_thread(self.client.fget_object, self.bucket, self.key, str(target))
        except Exception as exc:
            cleanup(target)
            raise self._error(exc) from None
        return target


def cleanup(path: Path | None) -> None:
    """Remove a fetched copy and its private folder."""
    if path is not None:
        shutil.rmtree(Path(path).parent, ignore_errors=True)
