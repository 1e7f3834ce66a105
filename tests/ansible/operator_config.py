"""An operator's own LiteLLM config for site.yml (#18): an `include:` that routes to a "self-hosted"
OpenAI-compatible upstream (the project's fake upstream, `UPSTREAM`), a fallback, and an API key from
Ansible Vault that the config reads as `os.environ/...`; telemetry to the OTLP sink in the collector's
place and capture on (`all`), for the MLOps loop. Used by the site test on its installed node."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.ansible.container import ansible_bin
from tests.ansible.playbook import REPO

MANIFEST = REPO / "examples/appliance/single-node/appliance.yaml"

#: the Vault secret: the upstream's API key, so the fake's request log proves it reached LiteLLM
API_KEY = "sk-operator-upstream-5f3a91"
#: a master key an operator might try to set in their config: the role must refuse it
OWN_MASTER_KEY = "sk-operator-own-key-77"
DEMO = ("demo-small", "demo-coder", "demo-large")
#: the manifest's external service the node may reach (a flow node1 -> llm-upstream): the fake upstream runs
#: there in a namespace of its own (tests/ansible/upstream_ns.py), and also on UNDECLARED_PORT
_EXTERNAL = {s["name"]: s for s in yaml.safe_load(MANIFEST.read_text())["external_services"]}["llm-upstream"]
UPSTREAM_ADDRESS, UPSTREAM_PORT = _EXTERNAL["addresses"][0], _EXTERNAL["port"]
UNDECLARED_PORT = UPSTREAM_PORT + 1
UPSTREAM = f"http://{UPSTREAM_ADDRESS}:{UPSTREAM_PORT}/v1"
#: the fake's behaviour: `flaky` fails (its fallback answers), every other model answers "answer from <model>"
UPSTREAM_CONFIG = {"models": {"flaky": {"fail": "server_error"}}}


def _deployment(group: str, model: str) -> dict:
    return {"model_name": group, "litellm_params": {"model": f"openai/{model}", "api_base": UPSTREAM,
                                                    "api_key": "os.environ/OPERATOR_API_KEY"}}


def included_file() -> dict:
    """self-hosted.yaml: the routed group `auto` (the demo artifact's candidates), one group per candidate
    (what a shadow evaluation asks), a failing group and its fallback."""
    return {
        "model_list": [_deployment("auto", name) for name in DEMO] + [_deployment(name, name) for name in DEMO]
        + [_deployment("flaky", "flaky"), _deployment("backup", "backup")],
        "router_settings": {"fallbacks": [{"flaky": ["backup"]}], "num_retries": 0},
    }


def operator_args(folder: Path, litellm_config: dict | None = None) -> list[str]:
    """ansible-playbook arguments: a Vault file with the secret, the operator's variables, the password."""
    folder.mkdir(parents=True, exist_ok=True)
    password = folder / "vault-password"
    password.write_text("test-vault-password\n")
    vault = folder / "vault.yml"
    if not vault.exists():
        out = subprocess.run([str(ansible_bin("ansible-vault")), "encrypt_string", "--vault-password-file",
                              str(password), API_KEY, "--name", "vault_upstream_api_key"],
                             capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": "/root"})
        vault.write_text(out.stdout)
    config = litellm_config or {"include": ["self-hosted.yaml"],
                                "litellm_settings": {"drop_params": True, "callbacks": ["prometheus"]}}
    variables = {
        "gateway_litellm_config": config,
        "gateway_config_files": [{"dest": "self-hosted.yaml", "content": yaml.safe_dump(included_file())}],
        "gateway_environment": {"OPERATOR_API_KEY": "{{ vault_upstream_api_key }}"},
        # No collector package here: the OTLP sink stands in for it; capture for the MLOps loop.
        "otelcol_enabled": True,
        "otelcol_backend": "sink",
        "gateway_capture": "all",
    }
    name = "operator.yml" if litellm_config is None else "operator-refused.yml"
    (folder / name).write_text(yaml.safe_dump(variables, sort_keys=False))
    return ["-e", f"@{vault}", "-e", f"@{folder / name}", "--vault-password-file", str(password)]
