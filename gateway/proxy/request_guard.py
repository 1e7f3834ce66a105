"""Refuse request bodies LiteLLM would mishandle, before LiteLLM reads them (issue 17).

- **Size**: a body larger than `general_settings.max_request_size_mb` (default
  `gateway.config.loader.DEFAULT_MAX_REQUEST_SIZE_MB`) gets a 413. LiteLLM 1.108.7 enforces that
  key only for licensed users. A declared `Content-Length` is refused without reading a byte; a
  chunked body is read here up to the cap and handed on whole. Counting bytes as the app reads
  them (Starlette's `RequestBodyLimitMiddleware`, LiteLLM's own middleware) is not enough here:
  LiteLLM's body reader catches every exception and carries on with an empty body.
- **Shape**: on OpenAI routes, a JSON body that is not an object (`[1,2]`, `null`, `"x"`) makes
  LiteLLM's auth fail with a 500 (`request_data.get(...)`); it gets a 400 here. Only the first
  significant byte is looked at: anything but `{` is not an object, and a body starting with `{`
  that is not valid JSON already gets LiteLLM's 400.
- **Field types**: on chat, completions and responses routes, the fields LiteLLM would fail on with
  a 500 (`{"messages": 5}`) get OpenAI's 400 `invalid_type` naming the parameter (`body_shape`).

Errors use OpenAI's body (`gateway.proxy.openai_errors`). The middleware is pure ASGI; only
`install` asks LiteLLM for its route list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from gateway.proxy import body_shape
from gateway.proxy.openai_errors import error_response, openai_routes, route_of

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# LiteLLM parses every other content type as JSON (http_parsing_utils.read_request_body)
NOT_JSON_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded",
                            "application/x-protobuf", "application/protobuf"})
_JSON_SPACE = re.compile(rb"[ \t\r\n]*")


class _TooLarge(Exception):
    pass


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value
    return None


def _content_length(scope) -> int | None:
    raw = _header(scope, b"content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def is_json_object(body: bytes) -> bool:
    start = _JSON_SPACE.match(body).end()
    return start == len(body) or body[start:start + 1] == b"{"  # empty: LiteLLM's own 400


def too_large_response(limit_bytes: int):
    mib = f"{limit_bytes / 1024 / 1024:g}"
    return error_response(413, f"Request body is larger than the gateway's limit of {mib} MB "
                               "(general_settings.max_request_size_mb).", "request_too_large")


NOT_AN_OBJECT = ("The request body must be a JSON object, e.g. "
                 '{"model": "...", "messages": [...]}.')


class RequestGuard:
    """ASGI middleware; `limit_bytes()` is read per request, so a config reload changes the cap."""

    def __init__(self, app, limit_bytes: Callable[[], int], json_routes: re.Pattern[str]):
        self.app = app
        self.limit_bytes = limit_bytes
        self.json_routes = json_routes

    def _wants_json_object(self, scope) -> bool:
        if scope["method"] not in BODY_METHODS:
            return False
        media_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower().decode("latin-1")
        if media_type in NOT_JSON_TYPES:
            return False
        return self.json_routes.fullmatch(route_of(scope)) is not None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_bytes()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await too_large_response(limit)(scope, receive, send)
            return
        chunked = declared is None and (scope["method"] in BODY_METHODS or _header(scope, b"transfer-encoding"))
        check_shape = self._wants_json_object(scope)
        if not chunked and not check_shape:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive, limit)
        except _TooLarge:
            await too_large_response(limit)(scope, receive, send)
            return
        if check_shape and not is_json_object(body):
            await error_response(400, NOT_AN_OBJECT, "invalid_json_body", param="request_body")(scope, receive, send)
            return
        if check_shape and (wrong := _wrong_type(route_of(scope), body)) is not None:
            param, message = wrong
            await error_response(400, message, "invalid_type", param=param)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _wrong_type(route: str, body: bytes) -> tuple[str, str] | None:
    """A field of the wrong type LiteLLM would answer with a 500; invalid JSON is left to its 400."""
    if not body_shape.suspect(body):
        return None
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        return None
    return body_shape.problem(route, data)


async def _read_body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # disconnected: hand on what came
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """The whole body as one message, then the client's own messages (e.g. `http.disconnect`)."""
    sent = False

    async def replaying_receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying_receive


def install(app, limit_bytes: Callable[[], int]) -> None:
    """Add the guard as the outermost middleware (LiteLLM's are added at its import)."""
    app.add_middleware(RequestGuard, limit_bytes=limit_bytes, json_routes=openai_routes(with_anthropic=True))
