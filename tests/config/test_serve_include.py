"""A real `gateway serve` runs an operator's config that uses `include:` (relative, nested), a fallback
declared in the included file, and a callback module that sits next to the config file."""

from __future__ import annotations

import httpx
import pytest

from tests.config.test_includes import write
from tests.helpers import wait_until
from tests.integration.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer sk-operator"}
HOOK = '''
import os
from litellm.integrations.custom_logger import CustomLogger


class Record(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["OPERATOR_HOOK_OUT"], "a") as out:
            out.write(response_obj.model + "\\n")


handler = Record()
'''


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake_upstream):
    site = tmp_path_factory.mktemp("operator-site")
    upstream = {"api_key": "not-used", "api_base": fake_upstream.base_url}
    write(site / "models" / "self-hosted.yaml", {
        "model_list": [
            {"model_name": "primary", "litellm_params": {"model": "openai/primary-model", **upstream}},
            {"model_name": "backup", "litellm_params": {"model": "openai/backup-model", **upstream}},
        ],
        "include": ["router.yaml"],
    })
    write(site / "models" / "router.yaml", {"router_settings": {"fallbacks": [{"primary": ["backup"]}],
                                                                "num_retries": 0}})
    (site / "operator_hooks.py").write_text(HOOK)
    config = write(site / "config.yaml", {
        "include": ["models/self-hosted.yaml"],
        "litellm_settings": {"callbacks": ["operator_hooks.handler"]},
        "general_settings": {"master_key": "sk-operator"},
    })
    process = GatewayProcess(config, site / "gateway.log", env={"OPERATOR_HOOK_OUT": str(site / "hook.out")})
    process.wait_ready()
    yield process, site
    process.stop()


def chat(url, model):
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def test_models_from_the_included_file_are_served(gateway, upstream):
    process, _ = gateway
    response = chat(process.url, "primary")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "answer from primary-model"
    assert "config includes:" in process.log() and "self-hosted.yaml" in process.log()


def test_the_fallback_from_the_nested_include_applies(gateway, upstream):
    process, _ = gateway
    upstream.set_behaviour("primary-model", fail="server_error")
    response = chat(process.url, "primary")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "answer from backup-model"


def test_a_callback_module_next_to_the_config_runs(gateway, upstream):
    process, site = gateway
    assert chat(process.url, "backup").status_code == 200
    assert wait_until(lambda: (site / "hook.out").exists() and "backup-model" in (site / "hook.out").read_text(),
                      timeout=30), process.log()[-2000:]
