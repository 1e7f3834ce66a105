"""Every registered strategy routes real requests through LiteLLM's real `Router`.

Deployments and the router model live on the fake upstream (real OpenAI wire protocol over HTTP);
the gateway's hook is installed as a LiteLLM callback, exactly as `gateway serve` does.
"""

from __future__ import annotations

import json
import tarfile
from typing import Any

import litellm
import pytest

from gateway.config.loader import parse_config
from gateway.proxy.hooks import INTERNAL_CALL, GatewayRoutingHook
from gateway.routing import artifact as fmt
from gateway.routing.registry import STRATEGIES
from gateway.routing.runtime import RoutingRuntime
from tests.helpers import DEMO_DIR, DEMO_MODELS

CODE = "Write a Python function to merge two sorted lists."
GENERAL = "Hi! What's the capital city of Canada?"
VERIFIED = "Verification Decision: The AI generated answer is Correct."

# strategy -> (query, routing args, router model behaviour, user, expected deployment)
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None, str | None, str]] = {
    "llmrouter-knn": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-svm": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-mlp": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-mf": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-graph": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-routerdc": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-personalized": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-hybrid": (GENERAL, {}, None, None, "demo-small"),
    "llmrouter-elo": (GENERAL, {}, None, None, "demo-large"),
    "llmrouter-gmt": (GENERAL, {}, None, "u1", "demo-coder"),
    "llmrouter-cost-aware": (CODE, {"cost_weight": 0.0}, None, None, "demo-coder"),
    "llmrouter-quality": (CODE, {"max_cost_ratio": 1.0}, None, None, "demo-coder"),
    "llmrouter-quality-logistic": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-quality-mlp": (CODE, {}, None, None, "demo-coder"),
    "llmrouter-smallest": (CODE, {}, None, None, "demo-small"),
    "llmrouter-largest": (GENERAL, {}, None, None, "demo-large"),
    "llmrouter-causallm": (GENERAL, {"router_model": "router"}, {"answer": "demo-coder"}, None, "demo-coder"),
    "llmrouter-automix": (GENERAL, {"router_model": "router"},
                          {"rules": [{"contains": "AI Generated Answer:", "answer": VERIFIED}], "answer": "Ottawa"},
                          None, "demo-small"),
    "llmrouter-knn-multiround": (CODE, {"router_model": "router"},
                                 {"answer": "1. Write a Python function that merges lists\n"
                                            "2. Write a Python unit test for it"}, None, "demo-coder"),
    "llmrouter-llm-multiround": (GENERAL, {"router_model": "router"},
                                 {"answer": "Find the city: demo-large\nCheck the answer: demo-large"},
                                 None, "demo-large"),
    "llmrouter-router-r1": (GENERAL, {"router_model": "router"},
                            {"answer": "<think>simple</think>\n<search> demo-coder: capital of Canada </search>"},
                            None, "demo-coder"),
}


def test_every_registered_strategy_has_a_case():
    assert set(CASES) == set(STRATEGIES)


@pytest.fixture(scope="module")
def artifact_paths(artifacts, tmp_path_factory):
    """The factory's artifacts, plus a knn-multiround one (the demo KNN under that strategy name)."""
    paths = dict(artifacts)
    with tarfile.open(artifacts["llmrouter-knn"]) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(files[fmt.MANIFEST])
    manifest["strategy"] = "llmrouter-knn-multiround"
    files[fmt.MANIFEST] = json.dumps(manifest).encode()
    paths["llmrouter-knn-multiround"] = fmt.write_tar(files, tmp_path_factory.mktemp("mr") / "knn-mr.tar")
    return paths


@pytest.mark.parametrize("name", sorted(CASES))
async def test_strategy_routes_a_real_request_through_litellm_router(name, artifact_paths, upstream, tmp_path):
    query, args, router_behaviour, user, expected = CASES[name]
    if router_behaviour is not None:
        upstream.set_behaviour("router-llm", **router_behaviour)
    model_list = [{"model_name": "auto", "litellm_params": {
        "model": f"openai/{m}", "api_key": "x", "api_base": upstream.base_url}} for m in DEMO_MODELS]
    model_list.append({"model_name": "router", "litellm_params": {
        "model": "openai/router-llm", "api_key": "x", "api_base": upstream.base_url}})
    routing_args: dict[str, Any] = {"llm_data_path": str(DEMO_DIR / "llm_data.json"), **args}
    if name in artifact_paths:
        routing_args["model_path"] = str(artifact_paths[name])
    config = parse_config({"model_list": model_list, "router_settings": {
        "routing_strategy": name, "routing_strategy_args": routing_args, "model_groups": ["auto"]}},
        tmp_path / "config.yaml")
    router = litellm.Router(model_list=config.model_list)

    async def router_llm_call(group: str, messages: list[dict[str, Any]]) -> str:
        response = await router.acompletion(model=group, messages=messages, metadata={INTERNAL_CALL: True})
        return response.choices[0].message.content or ""

    hook = GatewayRoutingHook()
    hook.runtime = RoutingRuntime.from_config(config)
    hook.runtime.llm_call = router_llm_call
    saved = list(litellm.callbacks)
    litellm.callbacks.append(hook)
    try:
        extra = {"user": user} if user else {}
        response = await router.acompletion(model="auto", messages=[{"role": "user", "content": query}], **extra)
    finally:
        litellm.callbacks[:] = saved
    assert response.choices[0].message.content == f"answer from {expected}"
    answered = [r["model"] for r in upstream.requests()
                if r["path"].endswith("/chat/completions") and r["model"] != "router-llm"]
    assert answered[-1] == expected, answered
