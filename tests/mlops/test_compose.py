"""examples/mlops/docker-compose.yml, checked without a Docker engine (none runs on the build
machines, so `docker compose up` is not run here): the file against the Compose Specification's
JSON schema (vendored in check-jsonschema, offline), what it mounts and builds from exists, and the
trainer's command is one the loop's CLI accepts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.mlops.__main__ import main as mlops_main

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "examples" / "mlops" / "docker-compose.yml"


def check_schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=120)


def test_the_compose_file_follows_the_compose_specification():
    done = check_schema(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_misspelt_key_is_caught_by_the_same_check(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    command: [\"server\"", "    comand: [\"server\"", 1))
    done = check_schema(broken)
    assert done.returncode == 1 and "'comand' was unexpected" in done.stdout


def test_what_the_compose_file_mounts_and_builds_exists():
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = [v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])
              if v.startswith(".")]
    assert mounts and all((COMPOSE.parent / m).is_file() for m in mounts), mounts
    build = compose["services"]["trainer"]["build"]
    containerfile = (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve()
    context = (COMPOSE.parent / build["context"]).resolve()
    copied = [src for line in containerfile.read_text().splitlines() if line.startswith("COPY ")
              for src in line.split()[1:-1] if not src.startswith("--")]
    for src in copied:
        path = context / re.sub(r"\$\{TARGETARCH\}", "amd64", src)
        assert path.exists(), f"{containerfile.name} copies {src}, which is not in the build context"


def test_the_trainer_command_is_one_the_loop_accepts(tmp_path, monkeypatch, capsys):
    trainer = yaml.safe_load(COMPOSE.read_text())["services"]["trainer"]
    command = trainer["command"]
    assert command[:3] == ["python", "-m", "gateway.mlops"]
    argv = [str(tmp_path / "work") if arg == "/work" else arg for arg in command[3:]]
    argv = [arg.replace("/traces/", f"{tmp_path}/traces/") for arg in argv]
    for name in [k for k in trainer["environment"] if k.startswith("GATEWAY_S3_")]:
        monkeypatch.delenv(name, raising=False)
    try:
        status = mlops_main(argv)  # parses (argparse exits with 2 on an unknown option), then stops:
    except SystemExit as exc:  # pragma: no cover - the failure this test is for
        pytest.fail(f"the loop's CLI refused the compose command: exit {exc.code}, {capsys.readouterr().err}")
    assert status == 1
    assert "--publish-s3 needs GATEWAY_S3_ENDPOINT" in capsys.readouterr().err  # no S3 settings here
