"""The trainer role's training component (tasks/training.yml), run by ansible-playbook on this machine
against a scratch trainer home: with the bundle's real training wheelhouse it installs a venv with torch
and llmrouter-lib (hash-checked, pip check, idempotent) and trains with it; without it the native routers
stay trainable, the role says which are not, and a library router is refused naming the component.

Not on the booted node: the venv install (~0.7 GB of wheels) would add minutes to the site test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from gateway.mlops.dataset import ScoreWeights, write_training_dir
from gateway.mlops.public_data import llmrouter_split
from gateway.routing.registry import native_trainable
from tests.ansible.container import ansible_bin
from tests.ansible.playbook import REPO

ROLE = REPO / "ansible/roles/trainer"
WHEELHOUSE = REPO / "wheelhouse/dist/training-linux-amd64"


def test_the_roles_native_routers_are_the_ones_the_gateway_trains_in_numpy():
    names = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__trainer_native_strategies"]
    assert sorted(names) == sorted(native_trainable())


def run(tmp_path, bundle_dir, **overrides) -> tuple[subprocess.CompletedProcess, dict]:
    """tasks/training.yml in the role's context; (the run, the facts it ends with)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (tmp_path / "stage").mkdir(exist_ok=True)
    files = tmp_path / "files"  # where ansible.builtin.script finds ansible/files/locked-venv.py
    if not files.exists():
        files.symlink_to(REPO / "ansible/files")
    variables = {"appliance_bundle_dir": str(bundle_dir), "appliance_arch": "amd64",
                 "appliance_stage_dir": str(tmp_path / "stage"), "trainer_home": str(home), **overrides}
    out = tmp_path / "facts.json"
    play = [{"hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": [
        {"ansible.builtin.include_role": {"name": "trainer", "tasks_from": "training", "public": True}},
        {"ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": "{{ {'python': trainer_training_python,"
                                  " 'component': __trainer_training_component} | to_json }}"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    bin_dir = ansible_bin("ansible-playbook").parent
    done = subprocess.run([str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=/usr/bin/python3", str(tmp_path / "play.yml")],
                          capture_output=True, text=True, timeout=900,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
                               "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1",
                               "ANSIBLE_ROLES_PATH": str(REPO / "ansible/roles")})
    facts = json.loads(out.read_text()) if done.returncode == 0 else {}
    return done, facts


def _changed(stdout: str) -> int:
    return int(re.search(r"changed=(\d+)", stdout.rsplit("PLAY RECAP", 1)[1]).group(1))


@pytest.mark.ansible
def test_without_the_component_the_native_routers_train_and_the_library_ones_are_refused(tmp_path):
    bundle = tmp_path / "bundle"  # an unpacked bundle without training-wheelhouse/
    bundle.mkdir()
    done, facts = run(tmp_path, bundle)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "this trainer trains quality, quality-logistic, quality-mlp only, not llmrouter-lib's routers" \
        in done.stdout
    assert facts == {"python": f"{tmp_path}/home/venv/bin/python", "component": False}
    refused, _ = run(tmp_path, bundle, trainer_strategy="knn")
    assert refused.returncode != 0
    assert "trainer_strategy knn is one of llmrouter-lib's routers" in refused.stdout
    assert f"the bundle has no training component ({bundle}/training-wheelhouse/linux-amd64 is missing)" \
        in refused.stdout.replace("\n", " ")
    assert "`make bundle BUNDLE_ARGS=--training`" in refused.stdout


@pytest.mark.ansible
def test_with_the_component_a_locked_training_venv_trains_a_library_router(tmp_path):
    if not (WHEELHOUSE / "SHA256SUMS").is_file():
        made = subprocess.run(["make", "-C", str(REPO), "--no-print-directory", "wheelhouse-training",
                               "ARCHES=amd64"], capture_output=True, text=True)
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    bundle = tmp_path / "bundle"
    (bundle / "training-wheelhouse").mkdir(parents=True)
    (bundle / "training-wheelhouse/linux-amd64").symlink_to(WHEELHOUSE)
    done, facts = run(tmp_path, bundle, trainer_strategy="knn")
    assert done.returncode == 0, done.stdout[-3000:]
    venv = tmp_path / "home/training-venv"
    assert facts == {"python": f"{venv}/bin/python", "component": True}
    versions = subprocess.run([str(venv / "bin/python"), "-c", "import torch, llmrouter, importlib.metadata as m; "
                               "print(torch.__version__, m.version('llmrouter-lib'), m.version('gateway'))"],
                              capture_output=True, text=True)
    assert versions.returncode == 0, versions.stderr[-2000:]
    assert versions.stdout.split()[:2] == ["2.13.0+cpu", "0.4.0"]
    # The venv alone trains llmrouter-lib's knn offline: no repository on the path, Hugging Face offline.
    train, llm = llmrouter_split("train")
    data = write_training_dir(train.subset(range(0, len(train), 40)), ScoreWeights(cost=0.2), tmp_path / "data", llm)
    trained = subprocess.run([str(venv / "bin/python"), "-m", "gateway.mlops.train", "--data", str(data), "--out",
                              str(tmp_path / "out"), "--strategies", "knn"], cwd="/", capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                  "GATEWAY_MLOPS_CACHE": str(tmp_path / "cache")})
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (tmp_path / "out/knn.tar").is_file()
    again, _ = run(tmp_path, bundle, trainer_strategy="knn")
    assert again.returncode == 0 and _changed(again.stdout) == 0, again.stdout[-3000:]
    # A bundle without the component (a rollback) leaves no torch behind.
    (bundle / "training-wheelhouse/linux-amd64").unlink()
    back, facts = run(tmp_path, bundle)
    assert back.returncode == 0, back.stdout[-3000:]
    assert not venv.exists() and facts["component"] is False
