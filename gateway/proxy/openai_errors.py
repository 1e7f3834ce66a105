"""Client errors in OpenAI's shape where LiteLLM 1.108.7 answers otherwise (issue 17).

OpenAI's body is `{"error": {"message", "type", "param", "code"}}` with `code` a machine-readable
string (`invalid_api_key`); LiteLLM puts the HTTP status in `code`. The SDKs pick their exception
class by status, so the status matters most:

- **A key that is not the master key, with no database**: LiteLLM's key check raises
  `ProxyException(type="no_db_connection", code=400, "No connected db.")` right after comparing
  the key with the master key (`litellm/proxy/auth/user_api_key_auth.py`). Without a database no
  other key can be valid, so the answer is 401 `invalid_api_key`, on every route.
- **Other authentication failures on OpenAI routes** (missing key, expired key, malformed key:
  LiteLLM's `type="auth_error"`, status 401) keep LiteLLM's message and status, in OpenAI's body.
- **A valid key without the admin role on an admin-only route**: LiteLLM raises a plain
  `Exception("Only proxy admin can be used ...")` (`RouteChecks._raise_admin_only_route_exception`)
  that its auth handler turns into a 401. The key was accepted, the action was not: 403.

The handler wraps LiteLLM's own `ProxyException` handler (FastAPI's `add_exception_handler`) and
still calls it, so its side effects (OTel server span closed, call id in the body) stay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse

INVALID_REQUEST = "invalid_request_error"
ADMIN_ONLY_MARKER = "Only proxy admin can be used"
_AUTH_PREFIX = "Authentication Error, "


def error_body(message: str, code: str | None, param: str | None = None, type_: str = INVALID_REQUEST) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(status: int, message: str, code: str | None, param: str | None = None,
                   type_: str = INVALID_REQUEST, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, code, param, type_), status_code=status, headers=headers)


def route_pattern(routes: Iterable[str]) -> re.Pattern[str]:
    """One regex for LiteLLM-style route templates (`/v1/threads/{thread_id}`, `/containers/*`)."""
    alternatives = []
    for route in routes:
        if "?" in route:  # `/realtime?{model}`: websocket routes, no body, no exception handler
            continue
        parts = re.split(r"(\{[^}]*\}|\*)", route)
        alternatives.append("".join("[^/]+" if p.startswith("{") else ".*" if p == "*" else re.escape(p)
                                    for p in parts))
    return re.compile(f"(?:{'|'.join(alternatives)})/?")


def openai_routes(with_anthropic: bool = False) -> re.Pattern[str]:
    """LiteLLM's own list of OpenAI routes (and, on request, its Anthropic ones) as one pattern."""
    from litellm.proxy._types import LiteLLMRoutes

    routes = list(LiteLLMRoutes.openai_routes.value)
    if with_anthropic:
        routes += LiteLLMRoutes.anthropic_routes.value
    return route_pattern(routes)


def route_of(scope: dict[str, Any]) -> str:
    path, root = scope.get("path", ""), scope.get("root_path") or ""
    return path[len(root):] if root and path.startswith(root) else path


def classify(error_type: str, status: str, message: str, on_openai_route: bool) -> tuple[int, str, str] | None:
    """(status, message, OpenAI code) for an auth failure LiteLLM words otherwise; None: leave it."""
    if error_type == "no_db_connection" and status == "400":
        return 401, "Incorrect API key provided.", "invalid_api_key"
    if error_type == "auth_error" and status == "401":
        if ADMIN_ONLY_MARKER in message:
            return 403, message.removeprefix(_AUTH_PREFIX), "insufficient_permissions"
        if on_openai_route:
            return 401, message, "invalid_api_key"
    return None


def _with_code(response, code: str):
    """LiteLLM's JSON error response with OpenAI's string `code` in place of the status."""
    try:
        body = json.loads(bytes(response.body))
        body["error"]["code"] = code
    except (AttributeError, ValueError, KeyError, TypeError):  # not LiteLLM's JSON body: keep it
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(body, status_code=response.status_code, headers=headers)


def install(app) -> None:
    """Put the gateway's handler in front of LiteLLM's for `ProxyException`."""
    from litellm.proxy._types import ProxyException

    litellm_handler = app.exception_handlers[ProxyException]
    openai = openai_routes()

    async def proxy_exception_handler(request, exc: ProxyException):
        error_type = str(getattr(exc.type, "value", exc.type))
        on_openai_route = openai.fullmatch(route_of(request.scope)) is not None
        verdict = classify(error_type, str(exc.code), exc.message, on_openai_route)
        if verdict is None:
            return await litellm_handler(request, exc)
        status, message, code = verdict
        reworded = ProxyException(message=message, type=INVALID_REQUEST, param=None, code=status,
                                  headers=dict(exc.headers))
        return _with_code(await litellm_handler(request, reworded), code)

    app.add_exception_handler(ProxyException, proxy_exception_handler)
