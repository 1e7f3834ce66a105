"""LiteLLM callback that hands the routing decision to the gateway's strategy.

It uses `CustomLogger.async_filter_deployments`, which LiteLLM calls after its own health,
cooldown and blocked-deployment filters: the strategy chooses among deployments LiteLLM still
considers usable, and LiteLLM's retries, fallbacks and cooldowns keep applying to the choice.
"""

from __future__ import annotations

import logging
from typing import Any

from litellm.constants import RETURN_RAW_MODEL_NAME_METADATA_KEY
from litellm.integrations.custom_logger import CustomLogger

from gateway.routing.runtime import RoutingRuntime, routing_name

logger = logging.getLogger("gateway.proxy")

ROUTED_HEADER = "x-gateway-routed-model"
STRATEGY_HEADER = "x-gateway-routing-strategy"
INTERNAL_CALL = "gateway_router_call"


def _metadata(request_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    kwargs = request_kwargs or {}
    return kwargs.get("litellm_metadata") or kwargs.get("metadata") or {}


class GatewayRoutingHook(CustomLogger):
    """Bridges LiteLLM's Router to a `RoutingRuntime`; holds no routing state of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.runtime: RoutingRuntime | None = None
        # model_id -> routing name, for the runtime it was read under: LiteLLM's deployment ids are
        # fixed for one config (a config reload brings a new runtime, and so a new map). Looking a
        # deployment up and dumping it costs ~0.1 ms, twice per request (body and headers).
        self._names: tuple[RoutingRuntime | None, dict[str, str | None]] = (None, {})

    async def async_filter_deployments(self, model, healthy_deployments, messages, request_kwargs=None,
                                       parent_otel_span=None):
        runtime = self.runtime
        if runtime is None or not runtime.governs(model) or len(healthy_deployments) < 2:
            return healthy_deployments
        metadata = _metadata(request_kwargs)
        if metadata.get(INTERNAL_CALL):
            return healthy_deployments
        chosen = await runtime.choose(
            model,
            healthy_deployments,
            messages,
            input=(request_kwargs or {}).get("input"),
            user=metadata.get("user_api_key_user_id") or (request_kwargs or {}).get("user"),
            team=metadata.get("user_api_key_team_id"),
        )
        return [chosen]

    def routed_name(self, model_group: str | None, model_id: str | None) -> str | None:
        """The routing name of the deployment that answered, if the gateway routed this group."""
        runtime = self.runtime
        if runtime is None or not model_group or not model_id or not runtime.governs(model_group):
            return None
        owner, names = self._names
        if owner is not runtime:
            names = {}
            self._names = (runtime, names)
        if model_id not in names:
            names[model_id] = self._lookup_name(model_id)
        return names[model_id]

    @staticmethod
    def _lookup_name(model_id: str) -> str | None:
        from litellm.proxy import proxy_server

        router = proxy_server.llm_router
        deployment = router.get_deployment(model_id=model_id) if router is not None else None
        if deployment is None:
            return None
        return routing_name(deployment.model_dump() if hasattr(deployment, "model_dump") else dict(deployment))

    @staticmethod
    def _model_id(obj: Any) -> str | None:
        hidden = getattr(obj, "_hidden_params", None) or {}
        return hidden.get("model_id")

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        """Ask LiteLLM to keep the answering model's name in the body for routed groups
        (by default it restamps the group name), so the client sees the router's choice."""
        runtime = self.runtime
        if runtime is not None and runtime.governs(str(data.get("model", ""))):
            data.setdefault("metadata", {})[RETURN_RAW_MODEL_NAME_METADATA_KEY] = True
        return data

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        """Set the body's `model` to the deployment the strategy chose (LiteLLM keeps the group)."""
        name = self.routed_name(data.get("model"), self._model_id(response))
        if name is not None and hasattr(response, "model"):
            response.model = name
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        group = request_data.get("model")
        name: str | None = None
        async for chunk in response:
            if name is None:
                name = self.routed_name(group, self._model_id(chunk)) or ""
            if name and hasattr(chunk, "model"):
                chunk.model = name
            yield chunk

    async def async_post_call_response_headers_hook(self, data, user_api_key_dict, response,
                                                    request_headers=None, litellm_call_info=None):
        runtime = self.runtime
        model_id = (litellm_call_info or {}).get("model_id") or self._model_id(response)
        name = self.routed_name(data.get("model"), model_id)
        if runtime is None or name is None:
            return None
        return {ROUTED_HEADER: name, STRATEGY_HEADER: runtime.name}


#: the instance LiteLLM loads from `litellm_settings.callbacks`
routing_hook = GatewayRoutingHook()
HOOK_PATH = f"{__name__}.routing_hook"
