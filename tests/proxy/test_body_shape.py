"""The field types LiteLLM turns into a 500 are named in OpenAI's 400 words; the rest is left to LiteLLM."""

from __future__ import annotations

import json

import pytest

from gateway.proxy.body_shape import problem, suspect

TEXT = {"role": "user", "content": "hello"}


@pytest.mark.parametrize(
    "path, body, param, message",
    [
        ("/v1/chat/completions", {"model": "auto", "messages": 5}, "messages",
         "Invalid type for 'messages': expected an array of message objects, but got an integer instead."),
        ("/chat/completions", {"messages": 1.5}, "messages", None),
        ("/openai/deployments/auto/chat/completions", {"messages": True}, "messages", None),
        ("/v1/chat/completions", {"messages": [TEXT, {"role": "user", "content": 5}]}, "messages[1].content",
         "Invalid type for 'messages[1].content': expected a string or an array of content parts, but got an "
         "integer instead."),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
         "messages[0].content[0].text", None),
        ("/v1/completions", {"prompt": 5}, "prompt", None),
        ("/engines/auto/completions", {"prompt": {"a": 1}}, "prompt", None),
        ("/v1/responses", {"input": 5}, "input", None),
    ],
)
def test_types_litellm_answers_with_500_are_named(path, body, param, message):
    found = problem(path, body)
    assert found is not None and found[0] == param
    assert suspect(json.dumps(body).encode()) and suspect(json.dumps(body, indent=2).encode())
    assert message is None or found[1] == message


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/chat/completions", {"model": "auto", "messages": [TEXT]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "assistant", "content": None}]}),
        ("/v1/chat/completions", {"messages": "hi"}),  # LiteLLM's own 400
        ("/v1/chat/completions", {"model": "auto"}),  # LiteLLM's own 400: missing parameter
        ("/v1/completions", {"prompt": ["a", "b"]}),
        ("/v1/responses", {"input": "hello"}),
        ("/v1/embeddings", {"input": 5}),  # not a route with a check
        ("/v1/chat/completions", [1, 2]),  # not an object: the guard's own 400 comes first
    ],
)
def test_valid_or_otherwise_handled_bodies_pass(path, body):
    assert problem(path, body) is None


@pytest.mark.parametrize(
    "raw, hit",
    [
        (b'{"model": "auto", "messages": 5}', True),
        (b'{"messages": [{"role": "user", "content":\n -1}]}', True),
        (b'{"messages": [{"content": [{"type": "text", "text": null}]}]}', True),
        (b'{"prompt": {"a": 1}}', True),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "say \\"content\\": 5"}]}', False),
        (b'{"messages": [{"content": [{"type": "text", "text": "hi"}]}], "input_type": 5}', False),
        (b'{"messages": [{"role": "user", "\\u0063ontent": 5}]}', True),  # a key spelled with escapes
        (b'{"\\u006dessages": 5}', True),
        (b'{"messages": [{"role": "user", "content": "caf\\u00e9"}]}', True),  # parsed; no problem found
    ],
)
def test_only_bodies_with_a_suspect_key_and_value_are_parsed(raw, hit):
    assert suspect(raw) is hit
    if not hit:  # never a problem the parser would have found
        assert problem("/v1/chat/completions", json.loads(raw)) is None


@pytest.mark.parametrize("raw, param", [
    (b'{"messages": [{"role": "user", "\\u0063ontent": 5}]}', "messages[0].content"),
    (b'{"\\u006dessages": 5}', "messages"),
])
def test_a_key_spelled_with_json_escapes_is_checked_like_the_plain_key(raw, param):
    assert suspect(raw) and problem("/v1/chat/completions", json.loads(raw))[0] == param
