"""`make help` lists every target with its variables' values, and the include order does not matter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(*args: str, makefile: Path | None = None, check: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    command = ["make", "--no-print-directory", "-C", str(ROOT), *(["-f", str(makefile)] if makefile else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 or not check, done.stderr
    return done.stdout + done.stderr


def phony_targets() -> set[str]:
    database = make("-pq", "help", check=False)  # -q: exits 1 as help is never up to date
    return {name for line in database.splitlines() if line.startswith(".PHONY:") for name in line.split()[1:]}


def test_help_lists_every_target_with_expanded_variables():
    listed = {line.split()[0] for line in make("-s", "help").splitlines() if line.strip()}
    assert phony_targets() - listed == set()
    assert {"test-images-amd64", "bundle-apt-repo", "run", "test"} <= listed
    assert "$(" not in make("-s", "help")


def test_the_include_order_does_not_matter(tmp_path):
    text = (ROOT / "Makefile").read_text()
    includes = re.findall(r"(?m)^include .*$", text)
    assert len(includes) > 1
    reversed_text = tmp_path / "Makefile"
    reversed_text.write_text(re.sub(r"(?m)^include .*\n", "", text) + "\n".join(reversed(includes)) + "\n")
    for target in ("bundle", "test", "test-ansible", "images", "mlops-loop", "apt-repo", "ansible-env"):
        normal = make("-n", "--warn-undefined-variables", target, "TRACES=t", "PUBLISH=p")
        assert "undefined variable" not in normal, normal
        assert make("-n", "--warn-undefined-variables", target, "TRACES=t", "PUBLISH=p",
                    makefile=reversed_text) == normal, target
    assert sorted(make("-s", "help").splitlines()) == sorted(make("-s", "help", makefile=reversed_text).splitlines())
