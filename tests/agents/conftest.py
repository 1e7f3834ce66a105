"""One `gateway serve` for the agent tests, in front of real peers built with the protocols' SDKs.

Started once per session (LiteLLM takes 10-15 s to start): an A2A agent (a2a-sdk), MCP servers
over streamable HTTP and SSE (mcp SDK, in threads), one over stdio (launched by the gateway), a
plain REST API exposed through OpenAPI-to-MCP, and the fake upstream for the Skills API and a
tool-calling chat model. Everything listens on 127.0.0.1 and is stopped in teardown.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import pytest

from tests.agents import inventory_api
from tests.agents.servers import ThreadedServer
from tests.helpers import write_config
from tests.integration.gateway_process import ROOT, GatewayProcess

MASTER_KEY = "sk-test"
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
#: the agent's name in the gateway (its agent_id in /a2a/{agent_id} is a hash of this name)
AGENT = "echo"
#: the name in the agent's card (tests/agents/a2a_peer.py)
AGENT_CARD_NAME = "echo-agent"


def gateway_config(peers: dict[str, str], fake_url: str) -> dict[str, Any]:
    """The config under test; examples/agents/config.yaml is the same shape with fixed addresses."""
    return {
        "model_list": [
            {"model_name": "tool-caller", "litellm_params": {
                "model": "openai/tool-caller", "api_base": f"{fake_url}/tool-calling/v1", "api_key": "not-used"}},
            {"model_name": "claude-skills", "litellm_params": {
                "model": "anthropic/claude-sonnet-4-5", "api_base": fake_url, "api_key": "sk-ant-fake"}},
        ],
        "agents": [{
            "agent_name": AGENT,
            "agent_card_params": {
                "protocolVersion": "1.0",
                "name": AGENT_CARD_NAME,
                "description": "Echoes the user's text back",
                "url": peers["a2a"],
                "version": "1.0.0",
                "capabilities": {"streaming": True},
                "defaultInputModes": ["text/plain"],
                "defaultOutputModes": ["text/plain"],
                "skills": [{"id": "echo", "name": "Echo", "description": "Repeats the input", "tags": ["test"]}],
            },
        }],
        "mcp_servers": {
            "peer_http": {"url": f"{peers['mcp_http']}/mcp", "transport": "http"},
            "peer_sse": {"url": f"{peers['mcp_sse']}/sse", "transport": "sse"},
            "peer_stdio": {"transport": "stdio", "command": sys.executable,
                           "args": ["-m", "tests.agents.mcp_peer", "stdio"], "env": {"PYTHONPATH": str(ROOT)}},
            "inventory": {"spec_path": str(inventory_api.SPEC_PATH), "url": peers["inventory"]},
        },
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="session")
def peers():
    # Imported here so the fast tests in this package collect without a2a-sdk installed.
    from tests.agents import a2a_peer, mcp_peer

    started: list[ThreadedServer] = []
    try:
        a2a = ThreadedServer("a2a-agent")
        started.append(a2a)
        a2a.start(a2a_peer.build_app(a2a.url), "/.well-known/agent-card.json")
        for name, app, ready in (("mcp_http", mcp_peer.streamable_http_app(), "/mcp"),
                                 ("mcp_sse", mcp_peer.sse_app(), "/messages/"),
                                 ("inventory", inventory_api.build_app(), "/items")):
            server = ThreadedServer(name)
            started.append(server)
            server.start(app, ready)
        yield {"a2a": a2a.url, "mcp_http": started[1].url, "mcp_sse": started[2].url,
               "inventory": started[3].url}
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="session")
def agents_gateway(tmp_path_factory, peers, fake_upstream):
    directory = tmp_path_factory.mktemp("agents-gateway")
    config = write_config(directory, gateway_config(peers, fake_upstream.url))
    process = GatewayProcess(config, directory / "gateway.log", env={"LITELLM_ENABLE_MCP_STDIO": "true"})
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def gateway(agents_gateway, upstream):
    """The running gateway, with the fake upstream's request log cleared for this test."""
    return agents_gateway


def agent_id(name: str = AGENT) -> str:
    """LiteLLM's id for a config-declared agent: sha256 of its agent_name."""
    return hashlib.sha256(name.encode()).hexdigest()
