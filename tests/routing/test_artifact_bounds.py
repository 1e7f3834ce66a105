"""An artifact is read before it is verified: its members are bounded in number and size."""

from __future__ import annotations

import io
import tarfile

import pytest

from gateway.errors import ArtifactError
from gateway.routing import artifact as fmt


def _tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_member_over_the_size_limit_is_refused_before_it_is_read(tmp_path, demo_artifact, monkeypatch):
    monkeypatch.setattr(fmt, "MAX_MEMBER_BYTES", 1024)
    path = _tar(tmp_path / "big.tar", {fmt.MANIFEST: b"{}", fmt.ARRAYS: b"x" * 2048})
    with pytest.raises(ArtifactError, match=r"arrays.npz is 2048 bytes, over the limit of 1024 bytes"):
        fmt.load_artifact(path)
    monkeypatch.setattr(fmt, "MAX_MEMBER_BYTES", 1 << 30)
    assert fmt.load_artifact(demo_artifact).strategy == "llmrouter-knn"  # a real one still loads


def test_a_directory_artifact_is_bounded_the_same_way(tmp_path, monkeypatch):
    directory = tmp_path / "art"
    directory.mkdir()
    (directory / fmt.MANIFEST).write_bytes(b"{}" * 600)
    monkeypatch.setattr(fmt, "MAX_MEMBER_BYTES", 1024)
    with pytest.raises(ArtifactError, match=r"manifest.json is 1200 bytes, over the limit"):
        fmt.load_artifact(directory)


def test_an_archive_with_many_members_is_refused(tmp_path):
    path = _tar(tmp_path / "many.tar", {f"m{i}": b"" for i in range(fmt.MAX_MEMBERS + 1)})
    with pytest.raises(ArtifactError, match=f"more than {fmt.MAX_MEMBERS} members"):
        fmt.load_artifact(path)
