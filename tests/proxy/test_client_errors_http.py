"""A real `gateway serve` answers bad keys and malformed bodies with 4xx in OpenAI's error body.

One gateway (master key, no database) on the fake upstream; the `openai` SDK is the client where
the question is what an OpenAI client sees.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from gateway.config.loader import DEFAULT_MAX_REQUEST_SIZE_MB
from tests.helpers import deployments, write_config
from tests.integration.gateway_process import GatewayProcess

pytestmark = pytest.mark.slow  # one real gateway process for the module, 10-15 s to start

MASTER_KEY = "sk-test"
CHAT = {"model": "plain", "messages": [{"role": "user", "content": "Say hello"}]}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake_upstream):
    directory = tmp_path_factory.mktemp("client-errors")
    data = {"model_list": deployments("plain", ("demo-small",), fake_upstream.base_url),
            "general_settings": {"master_key": MASTER_KEY}}
    process = GatewayProcess(write_config(directory, data), directory / "gateway.log")
    process.wait_ready()
    yield process
    process.stop()


def client(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=30)


def post(gateway, path: str, content: bytes, key: str | None = MASTER_KEY, **headers: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{gateway.url}{path}", content=content, timeout=60,
                      headers={"content-type": "application/json", **auth, **headers})


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]
    assert error["type"] in ("invalid_request_error", "authentication_error")
    if code is not None:
        assert error["code"] == code and error["param"] is None
    return error


def test_wrong_key_is_an_authentication_error_and_the_master_key_works(gateway, upstream):
    with pytest.raises(openai.AuthenticationError) as err:
        client(gateway, "sk-wrong").chat.completions.create(**CHAT)
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"

    answer = client(gateway, MASTER_KEY).chat.completions.create(**CHAT)
    assert answer.choices[0].message.content == "answer from demo-small"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions", "/v1/completions", "/v1/embeddings"])
def test_wrong_key_on_openai_routes_is_401(gateway, path):
    body = json.dumps({**CHAT, "prompt": "hi", "input": "hi"}).encode()
    assert_openai_error(post(gateway, path, body, key="sk-wrong"), 401, "invalid_api_key")


def test_wrong_key_on_models_and_embeddings_through_the_sdk(gateway):
    wrong = client(gateway, "sk-wrong")
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    with pytest.raises(openai.AuthenticationError):
        wrong.embeddings.create(model="plain", input="hello")
    assert "plain" in [m.id for m in client(gateway, MASTER_KEY).models.list()]


def test_missing_key_is_401(gateway):
    assert_openai_error(post(gateway, "/v1/chat/completions", json.dumps(CHAT).encode(), key=None), 401,
                        "invalid_api_key")
    response = httpx.get(f"{gateway.url}/v1/models", timeout=30)
    assert_openai_error(response, 401, "invalid_api_key")


def test_wrong_key_on_an_admin_route_is_401_not_no_db(gateway):
    response = post(gateway, "/key/generate", b"{}", key="sk-wrong")
    assert_openai_error(response, 401, "invalid_api_key")
    assert "db" not in response.json()["error"]["message"].lower()


def test_openapi_schema_is_served(gateway):
    response = httpx.get(f"{gateway.url}/openapi.json", timeout=60)
    assert response.status_code == 200, response.text[:500]
    paths = response.json()["paths"]
    assert "/v1/chat/completions" in paths and "/health/readiness/dependencies" in paths


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"hello"', b"42", b"not json", b"{not json", b'{"model": '])
def test_malformed_chat_body_is_400(gateway, body):
    assert_openai_error(post(gateway, "/v1/chat/completions", body), 400)


@pytest.mark.parametrize("path, body, param", [
    ("/v1/chat/completions", {"model": "plain", "messages": 5}, "messages"),
    ("/v1/chat/completions", {"model": "plain", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("/v1/completions", {"model": "plain", "prompt": 5}, "prompt"),
    ("/v1/responses", {"model": "plain", "input": 5}, "input"),
])
def test_a_field_of_the_wrong_type_is_400_not_500(gateway, path, body, param):
    """LiteLLM 1.108.7 answers these with a 500 (TypeError inside); OpenAI with 400 invalid_type."""
    with pytest.raises(openai.BadRequestError) as err:
        client(gateway, MASTER_KEY).post(path.removeprefix("/v1"), cast_to=object, body=body)  # base_url has /v1
    assert err.value.status_code == 400 and err.value.code == "invalid_type" and err.value.param == param


@pytest.mark.parametrize("raw, param", [
    (b'{"model": "plain", "messages": [{"role": "user", "\\u0063ontent": 5}]}', "messages[0].content"),
    (b'{"model": "plain", "\\u006dessages": 5}', "messages"),
])
def test_a_key_spelled_with_json_escapes_is_400_not_500(gateway, raw, param):
    """LiteLLM 1.108.7 answers these with a 500 too; the quick scan must not miss the escaped key."""
    response = post(gateway, "/v1/chat/completions", raw)
    assert_openai_error(response, 400)
    assert response.json()["error"]["code"] == "invalid_type" and response.json()["error"]["param"] == param


def test_json_list_with_a_wrong_key_is_still_4xx(gateway):
    assert post(gateway, "/v1/chat/completions", b"[1, 2]", key="sk-wrong").status_code in (400, 401)


def chat_of_size(size: int) -> bytes:
    """A valid chat request of exactly `size` bytes."""
    empty = json.dumps({**CHAT, "messages": [{"role": "user", "content": ""}]}).encode()
    return json.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * (size - len(empty))}]}).encode()


def test_body_over_the_default_cap_is_413(gateway):
    limit = int(DEFAULT_MAX_REQUEST_SIZE_MB * MIB)
    error = assert_openai_error(post(gateway, "/v1/chat/completions", chat_of_size(limit + 1)), 413)
    assert error["code"] == "request_too_large" and "max_request_size_mb" in error["message"]


def test_chunked_body_over_the_cap_is_413(gateway):
    body = chat_of_size(int(DEFAULT_MAX_REQUEST_SIZE_MB * MIB) + 1)
    chunks = (body[i:i + 64 * 1024] for i in range(0, len(body), 64 * 1024))  # no Content-Length
    response = httpx.post(f"{gateway.url}/v1/chat/completions", content=chunks, timeout=60,
                          headers={"content-type": "application/json", "Authorization": f"Bearer {MASTER_KEY}"})
    assert_openai_error(response, 413, "request_too_large")


def test_body_under_the_cap_is_served(gateway, upstream):
    response = post(gateway, "/v1/chat/completions", chat_of_size(int(DEFAULT_MAX_REQUEST_SIZE_MB * MIB) - 1024))
    assert response.status_code == 200, response.text[:500]
    assert response.json()["choices"][0]["message"]["content"] == "answer from demo-small"
