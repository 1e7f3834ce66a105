"""A2A through `gateway serve`: a config-declared agent, called with a2a-sdk's own client."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState

from tests.agents.conftest import AGENT, AUTH, agent_id

pytestmark = pytest.mark.slow  # one real gateway process for the package, 10-40 s to start


def user_message(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex,
                                              parts=[Part(text=text)]))


async def collect(gateway_url: str, text: str, streaming: bool) -> list:
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as http:
        client = await create_client(f"{gateway_url}/a2a/{AGENT}",
                                     client_config=ClientConfig(httpx_client=http, streaming=streaming))
        return [event async for event in client.send_message(user_message(text))]


def artifact_text(task) -> str:
    return "".join(part.text for artifact in task.artifacts for part in artifact.parts)


def test_agent_card_points_clients_at_the_gateway(gateway):
    response = httpx.get(f"{gateway.url}/a2a/{AGENT}/.well-known/agent-card.json", headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["name"] == "echo-agent"
    assert card["url"] == f"{gateway.url}/a2a/{AGENT}"  # the agent's own address is not revealed
    assert card["capabilities"]["streaming"] is True
    by_id = httpx.get(f"{gateway.url}/a2a/{agent_id()}/.well-known/agent-card.json", headers=AUTH, timeout=30)
    assert by_id.status_code == 200 and by_id.json()["name"] == "echo-agent"


async def test_message_send_returns_the_agents_completed_task(gateway):
    events = await collect(gateway.url, "hello through the gateway", streaming=False)
    assert len(events) == 1
    task = events[0].task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert artifact_text(task) == "echo: hello through the gateway"


async def test_message_stream_relays_every_event_of_the_task(gateway):
    events = await collect(gateway.url, "stream me", streaming=True)
    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds[0] == "task" and "artifact_update" in kinds, kinds
    states = [e.status_update.status.state for e in events if e.WhichOneof("payload") == "status_update"]
    assert states[0] == TaskState.TASK_STATE_WORKING and states[-1] == TaskState.TASK_STATE_COMPLETED
    chunks = [part.text for e in events if e.WhichOneof("payload") == "artifact_update"
              for part in e.artifact_update.artifact.parts]
    assert "".join(chunks) == "echo: stream me"


def test_jsonrpc_wire_methods_message_send_and_message_stream(gateway):
    """The 0.3 method names on the wire (what curl or an older SDK sends) reach the same agent."""
    message = {"role": "user", "messageId": uuid.uuid4().hex, "parts": [{"kind": "text", "text": "raw"}]}
    send = {"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {"message": message}}
    response = httpx.post(f"{gateway.url}/a2a/{AGENT}", json=send, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    task = response.json()["result"]["task"]  # A2A 1.0 JSON: the agent is pinned to protocolVersion 1.0
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "".join(p["text"] for a in task["artifacts"] for p in a["parts"]) == "echo: raw"

    stream = {**send, "id": "2", "method": "message/stream",
              "params": {"message": {**message, "messageId": uuid.uuid4().hex}}}
    with httpx.stream("POST", f"{gateway.url}/a2a/{AGENT}", json=stream, headers=AUTH, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    assert all(e.get("id") == "2" and "result" in e for e in events), events
    kinds = [next(iter(e["result"])) for e in events]
    assert kinds[0] == "task" and kinds.count("artifactUpdate") == 2 and kinds[-1] == "statusUpdate", kinds
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_a2a_routes_need_a_key(gateway):
    card = httpx.get(f"{gateway.url}/a2a/{AGENT}/.well-known/agent-card.json", timeout=30)
    call = httpx.post(f"{gateway.url}/a2a/{AGENT}", timeout=30,
                      json={"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}})
    assert (card.status_code, call.status_code) == (401, 401)


def test_unknown_agent_is_not_found(gateway):
    response = httpx.get(f"{gateway.url}/a2a/nobody/.well-known/agent-card.json", headers=AUTH, timeout=30)
    assert response.status_code == 404
