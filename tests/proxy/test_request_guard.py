"""The body guard in front of a small ASGI app: sizes, shapes, and the body the app then reads."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.proxy.openai_errors import route_pattern
from gateway.proxy.request_guard import RequestGuard, is_json_object

LIMIT = 1000
ROUTES = route_pattern(["/v1/chat/completions", "/v1/threads/{thread_id}", "/v1/containers/*", "/realtime?{model}"])


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body), "head": body[:20].decode(errors="replace")})


def guarded(limit: int = LIMIT) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT"])])
    app.add_middleware(RequestGuard, limit_bytes=lambda: limit, json_routes=ROUTES)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def chunks(body: bytes, size: int = 100):
    async def gen():
        for i in range(0, len(body), size):
            yield body[i:i + size]
    return gen()


async def test_declared_body_over_the_limit_is_413_in_openai_shape():
    async with guarded() as client:
        response = await client.post("/v1/chat/completions", content=b"{" + b" " * LIMIT + b"}")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_chunked_body_over_the_limit_is_413_on_any_route():
    async with guarded() as client:
        response = await client.post("/key/generate", content=chunks(b"x" * (LIMIT + 1)))
    assert response.status_code == 413


async def test_chunked_body_at_the_limit_reaches_the_app_whole():
    body = b'{"model": "m", "pad": "' + b"x" * (LIMIT - 25) + b'"}'
    assert len(body) == LIMIT
    async with guarded() as client:
        response = await client.post("/v1/chat/completions", content=chunks(body))
    assert response.status_code == 200 and response.json()["size"] == LIMIT


@pytest.mark.parametrize("body", [b"[1,2]", b"null", b' "x"', b"\n42", b"not json"])
async def test_non_object_body_on_openai_routes_is_400(body):
    async with guarded() as client:
        for path in ("/v1/chat/completions", "/v1/threads/t1", "/v1/containers/c/files"):
            response = await client.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400, path
            assert response.json()["error"]["param"] == "request_body"


async def test_other_routes_and_form_bodies_are_not_shape_checked():
    async with guarded() as client:
        assert (await client.post("/mcp", content=b"[1,2]")).status_code == 200  # JSON-RPC batches
        form = await client.post("/v1/chat/completions", content=b"a=b",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 200
        assert (await client.post("/v1/chat/completions", content=b" {}")).json()["head"] == " {}"
        assert (await client.post("/v1/chat/completions", content=b"")).status_code == 200


async def test_limit_is_read_per_request():
    limit = [LIMIT]
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["POST"])])
    app.add_middleware(RequestGuard, limit_bytes=lambda: limit[0], json_routes=ROUTES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        assert (await client.post("/x", content=b"y" * 500)).status_code == 200
        limit[0] = 100
        assert (await client.post("/x", content=b"y" * 500)).status_code == 413


def test_first_significant_byte_decides():
    assert is_json_object(b' \r\n\t{"a": 1}') and is_json_object(b"") and is_json_object(b"   ")
    assert not is_json_object(b"[{}]") and not is_json_object(b"\xef\xbb\xbf{}")


async def test_a_field_of_the_wrong_type_is_400_naming_it():
    async with guarded() as client:
        response = await client.post("/v1/chat/completions", content=b'{"model": "auto", "messages": 5}')
        assert response.status_code == 400
        assert response.json()["error"] == {
            "message": "Invalid type for 'messages': expected an array of message objects, but got an integer instead.",
            "type": "invalid_request_error", "param": "messages", "code": "invalid_type"}
        # invalid JSON and well-typed bodies reach the app as they came
        assert (await client.post("/v1/chat/completions", content=b'{"messages": ')).status_code == 200
        ok = await client.post("/v1/chat/completions", content=chunks(b'{"messages": []}', 4))
        assert ok.json() == {"size": 16, "head": '{"messages": []}'}
