"""What the gateway adds to LiteLLM's running proxy: the router-model caller, the reload
watchers' lifetime, `/hot-reload/status`, `/health/readiness/dependencies`, a Redis-only response
cache, the request body guard and OpenAI-shaped auth errors, and applying a new config to
LiteLLM's Router."""

from __future__ import annotations

import contextlib
from typing import Any

from gateway.config.loader import GatewayConfig
from gateway.proxy.hooks import INTERNAL_CALL, routing_hook
from gateway.reload.manager import ReloadManager
from gateway.routing.runtime import RoutingRuntime

STATUS_ROUTE = "/hot-reload/status"


async def router_llm_call(model_group: str, messages: list[dict[str, Any]]) -> str:
    """Ask a deployment of the same config (the strategy's router model) and return its text."""
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    if router is None:
        raise RuntimeError("LiteLLM's router is not initialised yet")
    response = await router.acompletion(model=model_group, messages=messages, metadata={INTERNAL_CALL: True})
    return response.choices[0].message.content or ""


def publish_runtime(runtime: RoutingRuntime | None) -> None:
    if runtime is not None and runtime.llm_call is None:
        runtime.llm_call = router_llm_call
    routing_hook.runtime = runtime


# Router settings LiteLLM can change at run time through `Router.update_settings`.
def apply_to_litellm(config: GatewayConfig) -> None:
    """Give LiteLLM's live Router the new model list and router settings (public Router methods).

    Runs synchronously on the event loop, so no request observes a half-applied list.
    """
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    if router is None:
        raise RuntimeError("LiteLLM's router is not initialised yet")
    settings = dict(config.litellm.get("router_settings") or {})
    router.set_model_list(list(config.litellm.get("model_list") or []))
    router.update_settings(**settings)
    # /v1/models and /model/info read the proxy's copy of the list
    proxy_server.llm_model_list = router.get_model_list()


def install(app, manager: ReloadManager) -> None:
    """Add the status route and tie the watchers to the app's lifespan (after LiteLLM's start-up)."""
    from fastapi import Depends, HTTPException
    from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    async def hot_reload_status(user: UserAPIKeyAuth = Depends(user_api_key_auth)) -> dict:  # noqa: B008
        if user.user_role != LitellmUserRoles.PROXY_ADMIN:
            raise HTTPException(status_code=403, detail="hot-reload status is for proxy admins")
        return manager.status.as_dict()

    app.add_api_route(STATUS_ROUTE, hot_reload_status, methods=["GET"], tags=["gateway"])

    from gateway.proxy import feedback, openai_errors, readiness, request_guard, response_cache
    from gateway.telemetry import certificates
    from gateway.telemetry.attempts import AttemptsMiddleware

    feedback.install(app)  # POST /gateway/feedback: quality labels keyed by response id
    readiness.install(app)  # GET /health/readiness/dependencies: Redis PING and the database
    response_cache.use_redis_only()  # TTL and /cache/delete hold across processes (see the module)
    openai_errors.install(app)  # 401/403 for bad keys, in OpenAI's error body

    app.add_middleware(AttemptsMiddleware)  # counts retries and fallbacks from LiteLLM's headers
    certificates.install()  # gateway_certificate_expiry_days on /metrics, read from the installed PKI
    # added last, so outermost: a body is sized and shaped before anything else reads it
    request_guard.install(app, lambda: manager.config.max_request_size_bytes)

    litellm_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(asgi_app):
        async with litellm_lifespan(asgi_app) as state:
            await manager.start()
            try:
                yield state
            finally:
                await manager.stop()

    app.router.lifespan_context = lifespan
