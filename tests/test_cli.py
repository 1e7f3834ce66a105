"""The one `gateway` command line: --version, one exit-code convention, the old module names as aliases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from gateway.cli import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, main
from tests.helpers import knn_config, write_config

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == EXIT_OK
    assert capsys.readouterr().out.strip() == f"gateway {version('gateway')}"


def test_usage_errors_exit_2(capsys):
    for argv in (["serve"], ["check", "--config", "x", "--bogus"], ["--log-level", "LOUD", "check"], ["mlops"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == EXIT_ERROR, argv
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_check_validates_config_environment_and_artifact(tmp_path, demo_artifact, capsys, monkeypatch):
    config = write_config(tmp_path, knn_config(demo_artifact))
    assert main(["check", "--config", str(config)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "active strategy: llmrouter-knn" in out and "listening on http://127.0.0.1:4000" in out
    monkeypatch.setenv("CONFIG_RELOAD_INTERVAL", "soon")
    assert main(["check", "--config", str(config)]) == EXIT_ERROR
    assert "environment: CONFIG_RELOAD_INTERVAL: 'soon'" in capsys.readouterr().err


def test_building_the_parser_imports_neither_numpy_nor_litellm():
    """Offline defaults are applied after parsing; some are read when numpy or LiteLLM is imported."""
    done = run("-c", "import sys; from gateway.cli import build_parser; build_parser(); "
                     "print(sorted({'numpy', 'litellm'} & set(sys.modules)))")
    assert done.stdout.strip() == "[]", done.stderr


def test_the_old_module_names_are_the_same_commands():
    for module, expected in (("gateway.mlops", "usage: gateway mlops"),
                             ("gateway.mlops.otlp_sink", "usage: gateway mlops otlp-sink")):
        done = run("-m", module, "--help")
        assert done.returncode == EXIT_OK and done.stdout.startswith(expected), done.stdout + done.stderr


def test_otlp_sink_on_a_taken_port_is_an_error_not_a_traceback(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["mlops", "otlp-sink", "--port", str(port), "--out", str(tmp_path / "spans.jsonl")])
    assert code == EXIT_ERROR
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_mlops_train_passes_every_option_to_the_trainer_in_the_training_environment(tmp_path):
    trainer = tmp_path / "python"
    trainer.write_text("#!/bin/sh\necho \"$@\"\nexit 3\n")
    trainer.chmod(0o755)
    done = run("-m", "gateway", "mlops", "train", "--data", "d", "--version", "v1", "--help",
               env={"GATEWAY_TRAINING_PYTHON": str(trainer)})
    assert done.stdout.strip() == "-m gateway.mlops.train --data d --version v1 --help"
    assert done.returncode == 3  # the trainer's own code: 2 for its usage errors, 1 when training fails


def test_mlops_train_without_a_training_environment_is_refused(tmp_path):
    done = run("-m", "gateway", "mlops", "train", "--data", "d", "--out", "o",
               env={"GATEWAY_TRAINING_PYTHON": str(tmp_path / "none")})
    assert done.returncode == EXIT_REFUSED
    assert "training environment missing" in done.stderr and "make training-env" in done.stderr
