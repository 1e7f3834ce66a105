"""MCP through `gateway serve`: servers over streamable HTTP, SSE and stdio, and OpenAPI-to-MCP,
called with the `mcp` SDK's own client; the REST view; a chat completion with `mcp` tools."""

from __future__ import annotations

import json

import httpx
import httpx2
import mcp
import pytest
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.agents.conftest import AUTH

pytestmark = pytest.mark.slow  # one real gateway process for the package, 10-40 s to start

SERVERS = {"peer_http": "streamable_http", "peer_sse": "sse", "peer_stdio": "stdio"}


async def session_call(url: str, *calls: tuple[str, dict]) -> tuple[list[str], list[str]]:
    """Open an MCP session at `url` with the SDK, list tools, make `calls`; (tool names, texts)."""
    async with httpx2.AsyncClient(headers=AUTH, timeout=30) as http:
        async with mcp.Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            texts = []
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                assert not result.is_error, result
                texts.append("".join(block.text for block in result.content))
            return names, texts


async def test_mcp_endpoint_lists_every_servers_tools_with_prefixes(gateway):
    names, _ = await session_call(f"{gateway.url}/mcp")
    for server in SERVERS:
        assert {f"{server}-add", f"{server}-reverse", f"{server}-whoami"} <= set(names), names
    assert {"inventory-listitems", "inventory-getitem"} <= set(names), names


@pytest.mark.parametrize("server,transport", SERVERS.items())
async def test_tools_call_reaches_the_server_over_its_transport(gateway, server, transport):
    names, texts = await session_call(f"{gateway.url}/mcp/{server}",
                                      (f"{server}-whoami", {}), (f"{server}-add", {"a": 20, "b": 22}))
    assert names == [f"{server}-add", f"{server}-reverse", f"{server}-whoami"]  # scoped to one server
    assert texts == [f"served over {transport}", "42"]


async def test_openapi_spec_becomes_tools_that_call_the_rest_api(gateway):
    names, texts = await session_call(f"{gateway.url}/mcp/inventory", ("inventory-getitem", {"sku": "widget"}),
                                      ("inventory-listitems", {"in_stock": True}))
    assert names == ["inventory-listitems", "inventory-getitem"]  # operationIds, lower-cased by LiteLLM
    assert json.loads(texts[0]) == {"sku": "widget", "stock": 7}
    assert json.loads(texts[1]) == {"skus": ["widget"]}


async def test_gateway_also_serves_clients_over_legacy_sse(gateway):
    async with mcp.Client(sse_client(f"{gateway.url}/mcp/sse", headers=AUTH, timeout=30), mode="legacy") as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("peer_http-reverse", {"text": "sse"})
    assert "peer_stdio-whoami" in names and "inventory-getitem" in names
    assert result.content[0].text == "ess"


def test_rest_tools_list_and_call(gateway):
    listed = httpx.get(f"{gateway.url}/mcp-rest/tools/list", params={"server_id": "peer_stdio"},
                       headers=AUTH, timeout=30)
    assert listed.status_code == 200, listed.text
    tools = listed.json()["tools"]
    assert sorted(t["name"] for t in tools) == ["add", "reverse", "whoami"]
    assert {t["mcp_info"]["server_name"] for t in tools} == {"peer_stdio"}

    called = httpx.post(f"{gateway.url}/mcp-rest/tools/call", headers=AUTH, timeout=30,
                        json={"server_id": "peer_sse", "name": "reverse", "arguments": {"text": "gateway"}})
    assert called.status_code == 200, called.text
    assert called.json()["content"][0]["text"] == "yawetag"


def test_mcp_routes_need_a_key(gateway):
    assert httpx.get(f"{gateway.url}/mcp-rest/tools/list", timeout=30).status_code == 401
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    response = httpx.post(f"{gateway.url}/mcp", json=initialize, timeout=30,
                          headers={"Accept": "application/json, text/event-stream"})
    assert response.status_code == 401


def test_chat_completion_with_mcp_tools_runs_the_tool_and_answers(gateway, upstream):
    """LiteLLM lists the server's tools, gives them to the model as functions, runs the model's
    tool call on the MCP server (require_approval: never) and asks the model again with the result."""
    body = {"model": "tool-caller",
            "messages": [{"role": "user", "content": json.dumps({"call": "add", "arguments": {"a": 2, "b": 40}})}],
            "tools": [{"type": "mcp", "server_url": "litellm_proxy/mcp/peer_http", "require_approval": "never"}]}
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert message["content"] == "tool result: 42"
    details = message["provider_specific_fields"]
    assert details["mcp_call_results"][0]["result"] == "42"

    first, second = [r["body"] for r in upstream.requests()]
    offered = [t["function"]["name"] for t in first["tools"]]
    assert offered == ["peer_http-add", "peer_http-reverse", "peer_http-whoami"]
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": second["messages"][1]["tool_calls"][0]["id"],
                                      "name": "peer_http-add", "content": "42"}


def test_chat_completion_returns_tool_calls_when_approval_is_required(gateway, upstream):
    """Without require_approval: never, the gateway does not run the tool: the caller gets the call."""
    body = {"model": "tool-caller",
            "messages": [{"role": "user", "content": json.dumps({"call": "whoami", "arguments": {}})}],
            "tools": [{"type": "mcp", "server_url": "litellm_proxy/mcp/peer_stdio"}]}
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "peer_stdio-whoami"
    assert len(upstream.requests()) == 1


def test_tools_list_is_an_mcp_method_not_a_url(gateway):
    """`GET /mcp/tools/list` is not a REST route: /mcp takes the rest of the path as a server
    name and a GET opens MCP's server-to-client stream (read here with a bounded wait only)."""
    with httpx.stream("GET", f"{gateway.url}/mcp/tools/list", timeout=10,
                      headers={**AUTH, "Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")  # no JSON tool list
