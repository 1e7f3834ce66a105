"""The gateway role's config staging under `--check`, run by ansible-playbook on this machine (no node):
a check run merges THIS run's operator config, not the files the last real run left in staged/, so it
reports the change a real run would make, and it writes nothing where the gateway reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.container import ansible_bin
from tests.ansible.playbook import REPO

pytestmark = [pytest.mark.ansible]
ROLE = REPO / "ansible/roles/gateway"
PUT_IN_PLACE = "Put the checked config and its files in place"


def operator_config(answer: str) -> dict:
    return {"model_list": [{"model_name": "auto", "litellm_params": {
        "model": f"openai/{name}", "api_key": "not-used", "mock_response": f"{name}: {answer}"}}
        for name in ("demo-small", "demo-coder", "demo-large")]}


def run(tmp_path: Path, answer: str, *, check: bool) -> dict[str, bool]:
    """The role's litellm_config.yml with an operator config answering `answer`; task name -> changed."""
    variables = {
        "appliance": {"site": "t", "services": {}}, "appliance_my_services": {}, "otelcol_enabled": False,
        "gateway_user": "root", "gateway_venv": str(REPO / ".venv"),
        "gateway_config_dir": str(tmp_path / "etc"), "gateway_state_dir": str(tmp_path / "state"),
        "gateway_litellm_config": operator_config(answer),
        "gateway_config_files": [{"dest": "extra.yaml", "content": f"# {answer}\n"}],
        # the real `gateway check`, as root and without systemd-run (PID 1 here is not systemd)
        "__gateway_check_cli": {"venv": str(REPO / ".venv/bin/gateway")},
    }
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars_files": [str(ROLE / "defaults/main.yml"), str(ROLE / "vars/main.yml"), str(tmp_path / "vars.yml")],
             "tasks": [{"ansible.builtin.include_tasks": str(ROLE / "tasks/litellm_config.yml")}],
             "handlers": [{"name": "Restart the gateway", "ansible.builtin.debug": {"msg": "restart"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    if not (tmp_path / "templates").exists():  # the play's own folder is on the template search path
        (tmp_path / "templates").symlink_to(ROLE / "templates")
    env = {"PATH": f"{ansible_bin('ansible-playbook').parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "json",
           "LITELLM_MASTER_KEY": "sk-test", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    args = [str(ansible_bin("ansible-playbook")), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=/usr/bin/python3", str(tmp_path / "play.yml")]
    out = subprocess.run(args + (["--check"] if check else []), capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    result = json.loads(out.stdout)
    return {task["task"]["name"]: task["hosts"]["localhost"].get("changed", False)
            for play in result["plays"] for task in play["tasks"] if "localhost" in task["hosts"]}


@pytest.fixture
def installed(tmp_path, demo_artifact) -> Path:
    """A node after a real run with the operator's first config."""
    (tmp_path / "state/artifacts").mkdir(parents=True)
    shutil.copy(demo_artifact, tmp_path / "state/artifacts/seed.tar")
    (tmp_path / "etc").mkdir()
    shutil.copy(REPO / "examples/demo/llm_data.json", tmp_path / "etc/llm_data.json")
    changed = run(tmp_path, "first answer", check=False)
    assert changed[PUT_IN_PLACE]
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_check_run_reports_the_operators_new_config_and_writes_nothing(installed):
    before = snapshot(installed / "etc")
    changed = run(installed, "second answer", check=True)
    assert changed[PUT_IN_PLACE], "--check merged the last run's staged files, not this run's config"
    assert snapshot(installed / "etc") == before
    assert not (installed / "etc/staged-check").exists()


def test_a_check_run_with_the_installed_config_changes_nothing(installed):
    changed = run(installed, "first answer", check=True)
    assert not any(changed.values()), [name for name, value in changed.items() if value]
    # and the real run after a check of another config still installs that other config
    run(installed, "second answer", check=True)
    assert run(installed, "second answer", check=False)[PUT_IN_PLACE]
    assert "second answer" in (installed / "etc/config.yaml").read_text()
