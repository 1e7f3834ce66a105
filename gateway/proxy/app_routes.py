"""What the gateway adds to LiteLLM's running proxy: the router-model caller and extra routes."""

from __future__ import annotations

from typing import Any

from gateway.proxy.hooks import INTERNAL_CALL
from gateway.routing.runtime import RoutingRuntime


async def router_llm_call(model_group: str, messages: list[dict[str, Any]]) -> str:
    """Ask a deployment of the same config (the strategy's router model) and return its text."""
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    if router is None:
        raise RuntimeError("LiteLLM's router is not initialised yet")
    response = await router.acompletion(model=model_group, messages=messages,
                                        metadata={INTERNAL_CALL: True})
    return response.choices[0].message.content or ""


def install(runtime: RoutingRuntime | None) -> None:
    """Nothing beyond the hook yet; hot reload adds its status route here."""
    return None
