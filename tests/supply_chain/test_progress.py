"""Progress lines on the steps that take minutes: wheelhouse downloads, vendor fetches, lock compiles."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import fetch
import lock
import pytest

from gateway.progress import Progress
from tests.bundle.synthetic import make_wheel

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("vendor_fetch", ROOT / "vendor" / "fetch.py")
vf = sys.modules.setdefault("vendor_fetch", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(vf)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_at_most_every_interval_with_counts_bytes_and_time():
    clock, out = Clock(), io.StringIO()
    progress = Progress("wheelhouse: linux-amd64 runtime.txt", 118, unit="packages", every=10, out=out, clock=clock)
    progress.update(1, 2_500_000, "aiohttp")
    clock.now += 5
    progress.update(1, 500_000, "yarl")
    assert out.getvalue() == ""  # not yet 10 s
    clock.now += 5
    progress.update(1, 0, "zipp")
    assert out.getvalue() == "wheelhouse: linux-amd64 runtime.txt: 3/118 packages, 3.0 MB, 10 s (zipp)\n"
    progress.finish("downloaded and hash-checked")
    assert out.getvalue().splitlines()[-1].endswith("3/118 packages, 3.0 MB, 10 s (downloaded and hash-checked)")


def test_a_known_size_shows_the_share_done():
    clock, out = Clock(), io.StringIO()
    progress = Progress("vendor: weed", total_bytes=40_000_000, every=0, out=out, clock=clock)
    progress.update(nbytes=10_000_000)
    assert out.getvalue() == "vendor: weed: 10.0 MB of 40.0 MB (25 %), 0 s\n"


def test_waiting_on_a_silent_process_prints_while_it_runs(capsys):
    progress = Progress("lock: runtime for linux-amd64", every=0.1)
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(3)"])
    status = progress.wait(silent, "resolving")
    assert status == 3
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2 and all(line.startswith("lock: runtime for linux-amd64: ") for line in lines)
    assert lines[-1].endswith("(resolving)")


def test_pip_output_lines_become_counts_and_bytes(tmp_path):
    assert fetch.pip_event("Collecting aiohttp==3.9.1 (from -r lock.txt (line 5))\n") == (1, 0, "aiohttp==3.9.1")
    assert fetch.pip_event("  Downloading https://files.pythonhosted.org/p/torch-2.13.0-cp311-linux_x86_64.whl "
                           "(187.5 MB)\n") == (0, 187_500_000, "torch-2.13.0-cp311-linux_x86_64.whl")
    assert fetch.pip_event("  Using cached yarl-1.9.4-cp311.whl (301 kB)\n") == (0, 301_000, "yarl-1.9.4-cp311.whl")
    assert fetch.pip_event("  Downloading aiohttp-3.9.1.whl.metadata (7.4 kB)\n") == (0, 0, None)
    assert fetch.pip_event("Successfully downloaded aiohttp\n") == (0, 0, None)
    local = tmp_path / "x-1.0-py3-none-any.whl"
    local.write_bytes(b"z" * 1234)
    assert fetch.pip_event(f"Processing {local}\n") == (1, 1234, local.name)


def test_a_wheelhouse_download_reports_packages_and_bytes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fetch, "CACHE", tmp_path / "cache")
    wheels = [make_wheel(tmp_path / "index", name, "1.0", {f"{name}/__init__.py": "x" * 5000}) for name in ("a", "b")]
    lock = tmp_path / "runtime.txt"
    lock.write_text("".join(f"{w.name.split('-')[0]}==1.0 --hash=sha256:{hashlib.sha256(w.read_bytes()).hexdigest()}\n"
                            for w in wheels))
    fetch.download(lock, "linux-amd64", tmp_path / "out", ["--no-index", "--find-links", str(tmp_path / "index")])
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("wheelhouse: linux-amd64 runtime.txt: 2/2 packages, ")
    assert last.endswith("(downloaded and hash-checked)")


def test_a_vendor_download_reports_its_bytes_against_the_lock_size(tmp_path, capsys):
    data = b"\x7fELF" + b"0" * 100_000
    source = tmp_path / "tool"
    source.write_bytes(data)
    pin = vf.Pin(name="tool", version="1.0", kind="binary", arch="amd64", pinned=True, url=source.as_uri(),
                 sha256=hashlib.sha256(data).hexdigest(), size=len(data), member=None, member_sha256=None, file="tool")
    assert vf.download(pin, tmp_path / "cache").read_bytes() == data
    assert capsys.readouterr().out == "vendor: tool 1.0 (amd64): 0.1 MB of 0.1 MB (100 %), 0 s (downloaded)\n"


def _fake_uv(tmp_path: Path, body: str) -> Path:
    uv = tmp_path / "uv"
    uv.write_text(f"#!{sys.executable}\nimport sys, time\ntime.sleep(0.3)\n{body}\n")
    uv.chmod(0o755)
    return uv


def test_a_lock_compile_says_it_is_still_resolving(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    monkeypatch.setattr(lock, "LOCKS", tmp_path / "locks")
    monkeypatch.setattr(lock, "Progress", lambda label: Progress(label, every=0.1))
    (tmp_path / "locks").mkdir()
    spec = next(s for s in lock.SPECS if s.name == "model")
    uv = _fake_uv(tmp_path, "open(sys.argv[sys.argv.index('-o') + 1], 'w').write('alpha==1.0\\n')")
    lock._compile_one(str(uv), spec, None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("lock: model for any: ") and lines[0].endswith("(resolving)")
    assert lines[-1].startswith("wrote locks/model.txt (1 packages, ")
    failing = _fake_uv(tmp_path, "sys.stderr.write('no solution found'); raise SystemExit(1)")
    with pytest.raises(lock.LockError, match="uv pip compile failed:\nno solution found"):
        lock._compile_one(str(failing), spec, None)
