"""An OpenAI-compatible (and minimally Anthropic-compatible) LLM provider for tests.

Wire formats follow the public APIs closely enough that LiteLLM's real `openai/` provider
and the OpenAI SDK talk to it: chat completions (JSON and SSE), embeddings (float and base64),
models, and Anthropic `messages`. Routes exist with and without the `/v1` prefix.

Control endpoints (not part of any provider API):
    GET  /_control/health              -> {"ok": true}
    GET  /_control/behaviour           -> the current FakeConfig
    PUT  /_control/behaviour           <- a whole FakeConfig (replaces; resets fail-next counters)
    POST /_control/behaviour           <- {"model": "x" | null, "behaviour": {...}} (one entry)
    GET  /_control/requests            -> log of received requests
    DELETE /_control/requests          -> clear the log
    POST /_control/reset               -> default behaviour, empty log
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fake_upstream.behaviour import Behaviour, FakeConfig, FakeState
from tests.fake_upstream.skills import AnthropicSkills
from tests.fake_upstream.tool_calling import ToolCallingModel

RECORDED_HEADERS = ("authorization", "x-api-key", "anthropic-version", "content-type", "user-agent")
_OPENAI_ERRORS = {
    "rate_limit": (429, "Rate limit reached for requests (fake upstream)", "requests", "rate_limit_exceeded"),
    "server_error": (
        500,
        "The server had an error while processing your request (fake upstream)",
        "server_error",
        None,
    ),
    "auth": (401, "Incorrect API key provided (fake upstream)", "invalid_request_error", "invalid_api_key"),
}
_ANTHROPIC_ERRORS = {
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "auth": "authentication_error",
    "context_length": "invalid_request_error",
}


def count_tokens(text: str) -> int:
    """Whitespace tokens: deterministic and good enough for usage fields and context limits."""
    return len(text.split())


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def prompt_text(body: dict[str, Any]) -> str:
    parts = [_text_of(body.get("system"))] + [_text_of(m.get("content")) for m in body.get("messages") or []]
    return "\n".join(p for p in parts if p)


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def answer_for(model: str, behaviour: Behaviour, body: dict[str, Any]) -> str:
    query = last_user_text(body)
    for rule in behaviour.rules:
        if rule.contains in query:
            return rule.answer
    return behaviour.answer if behaviour.answer is not None else f"answer from {model}"


def embedding_for(text: str, dim: int) -> list[float]:
    """A deterministic unit vector derived from the text (same text, same vector)."""
    raw = b""
    counter = 0
    while len(raw) < dim * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(v / 2**31) - 1.0 for v in struct.unpack(f"<{dim}I", raw[: dim * 4])]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


class FakeUpstream:
    """The app plus its state; `state` is what tests and control endpoints change."""

    def __init__(self, config: FakeConfig | None = None):
        self.state = FakeState(config)
        #: Anthropic's Skills API (skills.py) and a tool-calling chat model (tool_calling.py)
        self.skills = AnthropicSkills(self.state)
        routes = self.skills.routes() + ToolCallingModel(self.state).routes()
        for prefix in ("/v1", ""):
            routes += [
                Route(f"{prefix}/chat/completions", self.chat_completions, methods=["POST"]),
                Route(f"{prefix}/embeddings", self.embeddings, methods=["POST"]),
                Route(f"{prefix}/models", self.list_models, methods=["GET"]),
                Route(f"{prefix}/models/{{model:path}}", self.get_model, methods=["GET"]),
                Route(f"{prefix}/messages", self.anthropic_messages, methods=["POST"]),
            ]
        routes += [
            Route("/_control/health", self.health, methods=["GET"]),
            Route("/_control/behaviour", self.control_behaviour, methods=["GET", "PUT", "POST"]),
            Route("/_control/requests", self.control_requests, methods=["GET", "DELETE"]),
            Route("/_control/reset", self.control_reset, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)

    # -- shared request handling ---------------------------------------------------------------
    async def _begin(self, request: Request) -> tuple[dict[str, Any], str, Behaviour] | Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse(
                {
                    "error": {
                        "message": "request body is not valid JSON",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                400,
            )
        model = str(body.get("model") or "")
        behaviour = self.state.effective(model)
        headers = {k: v for k, v in request.headers.items() if k in RECORDED_HEADERS or k.startswith("x-")}
        self.state.record(
            {
                "path": request.url.path,
                "model": model,
                "headers": headers,
                "body": body,
                "fail": behaviour.fail,
            }
        )
        return body, model, behaviour

    async def _wait(self, request: Request, seconds: float) -> bool:
        """Sleep, returning early (False) when the client goes away, so hung requests end."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))
            if await request.is_disconnected():
                return False
        return True

    async def _failure(
        self, request: Request, behaviour: Behaviour, body: dict[str, Any], anthropic: bool = False
    ) -> Response | None:
        """The injected error response, or None to answer normally (after latency)."""
        fail = behaviour.fail
        too_long = (
            behaviour.context_window is not None
            and count_tokens(prompt_text(body)) > behaviour.context_window
        )
        if fail == "timeout":
            await self._wait(request, behaviour.hang_s)
            return None
        if behaviour.latency_ms:
            await self._wait(request, behaviour.latency_ms / 1000)
        if fail == "context_length" or too_long:
            limit = behaviour.context_window or 8192
            used = max(count_tokens(prompt_text(body)), limit + 1)
            message = (
                f"This model's maximum context length is {limit} tokens. However, your messages "
                f"resulted in {used} tokens. Please reduce the length of the messages."
            )
            if anthropic:
                return self._anthropic_error(400, "invalid_request_error", f"prompt is too long: {message}")
            return JSONResponse(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": "context_length_exceeded",
                    }
                },
                400,
            )
        if fail is None:
            return None
        status, message, kind, code = _OPENAI_ERRORS[fail]
        headers = {"retry-after": str(behaviour.retry_after)} if fail == "rate_limit" else None
        if anthropic:
            return self._anthropic_error(status, _ANTHROPIC_ERRORS[fail], message, headers)
        return JSONResponse(
            {"error": {"message": message, "type": kind, "param": None, "code": code}},
            status,
            headers=headers,
        )

    # -- OpenAI ----------------------------------------------------------------------------------
    async def chat_completions(self, request: Request) -> Response:
        begun = await self._begin(request)
        if isinstance(begun, Response):
            return begun
        body, model, behaviour = begun
        if (failure := await self._failure(request, behaviour, body)) is not None:
            return failure
        text = answer_for(model, behaviour, body)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = {"prompt_tokens": count_tokens(prompt_text(body)), "completion_tokens": count_tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": completion_id, "created": created, "model": model, "system_fingerprint": "fp_fake"}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = self._chat_chunks(base, text, usage if include_usage else None, behaviour)
            return StreamingResponse(
                chunks, media_type="text/event-stream", headers={"cache-control": "no-cache"}
            )
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i in range(int(body.get("n") or 1))
        ]
        return JSONResponse({**base, "object": "chat.completion", "choices": choices, "usage": usage})

    async def _chat_chunks(
        self, base: dict[str, Any], text: str, usage: dict[str, int] | None, behaviour: Behaviour
    ) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None) -> str:
            payload = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
        words = text.split(" ")
        for i, word in enumerate(words):
            if behaviour.chunk_delay_ms:
                await asyncio.sleep(behaviour.chunk_delay_ms / 1000)
            yield chunk({"content": word if i == 0 else " " + word}, None)
        yield chunk({}, "stop")
        if usage is not None:
            final = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            yield f"data: {json.dumps(final)}\n\n"
        yield "data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        begun = await self._begin(request)
        if isinstance(begun, Response):
            return begun
        body, model, behaviour = begun
        if (failure := await self._failure(request, behaviour, {"messages": []})) is not None:
            return failure
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        texts = [x if isinstance(x, str) else " ".join(map(str, x)) for x in inputs or []]
        dim = int(body.get("dimensions") or behaviour.embedding_dim)
        data = []
        for index, text in enumerate(texts):
            vector: Any = embedding_for(text, dim)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(count_tokens(t) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def list_models(self, request: Request) -> Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake-upstream"}
            for name in self.state.models()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def get_model(self, request: Request) -> Response:
        name = request.path_params["model"]
        return JSONResponse({"id": name, "object": "model", "created": 0, "owned_by": "fake-upstream"})

    # -- Anthropic -------------------------------------------------------------------------------
    @staticmethod
    def _anthropic_error(
        status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        return JSONResponse(
            {"type": "error", "error": {"type": kind, "message": message}}, status, headers=headers
        )

    async def anthropic_messages(self, request: Request) -> Response:
        begun = await self._begin(request)
        if isinstance(begun, Response):
            return begun
        body, model, behaviour = begun
        if (failure := await self._failure(request, behaviour, body, anthropic=True)) is not None:
            return failure
        text = answer_for(model, behaviour, body)
        usage = {"input_tokens": count_tokens(prompt_text(body)), "output_tokens": count_tokens(text)}
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if body.get("stream"):
            return StreamingResponse(self._anthropic_events(message, text), media_type="text/event-stream")
        return JSONResponse(message)

    async def _anthropic_events(self, message: dict[str, Any], text: str) -> AsyncIterator[str]:
        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 0},
        }
        yield event("message_start", {"message": start})
        yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})
        yield event("content_block_stop", {"index": 0})
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        yield event("message_stop", {})

    # -- control ---------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def control_behaviour(self, request: Request) -> Response:
        try:
            if request.method == "PUT":
                self.state.replace(FakeConfig.model_validate(await request.json()))
            elif request.method == "POST":
                payload = await request.json()
                if not isinstance(payload, dict) or set(payload) - {"model", "behaviour"}:
                    raise ValueError('body must be {"model": name-or-null, "behaviour": {...}}')
                behaviour = Behaviour.model_validate(payload.get("behaviour") or {})
                self.state.set(payload.get("model"), behaviour)
        except (ValidationError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 422)
        return JSONResponse(self.state.config().model_dump(mode="json"))

    async def control_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.clear_requests()
            return JSONResponse([])
        return JSONResponse(self.state.requests())

    async def control_reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"ok": True})


def create_app(config: FakeConfig | None = None) -> Starlette:
    return FakeUpstream(config).app
