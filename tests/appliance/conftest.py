"""Shared helpers: example paths, and prerequisites that fail loudly (make test installs them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "appliance"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "appliance.yaml").exists())


def single_node_data() -> dict:
    """The single-node example's manifest as plain data, for a test to break one key of."""
    import yaml

    return yaml.safe_load((EXAMPLES / "single-node" / "appliance.yaml").read_text())


def manifest_errors(data: dict) -> list[str]:
    """The problems the loader reports for `data` (it must refuse it)."""
    import yaml

    from gateway.appliance.errors import ManifestError
    from gateway.appliance.loader import parse

    with pytest.raises(ManifestError) as exc:
        parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
    return exc.value.problems


def require_tool(name: str, package: str) -> str:
    """Fails (never skips): a missing tool means the environment is wrong, not the test inapplicable."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: apt-get install {package} (listed in tests/appliance/apt-packages.txt)"
        )
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "this test needs root (network namespaces, nft); run it as root or deselect -m 'not netns'"
        )


@pytest.fixture
def example():
    from gateway.appliance.loader import load

    return lambda name: load(EXAMPLES / name / "appliance.yaml")


_MATRIX = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def matrix_report(request):
    """(front, case) -> the refusal observed; printed as a table after the run (test_refusal_matrix.py)."""
    return request.config.stash.setdefault(_MATRIX, {})


def pytest_terminal_summary(terminalreporter, config):
    cells = config.stash.get(_MATRIX, {})
    if not cells:
        return
    terminalreporter.section(f"refusal matrix: {len(cells)} refusals observed")
    for (front, case), seen in cells.items():
        terminalreporter.write_line(f"{front:<11} {case:<21} {seen}")
