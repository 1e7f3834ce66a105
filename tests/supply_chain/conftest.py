"""Supply-chain tests: locks (always), wheelhouse and images (when the make targets ask for them).

`make test-supply-chain` sets GATEWAY_SUPPLY_CHAIN=1 after building the wheelhouse, and
`make test-images` sets GATEWAY_IMAGE_ARCHIVE after building the images: with those set, a missing
artifact is a failure. A plain `make test` skips these tests and says which target runs them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "wheelhouse" / "tools"))


def pytest_configure(config):
    config.addinivalue_line("markers", "images: builds on the OCI archive from `make images` (podman)")
    config.addinivalue_line("markers", "arm64: runs the arm64 image under qemu (minutes)")


@pytest.fixture(scope="session")
def wheelhouse_dist() -> Path:
    dist = ROOT / "wheelhouse" / "dist"
    if not os.environ.get("GATEWAY_SUPPLY_CHAIN"):
        pytest.skip("needs the wheelhouse: run `make test-supply-chain`")
    for platform in ("linux-amd64", "linux-arm64"):
        assert (dist / platform / "SHA256SUMS").exists(), f"{dist / platform} missing: `make wheelhouse`"
    return dist


@pytest.fixture(scope="session")
def image_archive() -> Path:
    archive = os.environ.get("GATEWAY_IMAGE_ARCHIVE")
    if not archive:
        pytest.skip("needs the image archive: run `make test-images`")
    path = Path(archive) if Path(archive).is_absolute() else ROOT / archive
    assert path.exists(), f"{path} missing: `make images`"
    return path
