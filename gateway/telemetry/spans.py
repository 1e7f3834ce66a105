"""Span helpers for gateway features that LiteLLM's OTel integration does not cover.

`skill_span` is the hook for Skills invocations (issue 7, item 5, owned elsewhere): wrap an
invocation in it and the span follows the GenAI conventions for tool execution
(`gen_ai.operation.name = execute_tool`), nested in the request's trace, with no input or
output text unless the caller passes `capture_content=True` (an operator setting).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

tracer = trace.get_tracer("gateway.skills")

GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"


@contextmanager
def skill_span(skill: str, *, version: str = "", call_id: str = "", capture_content: bool = False,
               arguments: str | None = None) -> Iterator[Span]:
    """`execute_tool {skill}` span; an exception marks it ERROR (with `error.type`) and propagates."""
    attributes: dict[str, str] = {GEN_AI_OPERATION: "execute_tool", GEN_AI_TOOL_NAME: skill,
                                  GEN_AI_TOOL_TYPE: "skill"}
    if version:
        attributes["gateway.skill.version"] = version
    if call_id:
        attributes[GEN_AI_TOOL_CALL_ID] = call_id
    if capture_content and arguments is not None:
        attributes["gen_ai.tool.call.arguments"] = arguments
    with tracer.start_as_current_span(f"execute_tool {skill}", kind=trace.SpanKind.INTERNAL,
                                      attributes=attributes, record_exception=True,
                                      set_status_on_exception=False) as span:
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            raise
