"""`gateway serve` over HTTP: the running proxy routes with llmrouter-knn and says what it chose."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import knn_config, write_config
from tests.integration.gateway_process import GatewayProcess

AUTH = {"Authorization": "Bearer sk-test"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake_upstream, demo_artifact):
    directory = tmp_path_factory.mktemp("serve")
    data = knn_config(demo_artifact, api_base=fake_upstream.base_url)
    data["model_list"].append({"model_name": "backup", "litellm_params": {
        "model": "openai/backup-model", "api_key": "x", "api_base": fake_upstream.base_url}})
    data["router_settings"]["fallbacks"] = [{"auto": ["backup"]}]
    data["router_settings"]["num_retries"] = 0
    config = write_config(directory, data)
    process = GatewayProcess(config, directory / "gateway.log")
    process.wait_ready()
    yield process
    process.stop()


def chat(gateway, text, **extra):
    body = {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def test_start_up_log_names_strategies_artifact_and_config(gateway):
    log = gateway.log()
    assert "registered strategies: llmrouter-automix" in log and "llmrouter-svm" in log
    assert "active strategy: llmrouter-knn artifact:" in log and "knn-artifact.tar" in log
    assert "routes model group 'auto' -> demo-small, demo-coder, demo-large" in log
    assert "config file:" in log


def test_routed_completion_names_the_chosen_model(gateway, upstream):
    response = chat(gateway, "Write a bash script that counts lines in every file")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "demo-coder"
    assert response.headers["x-gateway-routed-model"] == "demo-coder"
    assert response.headers["x-gateway-routing-strategy"] == "llmrouter-knn"
    assert body["choices"][0]["message"]["content"] == "answer from demo-coder"


def test_streamed_completion_names_the_chosen_model(gateway, upstream):
    body = {"model": "auto", "stream": True,
            "messages": [{"role": "user", "content": "Explain step by step why the harmonic series diverges"}]}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["x-gateway-routed-model"] == "demo-large"
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["model"] for c in chunks} == {"demo-large"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == \
        "answer from demo-large"


def test_fallback_over_http_when_the_chosen_deployment_fails(gateway, upstream):
    upstream.set_behaviour("demo-coder", fail="server_error")
    response = chat(gateway, "Write a Python function that parses a CSV file")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "answer from backup-model"


def test_decision_log_line_has_no_prompt_text(gateway, upstream):
    secret = "Write a Go program for the zebra-quartz-7731 project"
    assert chat(gateway, secret).status_code == 200
    decisions = [line for line in gateway.log().splitlines() if "routing decision" in line]
    assert decisions, "no routing decision was logged"
    assert all("zebra-quartz-7731" not in line for line in gateway.log().splitlines())
    record = json.loads(decisions[-1].split("routing decision ", 1)[1])
    assert record["strategy"] == "llmrouter-knn" and record["chosen"] in record["candidates"]
    assert record["decision_ms"] > 0


def test_requests_without_a_key_are_refused(gateway):
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "auto", "messages": []}, timeout=10)
    assert response.status_code == 401
