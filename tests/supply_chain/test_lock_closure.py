"""Every lock is complete: installs use --no-deps and never resolve, so the lock must carry each dependency.

Offline: the metadata comes from the venvs `make test` installs (.venv from the dev lock, which pins
the runtime lock's packages at the same versions; the tools venv), or from wheels. The training and
Ansible locks are checked when their venvs are built (`make test-mlops`, `make test-ansible`), and
every lock of both architectures against its wheelhouse in `make test-images`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import closure
import lock
import pytest
from packaging.requirements import Requirement

ROOT = lock.ROOT
HOST = "linux-amd64" if closure.MACHINES["linux-amd64"] == closure.default_environment()["platform_machine"] \
    else "linux-arm64"
TOOLS_PY = Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build")) / "tools" / "bin" / "python"


@pytest.mark.parametrize("name", ["dev", "runtime"])
def test_the_dev_and_runtime_locks_are_complete_against_the_installed_venv(name: str):
    path = ROOT / "wheelhouse" / "locks" / f"{name}-{HOST}.txt"
    assert closure.check(path, closure.installed_metadata, None) == []


def test_the_tools_lock_is_complete_against_the_tools_venv():
    if not TOOLS_PY.exists():
        pytest.fail(f"{TOOLS_PY} missing: `make test` builds it first ($(TOOLS)/.installed)")
    result = subprocess.run([str(TOOLS_PY), str(ROOT / "wheelhouse/tools/closure.py"), "--pip-check",
                             str(ROOT / "wheelhouse" / "locks" / f"tools-{HOST}.txt")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _metadata(requires: dict[str, list[str]]):
    def read(name: str, version: str) -> list[str]:
        if name not in requires:
            raise LookupError(f"{name}=={version} is pinned but not installed")
        return requires[name]
    return read


ENV = dict(closure.default_environment())
# litellm asks for httpx's http2 extra: that extra's dependency must be pinned too (issue 14's case).
REQUIRES = {
    "litellm": ["httpx[http2]>=0.28.0,<1.0", "click"],
    "httpx": ["anyio", 'h2<5,>=3; extra == "http2"', 'brotli; extra == "brotli"'],
    "anyio": [], "click": [], "h2": [],
}


def test_a_lock_with_every_dependency_and_requested_extra_has_no_gaps():
    pinned = {"litellm": "1.108.7", "httpx": "0.28.1", "anyio": "4.0", "click": "8.1", "h2": "4.3.0"}
    assert closure.gaps(pinned, [Requirement("litellm==1.108.7")], _metadata(REQUIRES), ENV) == []


def test_a_dependency_of_a_requested_extra_that_is_not_pinned_is_named():
    pinned = {"litellm": "1.108.7", "httpx": "0.28.1", "anyio": "4.0", "click": "8.1"}
    assert closure.gaps(pinned, [Requirement("litellm==1.108.7")], _metadata(REQUIRES), ENV) == [
        "h2 (wanted by httpx[http2]==0.28.1 as 'h2<5,>=3; extra == \"http2\"') is not pinned"]


def test_a_pin_outside_the_requirement_is_named():
    pinned = {"litellm": "1.108.7", "httpx": "0.27.0", "anyio": "4.0", "click": "8.1", "h2": "4.3.0"}
    assert closure.gaps(pinned, [Requirement("litellm")], _metadata(REQUIRES), ENV) == [
        "httpx==0.27.0 does not satisfy 'httpx[http2]<1.0,>=0.28.0' (wanted by litellm==1.108.7)"]


def test_the_real_dev_lock_without_h2_is_refused(tmp_path: Path):
    text = (ROOT / "wheelhouse" / "locks" / f"dev-{HOST}.txt").read_text()
    blocks = text.split("\nh2==", 1)
    assert len(blocks) == 2, "the dev lock pins h2 (httpx[http2])"
    rest = blocks[1].split("\n", 1)[1]
    while rest.startswith("    "):  # drop h2's --hash and via lines
        rest = rest.split("\n", 1)[1]
    broken = tmp_path / f"dev-{HOST}.txt"
    broken.write_text(blocks[0] + "\n" + rest)
    result = subprocess.run([sys.executable, str(ROOT / "wheelhouse/tools/closure.py"), str(broken)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "h2 (wanted by httpx[http2]==" in result.stderr


INSTALLERS = ["Makefile", "wheelhouse/supply-chain.mk", "ansible/ansible.mk", "examples/mlops/mlops.mk",
              "images/Containerfile", "examples/mlops/Containerfile.trainer", "bundle/install.sh",
              "wheelhouse/tools/verify_offline.py"]


def _pip_installs(text: str) -> list[str]:
    """Each `pip install` command of a file, continuation lines joined, comments left out."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    joined = code.replace("\\\n", " ")
    return [part for line in joined.splitlines() for part in line.split("&&")
            if re.search(r'pip(\[@\]\}")? install|"pip", "install"|call locked_install', part)]


@pytest.mark.parametrize("path", INSTALLERS)
def test_every_install_from_a_lock_is_no_deps(path: str):
    installs = _pip_installs((ROOT / path).read_text())
    assert installs, f"{path}: no pip install found; update INSTALLERS"
    # locked_install (wheelhouse/supply-chain.mk) is --no-deps itself
    resolving = [cmd.strip() for cmd in installs if "-r" in cmd.split() and "--no-deps" not in cmd
                 and "--dry-run" not in cmd and "locked_install" not in cmd]
    assert resolving == []


def test_the_gateway_role_installs_every_requirement_file_without_deps():
    import yaml
    variables = yaml.safe_load((ROOT / "ansible/roles/gateway/vars/main.yml").read_text())
    # the role's internal variable (`__` prefix on the roles' pattern)
    requirements = next(v for k, v in variables.items() if k.lstrip("_") == "gateway_requirements")
    assert requirements and all("--no-deps" in item["args"] for item in requirements)
