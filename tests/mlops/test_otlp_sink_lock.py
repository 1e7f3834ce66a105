"""The OTLP sink's venv is installed from a lock like every other venv: the lock is the runtime lock's pins of
the sink's two packages (wheelhouse/tools/sink_lock.py, drift-checked here), its wheelhouse carries those wheels
and otlp_sink.py from the gateway wheel, each checked (files/sink-wheelhouse.py), and locked-venv.py installs it
with real pip: pip check passes without the gateway wheel, and the sink runs as a file in that venv."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ansible.playbook import REPO
from wheelhouse.tools import sink_lock

PACK = REPO / "ansible/roles/otelcol/files/sink-wheelhouse.py"
LOCKED_VENV = REPO / "ansible/files/locked-venv.py"
ARCH = "arm64" if "aarch64" in subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout else "amd64"
WHEELHOUSE = REPO / f"wheelhouse/dist/linux-{ARCH}"
LOCK = REPO / f"ansible/roles/otelcol/files/otlp-sink-linux-{ARCH}.txt"
# import name -> distribution, for what otlp_sink.py may import besides the standard library
DISTRIBUTIONS = {"google": "protobuf", "opentelemetry": "opentelemetry-proto"}


def test_the_committed_sink_locks_are_what_the_runtime_locks_give():
    assert sink_lock.check(REPO) == []


def test_a_runtime_lock_moved_on_makes_the_sink_lock_stale_and_a_missing_package_is_named(tmp_path):
    for platform in sink_lock.PLATFORMS:
        for rel in (sink_lock.RUNTIME, sink_lock.OUT):
            (tmp_path / rel.format(platform=platform)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / rel.format(platform=platform), tmp_path / rel.format(platform=platform))
    runtime = tmp_path / sink_lock.RUNTIME.format(platform="linux-arm64")
    runtime.write_text(runtime.read_text().replace("protobuf==", "protobuf==9.9.9+x", 1))
    assert sink_lock.check(tmp_path) == [
        "ansible/roles/otelcol/files/otlp-sink-linux-arm64.txt: stale against wheelhouse/locks/runtime-linux-arm64.txt;"
        " run `make lock` (or python wheelhouse/tools/sink_lock.py write)"]
    runtime.write_text("\n".join(line for line in runtime.read_text().splitlines() if "protobuf" not in line))
    with pytest.raises(sink_lock.SinkLockError, match="pins no protobuf, which the OTLP sink imports"):
        sink_lock.render("linux-arm64", tmp_path)


def test_the_sink_imports_only_the_standard_library_and_the_locks_packages():
    tree = ast.parse((REPO / "gateway/mlops/otlp_sink.py").read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    third_party = roots - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == set(DISTRIBUTIONS), third_party  # no `gateway`: the role runs the file on its own
    assert sorted(DISTRIBUTIONS.values()) == sorted(sink_lock.PACKAGES)


def _pack(wheelhouse: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PACK), "--wheelhouse", str(wheelhouse), "--lock", str(LOCK),
                           "--out", str(out)], capture_output=True, text=True, timeout=60)


def _sync(tar: Path, host: Path) -> dict:
    host.mkdir(exist_ok=True)  # the role creates otelcol_sink_home
    out = subprocess.run(["/usr/bin/python3", str(LOCKED_VENV), "--tar", str(tar), "--wheelhouse",
                          str(host / "wheelhouse"), "--venv", str(host / "venv"), "--requirements", "otlp-sink.txt"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not (WHEELHOUSE / "SHA256SUMS").is_file(), reason="needs `make wheelhouse`")
def test_the_sinks_wheelhouse_installs_through_locked_venv_passes_pip_check_and_runs(tmp_path):
    tar = tmp_path / "otlp-sink.tar"
    packed = _pack(WHEELHOUSE, tar)
    assert packed.returncode == 0, packed.stderr
    assert json.loads(packed.stdout)["changed"] is True
    assert json.loads(_pack(WHEELHOUSE, tar).stdout)["changed"] is False  # byte-identical: the copy is idempotent
    first = _sync(tar, tmp_path / "host")
    assert first["changed"] and sorted(p.split("==")[0] for p in first["install"]) == ["opentelemetry-proto",
                                                                                       "protobuf"]
    assert _sync(tar, tmp_path / "host")["changed"] is False
    python = str(tmp_path / "host/venv/bin/python")
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.stdout.strip() == "No broken requirements found.", check.stdout
    run = subprocess.run([python, "-I", str(tmp_path / "host/wheelhouse/otlp_sink.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("usage: gateway mlops otlp-sink"), run.stderr


@pytest.mark.skipif(not (WHEELHOUSE / "SHA256SUMS").is_file(), reason="needs `make wheelhouse`")
def test_a_wheel_or_a_gateway_wheel_that_differs_from_its_hash_is_refused_naming_it(tmp_path):
    copy = tmp_path / "wheelhouse"
    (copy / "requirements").mkdir(parents=True)
    shutil.copy(WHEELHOUSE / "requirements/gateway.txt", copy / "requirements/gateway.txt")
    for wheel in WHEELHOUSE.glob("*.whl"):
        if wheel.name.startswith(("gateway-", "protobuf-", "opentelemetry_proto-")):
            shutil.copy(wheel, copy / wheel.name)
    assert _pack(copy, tmp_path / "ok.tar").returncode == 0
    (protobuf,) = copy.glob("protobuf-*.whl")
    protobuf.write_bytes(protobuf.read_bytes() + b"\0")
    refused = _pack(copy, tmp_path / "bad.tar")
    assert refused.returncode == 1 and f"{protobuf}: sha256 is none of" in refused.stderr, refused.stderr
    assert not (tmp_path / "bad.tar").exists()
    (gateway,) = copy.glob("gateway-*.whl")
    gateway.write_bytes(gateway.read_bytes() + b"\0")
    refused = _pack(copy, tmp_path / "bad.tar")
    assert "sha256 differs from requirements/gateway.txt's" in refused.stderr, refused.stderr
