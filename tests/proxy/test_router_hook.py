"""The gateway's hook inside LiteLLM's real `Router`, against the fake upstream over HTTP."""

from __future__ import annotations

import litellm
import pytest

from gateway.config.loader import load_config
from gateway.proxy.hooks import GatewayRoutingHook
from gateway.routing.runtime import RoutingRuntime
from tests.helpers import knn_config, write_config

CODE_QUERY = "Write a Python function that reverses a linked list"
CHAT_QUERY = "Say good morning in Italian"
HARD_QUERY = "Prove step by step that there are infinitely many prime numbers"


@pytest.fixture
def routed(tmp_path, upstream, demo_artifact):
    """A real litellm.Router over the fake upstream with the gateway's hook installed."""

    def make(**router_settings):
        data = knn_config(demo_artifact, api_base=upstream.base_url)
        data["model_list"].append({"model_name": "backup", "litellm_params": {
            "model": "openai/backup-model", "api_key": "x", "api_base": upstream.base_url}})
        config = load_config(write_config(tmp_path, data))
        hook = GatewayRoutingHook()
        hook.runtime = RoutingRuntime.from_config(config)
        router = litellm.Router(model_list=config.model_list, **router_settings)
        litellm.callbacks.append(hook)
        return router

    saved = list(litellm.callbacks)
    yield make
    litellm.callbacks[:] = saved


async def ask(router, text, **kwargs):
    return await router.acompletion(model="auto", messages=[{"role": "user", "content": text}], **kwargs)


@pytest.mark.parametrize("query, expected", [(CODE_QUERY, "demo-coder"), (CHAT_QUERY, "demo-small"),
                                             (HARD_QUERY, "demo-large")])
async def test_strategy_picks_the_deployment_that_answers(routed, upstream, query, expected):
    router = routed()
    response = await ask(router, query)
    assert response.choices[0].message.content == f"answer from {expected}"
    assert [r["model"] for r in upstream.requests() if r["path"].endswith("/chat/completions")] == [expected]


async def test_fallback_answers_when_the_chosen_deployment_fails(routed, upstream):
    upstream.set_behaviour("demo-coder", fail="server_error")
    router = routed(fallbacks=[{"auto": ["backup"]}], num_retries=0)
    response = await ask(router, CODE_QUERY)
    assert response.choices[0].message.content == "answer from backup-model"
    asked = [r["model"] for r in upstream.requests() if r["path"].endswith("/chat/completions")]
    assert asked[0] == "demo-coder" and asked[-1] == "backup-model"


async def test_retries_stay_on_the_routed_group(routed, upstream):
    upstream.set_behaviour("demo-coder", fail="server_error", fail_next=1)
    router = routed(num_retries=2, retry_after=0)
    response = await ask(router, CODE_QUERY)
    assert response.choices[0].message.content.startswith("answer from demo-")


async def test_cooled_down_deployment_is_not_offered_to_the_strategy(routed, upstream):
    upstream.set_behaviour("demo-coder", fail="server_error")
    router = routed(num_retries=0, allowed_fails=0, cooldown_time=60)
    with pytest.raises(litellm.exceptions.InternalServerError):
        await ask(router, CODE_QUERY)
    upstream.reset()
    response = await ask(router, CODE_QUERY)
    # demo-coder is cooling down: the strategy chooses among the others
    assert response.choices[0].message.content in {"answer from demo-small", "answer from demo-large"}


async def test_streaming_goes_to_the_chosen_deployment(routed, upstream):
    router = routed()
    stream = await ask(router, HARD_QUERY, stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == "answer from demo-large"
