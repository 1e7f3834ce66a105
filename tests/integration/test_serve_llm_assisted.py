"""An LLM-assisted strategy through the running proxy: the router model is a deployment of the same config."""

from __future__ import annotations

import httpx

from tests.helpers import DEMO_DIR, deployments, write_config
from tests.integration.gateway_process import GatewayProcess


def test_causallm_asks_the_router_deployment_and_routes_over_http(tmp_path, upstream):
    upstream.set_behaviour("router-llm", rules=[{"contains": "accelerated expansion", "answer": "demo-large"}],
                           answer="demo-small")
    data = {
        "model_list": deployments("auto", ("demo-small", "demo-coder", "demo-large"), upstream.base_url)
        + deployments("router", ("router-llm",), upstream.base_url),
        "router_settings": {
            "routing_strategy": "llmrouter-causallm",
            "routing_strategy_args": {"router_model": "router", "model_groups": ["auto"],
                                      "llm_data_path": str(DEMO_DIR / "llm_data.json"), "default_model": "demo-coder"},
        },
        "general_settings": {"master_key": "sk-test"},
    }
    gateway = GatewayProcess(write_config(tmp_path, data), tmp_path / "gateway.log")
    try:
        gateway.wait_ready()
        auth = {"Authorization": "Bearer sk-test"}
        for text, expected in [("Why is the universe in accelerated expansion?", "demo-large"),
                               ("Say hi", "demo-small")]:
            body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
            r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=auth, timeout=30)
            assert r.status_code == 200, r.text
            assert r.headers["x-gateway-routed-model"] == expected
            assert r.json()["model"] == expected
        models = [req["model"] for req in upstream.requests() if req["path"].endswith("/chat/completions")]
        assert models == ["router-llm", "demo-large", "router-llm", "demo-small"]
        # the router model's own calls are not routed (no recursion) and the router group is left alone
        assert "active strategy: llmrouter-causallm" in gateway.log()
    finally:
        gateway.stop()
