"""The fake upstream speaks OpenAI's wire protocol and injects the failures tests ask for."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fake_upstream import FakeConfig
from tests.fake_upstream.server import check_loopback

CHAT = {
    "model": "small",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is two plus two"},
    ],
}


def sse_events(raw: str) -> list[str]:
    """SSE framing: every event is one `data: ...` line ended by a blank line."""
    assert raw.endswith("\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(e.startswith("data: ") and "\n" not in e for e in events), events
    return [e[len("data: ") :] for e in events]


def test_chat_completion_json_has_openai_fields(upstream):
    body = httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT).json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-") and body["model"] == "small"
    assert abs(body["created"] - time.time()) < 60
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "answer from small", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_routes_also_answer_without_v1_prefix(upstream):
    assert httpx.post(f"{upstream.url}/chat/completions", json=CHAT).status_code == 200


def test_streaming_is_sse_chunks_then_usage_then_done(upstream):
    request = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{upstream.base_url}/chat/completions", json=request) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and {c["model"] for c in chunks} == {"small"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "answer from small"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_streaming_without_include_usage_sends_no_usage_chunk(upstream):
    with httpx.stream(
        "POST", f"{upstream.base_url}/chat/completions", json={**CHAT, "stream": True}
    ) as response:
        events = sse_events(response.read().decode())
    assert all("usage" not in json.loads(e) for e in events[:-1])


def test_embeddings_shape_float_and_base64(upstream):
    url = f"{upstream.base_url}/embeddings"
    body = httpx.post(url, json={"model": "emb", "input": ["a b", "c"], "dimensions": 8}).json()
    assert body["object"] == "list" and body["model"] == "emb"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 8 for d in body["data"])
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    packed = httpx.post(
        url, json={"model": "emb", "input": "a b", "dimensions": 8, "encoding_format": "base64"}
    )
    decoded = struct.unpack("<8f", base64.b64decode(packed.json()["data"][0]["embedding"]))
    assert decoded == pytest.approx(body["data"][0]["embedding"], abs=1e-6)


def test_models_lists_configured_and_advertised_names(upstream):
    upstream.configure({"models": {"small": {}}, "advertise": ["large"]})
    body = httpx.get(f"{upstream.base_url}/models").json()
    assert [m["id"] for m in body["data"]] == ["large", "small"]


def test_fixed_answer_per_model_and_content_rules(upstream):
    upstream.set_behaviour("small", answer="4", rules=[{"contains": "plus", "answer": "four"}])
    upstream.set_behaviour("large", answer="fixed")
    post = lambda model, text: httpx.post(  # noqa: E731
        f"{upstream.base_url}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
    ).json()["choices"][0]["message"]["content"]
    assert post("small", "two plus two") == "four"
    assert post("small", "hello") == "4"
    assert post("large", "hello") == "fixed"
    assert post("other", "hello") == "answer from other"


def test_rate_limit_carries_retry_after_and_openai_error_body(upstream):
    upstream.set_behaviour("small", fail="rate_limit", retry_after=7)
    response = httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT)
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_server_error_and_context_length(upstream):
    upstream.set_behaviour("small", fail="server_error")
    assert httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT).status_code == 500
    upstream.set_behaviour("small", context_window=3)
    response = httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (
        error["code"] == "context_length_exceeded"
        and "maximum context length is 3 tokens" in error["message"]
    )


def test_fail_next_n_requests_then_recover(upstream):
    upstream.set_behaviour("small", fail="server_error", fail_next=2)
    codes = [httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]
    other = httpx.post(f"{upstream.base_url}/chat/completions", json={**CHAT, "model": "large"})
    assert other.status_code == 200


def test_model_entry_overrides_only_its_fields(upstream):
    upstream.configure(
        {"default": {"latency_ms": 150, "answer": "global"}, "models": {"small": {"fail": "auth"}}}
    )
    started = time.monotonic()
    assert httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT).status_code == 401
    assert time.monotonic() - started >= 0.15
    large = httpx.post(f"{upstream.base_url}/chat/completions", json={**CHAT, "model": "large"}).json()
    assert large["choices"][0]["message"]["content"] == "global"


def test_latency_is_injected(upstream):
    upstream.set_behaviour(None, latency_ms=300)
    started = time.monotonic()
    httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT)
    # at least the injected 300 ms; no upper bound here (a busy CI machine is slow), and httpx's default
    # 5 s timeout fails a unit mix-up (300 s)
    assert time.monotonic() - started >= 0.3


def test_timeout_hangs_past_the_client_timeout(upstream):
    upstream.set_behaviour("small", fail="timeout", hang_s=10)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{upstream.base_url}/chat/completions", json=CHAT, timeout=0.3)


def test_control_endpoints_set_behaviour_and_log_requests(upstream):
    control = f"{upstream.url}/_control"
    assert httpx.post(
        f"{control}/behaviour", json={"model": "small", "behaviour": {"fail": "rate_limit"}}
    ).is_success
    assert httpx.post(f"{control}/behaviour", json={"behaviour": {"bogus": 1}}).status_code == 422
    httpx.post(
        f"{upstream.base_url}/chat/completions",
        json=CHAT,
        headers={"Authorization": "Bearer k", "x-trace": "t"},
    )
    log = httpx.get(f"{control}/requests").json()
    assert len(log) == 1
    assert (
        log[0]["model"] == "small"
        and log[0]["path"] == "/v1/chat/completions"
        and log[0]["fail"] == "rate_limit"
    )
    assert log[0]["headers"]["authorization"] == "Bearer k" and log[0]["headers"]["x-trace"] == "t"
    assert log[0]["body"] == CHAT
    assert httpx.put(f"{control}/behaviour", json={"models": {}}).json()["models"] == {}
    httpx.delete(f"{control}/requests")
    assert httpx.get(f"{control}/requests").json() == []


def test_anthropic_messages_minimal(upstream):
    request = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    body = httpx.post(f"{upstream.base_url}/messages", json=request).json()
    assert body["type"] == "message" and body["content"] == [{"type": "text", "text": "answer from claude-x"}]
    assert body["stop_reason"] == "end_turn" and body["usage"]["input_tokens"] == 1
    upstream.set_behaviour("claude-x", fail="rate_limit")
    error = httpx.post(f"{upstream.base_url}/messages", json=request)
    assert error.status_code == 429 and error.json()["error"]["type"] == "rate_limit_error"
    upstream.reset()
    with httpx.stream("POST", f"{upstream.base_url}/messages", json={**request, "stream": True}) as response:
        raw = response.read().decode()
    assert raw.startswith("event: message_start\n") and "event: message_stop" in raw


def test_only_loopback_hosts_are_accepted():
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ValueError, match="loopback"):
        check_loopback("0.0.0.0")


def test_module_entry_point_serves_config_file(tmp_path: Path):
    config = tmp_path / "fake.yaml"
    config.write_text("models:\n  small:\n    answer: from file\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_upstream", "--config", str(config)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        line = process.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "fake upstream subprocess did not answer"
                time.sleep(0.05)
        assert response.json()["choices"][0]["message"]["content"] == "from file"
    finally:
        process.terminate()
        process.wait(10)


def test_fake_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="extra"):
        FakeConfig.model_validate({"default": {"latncy_ms": 5}})


# -- the real LiteLLM openai/ provider against the fake --------------------------------------------
@pytest.fixture()
def litellm_module(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import litellm

    return litellm


def test_litellm_openai_provider_json(upstream, litellm_module):
    upstream.set_behaviour("small", answer="four")

    async def call():
        return await litellm_module.acompletion(
            model="openai/small", api_base=upstream.base_url, api_key="x", messages=CHAT["messages"]
        )

    response = asyncio.run(call())
    assert response.choices[0].message.content == "four"
    assert response.usage.total_tokens == 8
    assert upstream.requests()[-1]["headers"]["authorization"] == "Bearer x"


def test_litellm_openai_provider_streaming(upstream, litellm_module):
    async def call():
        stream = await litellm_module.acompletion(
            model="openai/small",
            api_base=upstream.base_url,
            api_key="x",
            messages=CHAT["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts, usage = [], None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            usage = getattr(chunk, "usage", None) or usage
        return "".join(parts), usage

    text, usage = asyncio.run(call())
    assert text == "answer from small"
    assert usage is not None and usage.completion_tokens == 3


def test_litellm_maps_injected_errors(upstream, litellm_module):
    upstream.set_behaviour("small", fail="context_length")

    async def call():
        return await litellm_module.acompletion(
            model="openai/small",
            api_base=upstream.base_url,
            api_key="x",
            messages=CHAT["messages"],
            num_retries=0,
        )

    with pytest.raises(litellm_module.ContextWindowExceededError):
        asyncio.run(call())
    upstream.set_behaviour("small", fail="rate_limit")
    with pytest.raises(litellm_module.RateLimitError):
        asyncio.run(call())


def test_litellm_embeddings(upstream, litellm_module):
    async def call():
        return await litellm_module.aembedding(
            model="openai/emb", api_base=upstream.base_url, api_key="x", input=["hello world"]
        )

    response = asyncio.run(call())
    assert len(response.data[0]["embedding"]) == 16
