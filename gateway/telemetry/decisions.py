"""One span and one structured log line per routing decision.

Prompt text is left out unless the operator turns on `log_query_text`: routing decisions are
useful to SREs without it, and prompts are often the most sensitive data on the host.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import trace
from prometheus_client import Counter, Histogram

logger = logging.getLogger("gateway.routing")
tracer = trace.get_tracer("gateway.routing")

DECISIONS = Counter("gateway_routing_decisions_total", "Routing decisions by strategy, model group and chosen model",
                    ["strategy", "model_group", "model"])
DECISION_SECONDS = Histogram("gateway_routing_decision_seconds", "Time to reach a routing decision",
                             ["strategy"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5))


class Decision(Protocol):
    """What a strategy chose (`gateway.routing.base.Decision` is one): described here, not imported,
    so that telemetry stays below routing in the import order."""

    @property
    def model(self) -> str: ...

    @property
    def scores(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class DecisionRecord:
    strategy: str
    model_group: str
    candidates: Sequence[str]
    decision: Decision
    decision_ms: float
    artifact_version: str = ""
    query: str | None = None  # only set when the operator allows query text in logs

    def attributes(self) -> dict[str, object]:
        attrs: dict[str, object] = {
            "gateway.routing.strategy": self.strategy,
            "gateway.routing.model_group": self.model_group,
            "gateway.routing.candidates": list(self.candidates),
            "gateway.routing.chosen": self.decision.model,
            "gateway.routing.decision_ms": round(self.decision_ms, 3),
            "gateway.routing.artifact_version": self.artifact_version,
        }
        score = self.decision.scores.get(self.decision.model)
        if score is not None:
            attrs["gateway.routing.score"] = float(score)
        if self.query is not None:
            attrs["gateway.routing.query"] = self.query
        return attrs


def record_decision(record: DecisionRecord) -> None:
    """Emit the span (a child of the request's span when there is one) and the log line."""
    attrs = record.attributes()
    DECISIONS.labels(record.strategy, record.model_group, record.decision.model).inc()
    DECISION_SECONDS.labels(record.strategy).observe(record.decision_ms / 1000)
    with tracer.start_as_current_span("gateway.routing.decision", attributes=attrs):
        # inside the span: the log record carries the decision's own span id
        logger.info("routing decision %s", json.dumps({k.rsplit(".", 1)[-1]: v for k, v in attrs.items()}))


# --- Training capture (issue 6): what the MLOps loop learns from, off unless the operator enables it.
# Span names and attribute keys are the contract with gateway/mlops/extract.py: change both together.
CAPTURE_SPAN = "gateway.capture.call"
FEEDBACK_SPAN = "gateway.feedback"
CAPTURE_PREFIX = "gateway.capture."
FEEDBACK_PREFIX = "gateway.feedback."


@dataclass(frozen=True)
class CaptureRecord:
    """One completed (or failed) routed call, with the query text: emitted only where capture is on."""

    response_id: str
    model_group: str
    query: str
    candidates: Sequence[str]
    chosen: str
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str = ""
    team: str = ""
    strategy: str = ""

    def attributes(self) -> dict[str, object]:
        return {
            CAPTURE_PREFIX + "response_id": self.response_id,
            CAPTURE_PREFIX + "model_group": self.model_group,
            CAPTURE_PREFIX + "query": self.query,
            CAPTURE_PREFIX + "candidates": list(self.candidates),
            CAPTURE_PREFIX + "chosen": self.chosen,
            CAPTURE_PREFIX + "latency_ms": round(float(self.latency_ms), 3),
            CAPTURE_PREFIX + "prompt_tokens": int(self.prompt_tokens),
            CAPTURE_PREFIX + "completion_tokens": int(self.completion_tokens),
            CAPTURE_PREFIX + "cost_usd": float(self.cost_usd),
            CAPTURE_PREFIX + "error": self.error,
            CAPTURE_PREFIX + "team": self.team,
            CAPTURE_PREFIX + "strategy": self.strategy,
        }


@dataclass(frozen=True)
class FeedbackRecord:
    """A quality label for an earlier response (0 = wrong/bad .. 1 = right/good), joined on response_id."""

    response_id: str
    score: float
    source: str = "user"  # user | reference | judge

    def attributes(self) -> dict[str, object]:
        return {
            FEEDBACK_PREFIX + "response_id": self.response_id,
            FEEDBACK_PREFIX + "score": float(self.score),
            FEEDBACK_PREFIX + "source": self.source,
        }


def record_capture(record: CaptureRecord) -> None:
    """Emit the capture span (never a log line: it holds the query text)."""
    with tracer.start_as_current_span(CAPTURE_SPAN, attributes=record.attributes()) as span:
        if record.error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, record.error[:200]))


def record_feedback(record: FeedbackRecord) -> None:
    with tracer.start_as_current_span(FEEDBACK_SPAN, attributes=record.attributes()):
        pass
