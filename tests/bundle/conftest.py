"""Fixtures for the bundle tests: a synthetic repository, signing keys, one built bundle per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bundle import synthetic

NEEDED = ("zstd", "openssl", "tar", "sha256sum", "bash")


@pytest.fixture(scope="session", autouse=True)
def _tools():
    missing = [t for t in NEEDED if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (tests/bundle/apt-packages.txt; `make system-deps`)")


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> Path:
    return synthetic.make_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def key(tmp_path_factory) -> Path:
    """The signing key; its public half is key.pub.pem next to it."""
    return synthetic.make_key(tmp_path_factory.mktemp("keys") / "key.pem")


@pytest.fixture(scope="session")
def built(repo, key, tmp_path_factory) -> Path:
    """A good bundle (no images; apt, vendor, SBOMs), built once for the session."""
    out = tmp_path_factory.mktemp("dist")
    result = synthetic.build(repo, out, key)
    assert result.returncode == 0, result.stderr
    return synthetic.bundle_path(out)


@pytest.fixture
def pubkey(key) -> Path:
    return key.with_suffix(".pub.pem")


@pytest.fixture
def unpacked(built, tmp_path) -> Path:
    """A fresh unpacked copy of the good bundle, for a test to damage."""
    return synthetic.unpack(built, tmp_path / "unpacked")
