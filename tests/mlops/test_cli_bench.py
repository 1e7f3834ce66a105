"""`gateway mlops bench`: the checkout's benchmark, run in the training environment with every option passed on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.cli import EXIT_REFUSED

ROOT = Path(__file__).resolve().parents[2]


def gateway(*args: str, trainer: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, GATEWAY_TRAINING_PYTHON=str(trainer)))


def test_bench_runs_the_chosen_suite_with_every_option(tmp_path):
    trainer = tmp_path / "python"
    trainer.write_text("#!/bin/sh\necho \"$PWD $@\"\nexit 3\n")
    trainer.chmod(0o755)
    done = gateway("mlops", "bench", "--cost-weights", "0,0.3", "--help", trainer=trainer)
    assert done.stdout.strip() == f"{ROOT} -m bench.mlops_llmrouter --cost-weights 0,0.3 --help"
    assert done.returncode == 3  # the benchmark's own status
    done = gateway("mlops", "bench", "--suite", "routellm", "--folds", "2", trainer=trainer)
    assert done.stdout.strip() == f"{ROOT} -m bench.mlops_routellm --folds 2"


def test_bench_without_a_training_environment_is_refused(tmp_path):
    done = gateway("mlops", "bench", trainer=tmp_path / "none")
    assert done.returncode == EXIT_REFUSED and "make training-env" in done.stderr
