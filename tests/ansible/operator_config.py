"""An operator's own LiteLLM config for site.yml (#18): an `include:` with a fallback, and a secret from
Ansible Vault that the config reads as `os.environ/...`. Used by the site test on its installed node."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.ansible.container import ansible_bin

#: the Vault secret; the config answers with it, so a 200 carrying it proves it reached LiteLLM
GREETING = "operator-greeting-5f3a91"
#: a master key an operator might try to set in their config: the role must refuse it
OWN_MASTER_KEY = "sk-operator-own-key-77"
DEMO = ("demo-small", "demo-coder", "demo-large")


def included_file() -> dict:
    """self-hosted.yaml: the routed group `auto` (the demo artifact's candidates), a failing group and
    its fallback."""
    secret = {"api_key": "not-used", "mock_response": "os.environ/OPERATOR_GREETING"}
    return {
        "model_list": [{"model_name": "auto", "litellm_params": {"model": f"openai/{name}", **secret}}
                       for name in DEMO] + [
            {"model_name": "flaky", "litellm_params": {"model": "openai/flaky", "api_key": "not-used",
                                                       "mock_response": "litellm.InternalServerError"}},
            {"model_name": "backup", "litellm_params": {"model": "openai/backup", "api_key": "not-used",
                                                        "mock_response": "backup here"}}],
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
                              str(password), GREETING, "--name", "vault_operator_greeting"],
                             capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": "/root"})
        vault.write_text(out.stdout)
    config = litellm_config or {"include": ["self-hosted.yaml"],
                                "litellm_settings": {"drop_params": True, "callbacks": ["prometheus"]}}
    variables = {
        "gateway_litellm_config": config,
        "gateway_config_files": [{"dest": "self-hosted.yaml", "content": yaml.safe_dump(included_file())}],
        "gateway_environment": {"OPERATOR_GREETING": "{{ vault_operator_greeting }}"},
    }
    name = "operator.yml" if litellm_config is None else "operator-refused.yml"
    (folder / name).write_text(yaml.safe_dump(variables, sort_keys=False))
    return ["-e", f"@{vault}", "-e", f"@{folder / name}", "--vault-password-file", str(password)]
