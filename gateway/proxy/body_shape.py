"""The shapes LiteLLM 1.108.7 turns into a 500 when they are wrong, checked before it sees them (issue 17).

A chat body whose `messages` is a number, a message whose `content` is a number, a text part whose `text`
is not a string, a completions `prompt` or a responses `input` that is a number: LiteLLM (and the routing
strategies reading the prompt) fail inside with `TypeError` and answer 500. OpenAI answers 400
`invalid_type` naming the parameter; so does the gateway. Everything else (missing fields, strings where
arrays go) LiteLLM already answers with a 4xx and is left to it.
"""

from __future__ import annotations

import re
from typing import Any

# The raw bytes of every problem below: a checked key followed by a value that cannot be right. Searching
# for it costs 3-10 ms on a 10 MB body, parsing 20 ms: bodies without it are not parsed. A key may be spelled
# with JSON escapes ("\u0063ontent"), so any \u escape makes a body suspect too (clients that escape
# non-ASCII text pay the parse; the search stays linear: no pattern that could backtrack over a key).
_SUSPECT = re.compile(rb'"(?:messages|content|prompt|input)"\s*:\s*[-0-9tf{]|"text"\s*:\s*[^"\s]|\\u')

_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def _got(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _invalid(param: str, expected: str, value: Any) -> tuple[str, str]:
    return param, f"Invalid type for '{param}': expected {expected}, but got {_got(value)} instead."


def _content(param: str, content: Any) -> tuple[str, str] | None:
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return _invalid(param, "a string or an array of content parts", content)
    for i, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == "text" and not isinstance(part.get("text"), str):
            return _invalid(f"{param}[{i}].text", "a string", part.get("text"))
    return None


def _chat(body: dict) -> tuple[str, str] | None:
    messages = body.get("messages")
    if messages is None or isinstance(messages, str | dict):
        return None  # LiteLLM's own 400 ("Missing required parameter", "Invalid request format")
    if not isinstance(messages, list):
        return _invalid("messages", "an array of message objects", messages)
    for i, message in enumerate(messages):
        if isinstance(message, dict) and (problem := _content(f"messages[{i}].content", message.get("content"))):
            return problem
    return None


def _completions(body: dict) -> tuple[str, str] | None:
    prompt = body.get("prompt")
    if prompt is None or isinstance(prompt, str | list):
        return None
    return _invalid("prompt", "a string or an array", prompt)


def _responses(body: dict) -> tuple[str, str] | None:
    value = body.get("input")
    if value is None or isinstance(value, str | list):
        return None
    return _invalid("input", "a string or an array", value)


# The last path segments that name an OpenAI operation, whatever prefix LiteLLM's route has
# (/v1/chat/completions, /openai/deployments/{model}/chat/completions, /engines/{model}/completions).
_CHECKS = (("/chat/completions", _chat), ("/completions", _completions), ("/responses", _responses))


def suspect(raw: bytes) -> bool:
    """False when the raw body cannot have a problem `problem()` would find (it need not be parsed)."""
    return _SUSPECT.search(raw) is not None


def problem(path: str, body: Any) -> tuple[str, str] | None:
    """(param, message) when `body` has a shape that would end in a 500 on this route, else None."""
    if not isinstance(body, dict):
        return None
    route = path.rstrip("/")
    for suffix, check in _CHECKS:
        if route.endswith(suffix):
            return check(body)
    return None
