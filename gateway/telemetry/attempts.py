"""Retries and fallbacks per model group on `/metrics`, read from LiteLLM's response headers.

LiteLLM's Prometheus callback counts fallbacks (`litellm_deployment_successful_fallbacks`) but no
retries: a request retried twice counts as one deployment failure or success. LiteLLM does state
both on the response (`x-litellm-attempted-retries`, `x-litellm-attempted-fallbacks`,
`x-litellm-model-group`), so a plain ASGI middleware counts them without touching LiteLLM.
Install with `app.add_middleware(AttemptsMiddleware)` before the app serves.
"""

from __future__ import annotations

from prometheus_client import Counter

RETRIES = Counter("gateway_retries_total", "Retries LiteLLM made for requests that got an answer, by model group",
                  ["model_group"])
FALLBACKS = Counter("gateway_fallbacks_total",
                    "Requests answered by a fallback model group, by the group that answered", ["model_group"])
RETRIES_HEADER = b"x-litellm-attempted-retries"
FALLBACKS_HEADER = b"x-litellm-attempted-fallbacks"
GROUP_HEADER = b"x-litellm-model-group"


def _count(value: bytes | None) -> int:
    try:
        return max(int(value or b"0"), 0)
    except ValueError:
        return 0


def observe_response_headers(headers: list[tuple[bytes, bytes]]) -> None:
    found = {k.lower(): v for k, v in headers if k.lower() in (RETRIES_HEADER, FALLBACKS_HEADER, GROUP_HEADER)}
    group = found.get(GROUP_HEADER, b"").decode(errors="replace") or "unknown"
    if retries := _count(found.get(RETRIES_HEADER)):
        RETRIES.labels(group).inc(retries)
    if fallbacks := _count(found.get(FALLBACKS_HEADER)):
        FALLBACKS.labels(group).inc(fallbacks)


class AttemptsMiddleware:
    """Pure ASGI: looks at the response start message only; bodies and streams pass untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def observing_send(message):
            if message["type"] == "http.response.start":
                observe_response_headers(list(message.get("headers") or []))
            await send(message)

        await self.app(scope, receive, observing_send)
