"""`GET /health/readiness/dependencies`: can this process reach what its config depends on, now?

LiteLLM 1.108.7's public `/health/readiness` reports only the database (`"db": "Not connected"`
when none is configured) and its admin-only `/health/readiness/details` names the cache type
without asking Redis. This route PINGs every Redis client LiteLLM built (response cache, usage
and rate-limit counters, the router's cache), so with exactly the TLS settings LiteLLM uses
(`REDIS_*` environment, `cache_params`, `router_settings.redis_*`), and runs the health check of
the database client LiteLLM holds. Each probe is bounded by `PROBE_TIMEOUT_S`.

200 when every configured dependency answers; 503 (naming them under `unavailable`) when one does
not, or when the process is draining. No credentials: it is meant for load balancers and
monitors, so the body names states and error classes only, never hosts or messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

ROUTE = "/health/readiness/dependencies"
PROBE_TIMEOUT_S = 2.0
CONNECTED, UNREACHABLE, NOT_CONFIGURED = "connected", "unreachable", "not configured"

Probe = Callable[[], Awaitable[Any]]
logger = logging.getLogger("gateway.proxy")


async def _probe_all(probes: Sequence[Probe], timeout: float) -> tuple[str, str | None]:
    """(state, error class of the first failure) for one dependency's clients."""
    if not probes:
        return NOT_CONFIGURED, None
    results = await asyncio.gather(*(asyncio.wait_for(p(), timeout) for p in probes), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            return UNREACHABLE, type(result).__name__
        if result is False:  # answered, but not with PONG
            return UNREACHABLE, "PingFailed"
    return CONNECTED, None


async def check(dependencies: Mapping[str, Sequence[Probe]], draining: bool = False,
                timeout: float = PROBE_TIMEOUT_S) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for the probes of each named dependency, run concurrently."""
    names = list(dependencies)
    outcomes = await asyncio.gather(*(_probe_all(dependencies[n], timeout) for n in names))
    body: dict[str, Any] = {name: state for name, (state, _) in zip(names, outcomes, strict=True)}
    errors = {name: error for name, (_, error) in zip(names, outcomes, strict=True) if error}
    down = sorted(errors)
    if errors:
        logger.warning("readiness: %s", ", ".join(f"{n} {UNREACHABLE} ({e})" for n, e in errors.items()))
        body["errors"] = errors
    if draining:
        down.append("shutting down")
    body = {"status": "unavailable" if down else "ready", **body}
    if down:
        body["unavailable"] = down
    return (503 if down else 200), body


def litellm_dependencies() -> dict[str, list[Probe]]:
    """The probes for what LiteLLM was configured with: each distinct Redis client, the database."""
    import litellm
    from litellm.caching.redis_cache import RedisCache
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    candidates = [litellm.cache.cache if litellm.cache is not None else None, proxy_server.redis_usage_cache,
                  router.cache.redis_cache if router is not None else None]
    redis_clients = {id(c): c for c in candidates if isinstance(c, RedisCache)}
    prisma = proxy_server.prisma_client
    return {"redis": [c.ping for c in redis_clients.values()],
            "db": [prisma.health_check] if prisma is not None else []}


def install(app) -> None:
    """Add the route (public, like LiteLLM's own readiness probe)."""
    from fastapi.responses import JSONResponse
    from litellm.proxy.shutdown.graceful_shutdown_manager import GracefulShutdownManager

    async def readiness_dependencies():
        status, body = await check(litellm_dependencies(), draining=GracefulShutdownManager.is_shutting_down())
        return JSONResponse(body, status_code=status)

    # No return annotation: under `from __future__ import annotations` FastAPI would read the
    # string "JSONResponse" as a response model it cannot resolve, and `/openapi.json` fails (500).
    app.add_api_route(ROUTE, readiness_dependencies, methods=["GET"], tags=["health"],
                      response_class=JSONResponse, response_model=None)
