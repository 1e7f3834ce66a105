"""ansible/files/locked-venv.py with real pip and a real venv: patch N -> N+1 -> N ends exactly on N.

The roles run it on the node (tests/ansible/test_site.py -k patch proves it there); here each step is
fast: two small wheelhouses of wheels written by tests/ansible/wheels.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gateway.sums import write_sums
from tests.ansible.playbook import REPO
from tests.ansible.wheels import lock_line, make_wheel

SCRIPT = REPO / "ansible/files/locked-venv.py"


def wheelhouse_tar(tmp: Path, name: str, packages: dict[str, str]) -> Path:
    """A wheelhouse of `packages` (name -> version) with its lock and SHA256SUMS, tarred like the roles do."""
    src = tmp / name
    (src / "requirements").mkdir(parents=True)
    lines = "".join(lock_line(p, v, make_wheel(src, p, v)) for p, v in packages.items())
    (src / "requirements/runtime.txt").write_text("# test lock\n" + lines)
    write_sums(src)
    tar = tmp / f"{name}.tar"
    subprocess.run(["tar", "--sort=name", "--mtime=@0", "-cf", str(tar), "-C", str(src), "."], check=True)
    return tar


def sync(tar: Path, host: Path, *extra: str) -> tuple[int, dict, str]:
    out = subprocess.run(["/usr/bin/python3", str(SCRIPT), "--tar", str(tar), "--wheelhouse", str(host / "wheelhouse"),
                          "--venv", str(host / "venv"), "--requirements", "runtime.txt", *extra],
                         capture_output=True, text=True, timeout=300)
    return out.returncode, json.loads(out.stdout) if out.returncode == 0 else {}, out.stderr


def freeze(host: Path) -> dict[str, str]:
    out = subprocess.run([str(host / "venv/bin/python"), "-m", "pip", "list", "--format", "json"],
                         capture_output=True, text=True, check=True)
    return {d["name"]: d["version"] for d in json.loads(out.stdout) if d["name"] not in ("pip", "setuptools")}


def files(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("locked-venv")
    return (wheelhouse_tar(tmp, "n", {"gt-probe": "1.0"}),
            wheelhouse_tar(tmp, "n1", {"gt-probe": "1.1", "gt-only-n1": "2.0"}))


def test_patch_then_rollback_ends_on_exactly_ns_lock_and_wheelhouse(releases, tmp_path):
    n, n1 = releases
    host = tmp_path / "host"
    host.mkdir()
    rc, first, err = sync(n, host)
    assert rc == 0, err
    assert first["changed"] and first["venv_created"] and first["wheelhouse_replaced"]
    assert freeze(host) == {"gt-probe": "1.0"}
    n_files = files(host / "wheelhouse")

    rc, again, err = sync(n, host)
    assert (rc, again["changed"]) == (0, False), (again, err)

    rc, patched, err = sync(n1, host)
    assert rc == 0, err
    assert patched["changed"] and patched["wheelhouse_replaced"]
    assert sorted(patched["install"]) == ["gt-only-n1==2.0", "gt-probe==1.1"]
    assert freeze(host) == {"gt-probe": "1.1", "gt-only-n1": "2.0"}
    assert "gt_only_n1-2.0-py3-none-any.whl" in files(host / "wheelhouse")

    rc, dry, err = sync(n, host, "--check")  # --check sees the drift and changes nothing
    assert rc == 0 and dry["changed"] and dry["check_mode"], (dry, err)
    assert freeze(host) == {"gt-probe": "1.1", "gt-only-n1": "2.0"}

    rc, back, err = sync(n, host)
    assert rc == 0, err
    assert back["install"] == ["gt-probe==1.0"] and back["remove"] == ["gt-only-n1"], back
    assert freeze(host) == {"gt-probe": "1.0"}  # nothing N+1 brought stays
    assert files(host / "wheelhouse") == n_files
    assert not (host / "wheelhouse.old").exists() and not (host / "wheelhouse.new").exists()
    rc, settled, err = sync(n, host, "--check")
    assert (rc, settled["changed"]) == (0, False), (settled, err)


def test_a_wheel_whose_hash_is_not_the_locked_one_fails_naming_the_package(releases, tmp_path):
    host = tmp_path / "host"
    src = tmp_path / "bad"
    (src / "requirements").mkdir(parents=True)
    make_wheel(src, "gt-probe", "1.2")
    (src / "requirements/runtime.txt").write_text("gt-probe==1.2 --hash=sha256:" + "0" * 64 + "\n")
    write_sums(src)
    tar = tmp_path / "bad.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(src), "."], check=True)
    host.mkdir()
    rc, _, err = sync(releases[0], host)
    assert rc == 0, err
    rc, _, err = sync(tar, host)
    assert rc == 1
    assert f"{host / 'venv'}: pip install failed" in err and "gt-probe" in err, err
    assert freeze(host) == {"gt-probe": "1.0"}  # the locked version stays installed


def test_a_lock_line_that_is_not_a_pin_fails_naming_the_file(tmp_path):
    src = tmp_path / "src"
    (src / "requirements").mkdir(parents=True)
    (src / "requirements/runtime.txt").write_text("gt-probe>=1.0\n")
    write_sums(src)
    tar = tmp_path / "w.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(src), "."], check=True)
    host = tmp_path / "host"
    host.mkdir()
    rc, _, err = sync(tar, host)
    assert rc == 1
    assert f"{host / 'wheelhouse/requirements/runtime.txt'}: 'gt-probe>=1.0' is not a name==version pin" in err, err
