"""A real A2A agent built with `a2a-sdk` 1.x: JSON-RPC binding, agent card, streaming.

Every message runs as a task: `working` (with a status message), one artifact
`echo: <text>` sent in two chunks, then `completed`. `message/send` returns the finished
task; `message/stream` shows each step as its own SSE event.
"""

from __future__ import annotations

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Role, TaskState
from starlette.applications import Starlette

AGENT_NAME = "echo-agent"  # tests/agents/conftest.py AGENT_CARD_NAME


class EchoExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = context.get_user_input()
        task = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.update_status(
            TaskState.TASK_STATE_WORKING,
            new_text_message("echoing", context_id=task.context_id, task_id=task.id, role=Role.ROLE_AGENT),
        )
        answer = f"echo: {text}"
        half = len(answer) // 2
        await updater.add_artifact([new_text_part(answer[:half])], artifact_id="echo", name="echo",
                                   last_chunk=False)
        await updater.add_artifact([new_text_part(answer[half:])], artifact_id="echo", name="echo",
                                   append=True, last_chunk=True)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError("the echo agent finishes before it could be cancelled")


def agent_card(url: str) -> AgentCard:
    return AgentCard(
        name=AGENT_NAME,
        description="Echoes the user's text back as an artifact (gateway test peer).",
        version="1.0.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        capabilities=AgentCapabilities(streaming=True),
        skills=[AgentSkill(id="echo", name="Echo", description="Repeats the input", tags=["test"],
                           examples=["hello"])],
        supported_interfaces=[AgentInterface(protocol_binding="JSONRPC", url=url, protocol_version="1.0")],
    )


def build_app(url: str) -> Starlette:
    """The agent at `url` (its public address, written into the card): card + JSON-RPC at `/`."""
    card = agent_card(url)
    handler = DefaultRequestHandler(agent_executor=EchoExecutor(), task_store=InMemoryTaskStore(),
                                    agent_card=card)
    return Starlette(routes=create_agent_card_routes(card) + create_jsonrpc_routes(handler, rpc_url="/"))
