"""A chat model on the fake upstream that calls tools: what a gateway-side MCP tool loop needs.

Served at `/tool-calling/v1/chat/completions` (point a deployment's `api_base` at
`<fake>/tool-calling/v1`). Per request, by the conversation so far:
  - the last message is a tool result   -> text `tool result: <its content>` (finish `stop`);
  - the last user message is JSON `{"call": NAME, "arguments": {...}}` and a tool offered in
    `tools` is named NAME or ends with `-NAME`/`_NAME` (gateways prefix server names)
                                        -> one `tool_calls` entry for it (finish `tool_calls`);
  - otherwise                           -> text `no tool called` (so a test sees the difference).
Non-streaming only; requests land in the fake's request log like every other route.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_upstream.behaviour import FakeState

PREFIX = "/tool-calling/v1"


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def wanted_call(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    try:
        request = json.loads(_text(users[-1].get("content"))) if users else None
    except json.JSONDecodeError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("call"), str):
        return None
    wanted = request["call"]
    for tool in body.get("tools") or []:
        name = (tool.get("function") or {}).get("name", "")
        if name == wanted or name.endswith((f"-{wanted}", f"_{wanted}")):
            return name, dict(request.get("arguments") or {})
    return None


def reply(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason for this conversation."""
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        results = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
        return {"role": "assistant", "content": f"tool result: {results[-1]}"}, "stop"
    call = wanted_call(body)
    if call is None:
        return {"role": "assistant", "content": "no tool called"}, "stop"
    name, arguments = call
    tool_call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(arguments)}}
    return {"role": "assistant", "content": None, "tool_calls": [tool_call]}, "tool_calls"


class ToolCallingModel:
    def __init__(self, state: FakeState):
        self._state = state

    def routes(self) -> list[Route]:
        return [Route(f"{PREFIX}/chat/completions", self.chat_completions, methods=["POST"])]

    async def chat_completions(self, request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model") or "")
        self._state.record({"path": request.url.path, "model": model, "headers": {}, "body": body, "fail": None})
        message, finish = reply(body)
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })
