"""The optional training component: the real training wheelhouse (torch CPU, llmrouter-lib) in the bundle
only when asked for (`--training`), signed and checked like every member, listed by inspect and diff,
covered by the vulnerability report; a tampered training wheel is refused before anything is installed.

The wheelhouse is the repository's own (`make wheelhouse-training ARCHES=amd64`, ~0.7 GB; made here
when missing, which needs PyPI once); the rest of the repository is the synthetic one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from gateway.sums import sha256_file
from tests.bundle import synthetic

# The training wheelhouse is ~0.7 GB: it is made (and these run) with the training environment, in
# `make test-mlops`, not in `make test`.
pytestmark = pytest.mark.training

REAL_WHEELHOUSE = synthetic.ROOT / "wheelhouse/dist/training-linux-amd64"
REAL_LOCK = synthetic.ROOT / "wheelhouse/locks/training-linux-amd64.txt"
TRAINING = "training-wheelhouse/linux-amd64"


@pytest.fixture(scope="module")
def wheelhouse() -> str:
    if not (REAL_WHEELHOUSE / "SHA256SUMS").is_file():
        made = subprocess.run(["make", "-C", str(synthetic.ROOT), "--no-print-directory", "wheelhouse-training",
                               "ARCHES=amd64"], capture_output=True, text=True)
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    return str(REAL_WHEELHOUSE)


@pytest.fixture(scope="module")
def trepo(tmp_path_factory, wheelhouse):
    """The synthetic repository with the real training lock, and its vulnerability report over it."""
    root = synthetic.make_repo(tmp_path_factory.mktemp("trepo"))
    shutil.copy(REAL_LOCK, root / "wheelhouse/locks" / REAL_LOCK.name)
    synthetic.write_vulnerability_report(root)
    return root


def _build(repo, out, key, *extra):
    return synthetic.build(repo, out, key, "--arch", "amd64", "--no-apt", "--no-vendor", *extra)


@pytest.fixture(scope="module")
def with_training(trepo, key, wheelhouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist-training")
    result = _build(trepo, out, key, "--training", "--training-wheelhouse", wheelhouse)
    assert result.returncode == 0, result.stderr
    return synthetic.bundle_path(out, "amd64")


@pytest.fixture(scope="module")
def without_training(trepo, key, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist-default")
    result = _build(trepo, out, key)
    assert result.returncode == 0, result.stderr
    return synthetic.bundle_path(out, "amd64")


def _gateway(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "bundle", *args], capture_output=True, text=True)


def _listing(bundle) -> dict[str, str]:
    raw = subprocess.run(["tar", "--zstd", "-xOf", str(bundle), f"{synthetic.TOP}/SHA256SUMS"],
                         capture_output=True, text=True, check=True).stdout
    return {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in raw.splitlines()}


def _member(bundle, path: str) -> str:
    return subprocess.run(["tar", "--zstd", "-xOf", str(bundle), f"{synthetic.TOP}/{path}"],
                          capture_output=True, text=True, check=True).stdout


def test_the_default_bundle_has_no_training_component(without_training):
    assert not any(p.startswith("training-wheelhouse/") for p in _listing(without_training))
    assert "TRAINING=omitted (--training adds it)" in _member(without_training, "BUNDLE-INFO")


def test_training_puts_every_wheel_of_the_wheelhouse_under_the_signed_listing(with_training, wheelhouse, pubkey):
    listed = _listing(with_training)
    real = {p.relative_to(REAL_WHEELHOUSE).as_posix(): sha256_file(p)
            for p in REAL_WHEELHOUSE.rglob("*") if p.is_file()}
    assert {p.removeprefix(TRAINING + "/"): h for p, h in listed.items() if p.startswith(TRAINING + "/")} == real
    assert any(p.startswith("torch-2.13.0+cpu") or p.startswith("torch-2.13.0%2Bcpu") for p in real)
    assert any(p.startswith("llmrouter_lib-") for p in real)
    assert "TRAINING=amd64" in _member(with_training, "BUNDLE-INFO")
    sbom = json.loads(_member(with_training, "sbom/python-training-linux-amd64.cdx.json"))
    assert {"torch", "llmrouter-lib"} <= {c["name"] for c in sbom["components"]}
    verified = _gateway("verify", str(with_training), "--pubkey", str(pubkey))
    assert verified.returncode == 0, verified.stderr
    assert synthetic.run_install_sh("verify", "--pubkey", str(pubkey), str(with_training)).returncode == 0


def test_the_vulnerability_report_covers_the_lock_the_training_wheelhouse_was_made_from(with_training):
    report = json.loads(_member(with_training, "reports/vulnerabilities.json"))
    lock = f"wheelhouse/locks/{REAL_LOCK.name}"
    assert report["locks"][lock] == sha256_file(REAL_LOCK)
    assert _member(with_training, f"{TRAINING}/requirements/lock-sha256").strip() == sha256_file(REAL_LOCK)
    # the synthetic report's source knows nothing (404), so every pin is listed as not checked, torch too
    assert any(n["component"].startswith("torch==2.13.0") and lock in n["locks"] for n in report["not_checked"])


def test_inspect_lists_the_component_and_diff_shows_what_it_adds(with_training, without_training, pubkey):
    shown = _gateway("inspect", str(with_training), "--pubkey", str(pubkey), "--versions")
    assert shown.returncode == 0, shown.stderr
    assert f"  {TRAINING} " in shown.stdout and "  TRAINING=amd64" in shown.stdout
    assert f"  {TRAINING} torch 2.13.0+cpu" in shown.stdout.replace("%2B", "+")
    assert "sbom/python-training-linux-amd64.cdx.json" in shown.stdout
    changes = _gateway("diff", str(without_training), str(with_training), "--pubkey", str(pubkey))
    assert changes.returncode == 0, changes.stderr
    assert "  ~ TRAINING omitted (--training adds it) -> amd64" in changes.stdout
    assert f"  + {TRAINING} llmrouter-lib 0.4.0" in changes.stdout
    back = _gateway("diff", str(with_training), str(without_training), "--pubkey", str(pubkey))
    assert f"  - {TRAINING} llmrouter-lib 0.4.0" in back.stdout


def test_a_missing_or_stale_training_wheelhouse_stops_the_build(trepo, key, tmp_path, wheelhouse):
    missing = _build(trepo, tmp_path, key, "--training", "--training-wheelhouse", str(tmp_path / "none-{arch}"))
    assert missing.returncode == 1
    assert "the training wheelhouse for linux-amd64" in missing.stderr
    assert "`make wheelhouse-training ARCHES=amd64`" in missing.stderr
    # The lock moved on since the wheelhouse was made: the report would cover another set of pins.
    moved = synthetic.make_repo(tmp_path / "moved")
    (moved / "wheelhouse/locks" / REAL_LOCK.name).write_text(REAL_LOCK.read_text() + "# moved on\n")
    synthetic.write_vulnerability_report(moved)
    stale = _build(moved, tmp_path / "out", key, "--training", "--training-wheelhouse", wheelhouse)
    assert stale.returncode == 1
    assert f"{wheelhouse}: made from another training lock than" in stale.stderr
    assert "run `make wheelhouse-training ARCHES=amd64` again" in stale.stderr
    assert not list(tmp_path.glob("out/*.tar.zst"))


def test_a_tampered_training_wheel_is_refused_before_anything_is_installed(with_training, pubkey, tmp_path):
    top = synthetic.unpack(with_training, tmp_path / "u")
    wheel = next((top / TRAINING).glob("llmrouter_lib-*.whl"))
    with wheel.open("ab") as fh:
        fh.write(b"\0")
    name = f"{TRAINING}/{wheel.name}"
    checked = synthetic.run_install_sh("verify", "--pubkey", str(pubkey), str(top))
    assert checked.returncode != 0 and name in checked.stderr
    refused = _gateway("verify", str(top), "--pubkey", str(pubkey))
    assert refused.returncode == 1 and name in refused.stdout + refused.stderr
    # install.sh install refuses it: nothing lands in the staging directory, ansible-playbook never runs
    bin_dir, ran = tmp_path / "bin", tmp_path / "ran"
    bin_dir.mkdir()
    (bin_dir / "ansible-playbook").write_text(f"#!/bin/sh\ntouch {ran}\n")
    (bin_dir / "ansible-playbook").chmod(0o755)
    (tmp_path / "hosts.yml").write_text("all: {hosts: {node1: {}}}\n")
    tampered, staging = tmp_path / "tampered.tar.zst", tmp_path / "staging"
    subprocess.run(["tar", "--zstd", "-cf", str(tampered), "-C", str(top.parent), synthetic.TOP], check=True)
    install = synthetic.run_install_sh("install", "--pubkey", str(pubkey), "-i", str(tmp_path / "hosts.yml"),
                                       "--staging", str(staging), str(tampered),
                                       env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert install.returncode != 0 and name in install.stderr
    assert not (staging / synthetic.TOP).exists() and not ran.exists()
    # the untouched bundle goes through the same command to ansible-playbook
    good = synthetic.run_install_sh("install", "--pubkey", str(pubkey), "-i", str(tmp_path / "hosts.yml"),
                                    "--staging", str(staging), str(with_training),
                                    env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert good.returncode == 0, good.stderr
    assert ran.exists() and (staging / synthetic.TOP / TRAINING / wheel.name).is_file()
