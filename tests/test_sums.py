"""gateway.sums: one SHA256SUMS protocol (byte order, missing/extra/altered, no traversal) and atomic writes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import sums
from gateway.sums import SUMS, Problem, SumsError, atomic_write, format_sums, verify_sums, write_sums

ROOT = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A directory with nested files whose names sort differently by path parts and by bytes."""
    d = tmp_path / "tree"
    for rel, data in {"a-b": b"1", "a/b": b"2", "B": b"3", "requirements/x.txt": b"4"}.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data)
    return d


def test_sha256_file_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 << 20))
    assert sums.sha256_file(path) == sha(b"x" * (3 << 20))


def test_write_sums_lists_every_other_file_in_byte_order_as_sha256sum_reads_it(tree):
    write_sums(tree)
    lines = (tree / SUMS).read_text().splitlines()
    # LC_ALL=C order: "B" < "a-b" < "a/b" ('-' is 0x2d, '/' 0x2f), which sorting by path parts would not give
    assert [line.split("  ", 1)[1] for line in lines] == ["B", "a-b", "a/b", "requirements/x.txt"]
    assert lines[0] == f"{sha(b'3')}  B"
    check = subprocess.run(["sha256sum", "--strict", "-c", SUMS], cwd=tree, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert verify_sums(tree) == []


def test_write_sums_with_hashes_taken_before_writes_those(tmp_path):
    write_sums(tmp_path, {"z": "0" * 64, "y/x": "1" * 64})
    assert (tmp_path / SUMS).read_bytes() == f"{'1' * 64}  y/x\n{'0' * 64}  z\n".encode()


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside", "a/../../b", "a\nb", "a\\b", ""])
def test_a_path_that_cannot_be_listed_is_refused_when_writing(name):
    with pytest.raises(SumsError, match="cannot be listed"):
        format_sums({name: "0" * 64})


def test_verify_reports_missing_extra_and_altered_files_by_path(tree):
    write_sums(tree)
    (tree / "a/b").unlink()
    (tree / "extra").write_bytes(b"new")
    (tree / "requirements/x.txt").write_bytes(b"changed")
    problems = verify_sums(tree)
    assert [(p.kind, p.path) for p in problems] == [
        ("missing", "a/b"), ("extra", "extra"), ("altered", "requirements/x.txt")]
    assert [str(p) for p in problems] == [
        "a/b listed in SHA256SUMS but missing",
        "extra not listed in SHA256SUMS",
        "requirements/x.txt does not match its sha256 in SHA256SUMS",
    ]
    assert problems[2].want == sha(b"4") and problems[2].got == sha(b"changed")


@pytest.mark.parametrize("name", ["../outside", "/etc/passwd", "a/../../outside", "./../outside"])
def test_verify_refuses_traversal_and_absolute_paths_without_opening_them(tmp_path, name):
    d = tmp_path / "d"
    d.mkdir()
    (tmp_path / "outside").write_bytes(b"secret")
    (d / SUMS).write_text(f"{sha(b'secret')}  {name}\n")
    assert verify_sums(d) == [Problem("unsafe", f"{sha(b'secret')}  {name}", 1)]
    assert "line 1" in str(verify_sums(d)[0])


def test_verify_refuses_malformed_and_duplicate_lines(tmp_path):
    (tmp_path / "f").write_bytes(b"1")
    (tmp_path / SUMS).write_text(f"{sha(b'1')}  f\nnot a sums line\n{sha(b'1')} *./f\n")
    assert [(p.kind, p.line) for p in verify_sums(tmp_path)] == [("unsafe", 2), ("duplicate", 3)]


def test_verify_accepts_sha256sum_binary_marker_and_dot_slash(tmp_path):
    (tmp_path / "f").write_bytes(b"1")
    (tmp_path / SUMS).write_text(f"{sha(b'1')} *./f\n")
    assert verify_sums(tmp_path) == []


def test_verify_without_sums_says_so(tmp_path):
    assert [str(p) for p in verify_sums(tmp_path)] == ["no SHA256SUMS"]


def test_verify_against_hashes_known_already_does_not_read_the_files(tmp_path):
    (tmp_path / SUMS).write_text(f"{'a' * 64}  gone\n{'b' * 64}  kept\n")
    problems = verify_sums(tmp_path, {"kept": "c" * 64, "new": "d" * 64, SUMS: "e" * 64})
    assert [(p.kind, p.path) for p in problems] == [("missing", "gone"), ("extra", "new"), ("altered", "kept")]


def test_atomic_write_replaces_whole_with_the_mode_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "key.pem"
    old_umask = os.umask(0o077)
    try:
        with atomic_write(target, 0o644) as fh:
            fh.write(b"one")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"one" and target.stat().st_mode & 0o777 == 0o644
    with atomic_write(target, 0o600) as fh:
        fh.write(b"two")
        assert target.read_bytes() == b"one"  # readers see the old file until the block ends
        assert oct(os.stat(fh.fileno()).st_mode & 0o777) == oct(0o600)
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(target.parent) == ["key.pem"]


def test_atomic_write_keeps_the_old_file_when_the_block_fails(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half")
        raise RuntimeError("stopped")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_the_module_needs_only_the_standard_library():
    """The supply-chain tools import it on hosts without the gateway's dependencies: no site-packages here."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import gateway.sums"
    subprocess.run([sys.executable, "-I", "-S", "-c", code, str(ROOT)], check=True)
