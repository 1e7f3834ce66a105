"""Spans -> captured calls and quality labels. Spans that lack what training needs are skipped and
counted by reason (`ExtractResult.skipped`), never fatal: traces come from many services."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.mlops.spans import Span
from gateway.telemetry.decisions import CAPTURE_PREFIX as C
from gateway.telemetry.decisions import CAPTURE_SPAN, FEEDBACK_SPAN
from gateway.telemetry.decisions import FEEDBACK_PREFIX as F

REQUIRED = ("response_id", "query", "candidates", "chosen")


@dataclass(frozen=True)
class CapturedCall:
    response_id: str
    model_group: str
    query: str
    candidates: tuple[str, ...]
    chosen: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    error: str
    team: str


@dataclass
class ExtractResult:
    calls: list[CapturedCall] = field(default_factory=list)
    feedback: dict[str, list[float]] = field(default_factory=dict)  # response_id -> scores
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    other_spans: int = 0

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (f"{len(self.calls)} captured calls, {sum(map(len, self.feedback.values()))} feedback labels, "
                f"{self.other_spans} other spans ignored, skipped: {skipped}")


def _number(value, kind=float):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def extract(spans: Iterable[Span], result: ExtractResult | None = None) -> ExtractResult:
    result = result or ExtractResult()
    for span in spans:
        a = span.attributes
        if span.name == CAPTURE_SPAN:
            missing = [k for k in REQUIRED if not a.get(C + k)]
            if missing:
                result.skipped[f"capture span without {missing[0]}"] += 1
                continue
            candidates = a[C + "candidates"]
            if isinstance(candidates, str):
                candidates = [c for c in candidates.split(",") if c]
            latency = _number(a.get(C + "latency_ms"))
            if latency is None:
                latency = (span.end_ns - span.start_ns) / 1e6
            result.calls.append(CapturedCall(
                response_id=str(a[C + "response_id"]),
                model_group=str(a.get(C + "model_group", "")),
                query=str(a[C + "query"]),
                candidates=tuple(str(c) for c in candidates),
                chosen=str(a[C + "chosen"]),
                latency_ms=float(latency),
                prompt_tokens=_number(a.get(C + "prompt_tokens"), int) or 0,
                completion_tokens=_number(a.get(C + "completion_tokens"), int) or 0,
                cost_usd=_number(a.get(C + "cost_usd")) or 0.0,
                error=str(a.get(C + "error") or ("error status" if span.error else "")),
                team=str(a.get(C + "team", "")),
            ))
        elif span.name == FEEDBACK_SPAN:
            rid, score = a.get(F + "response_id"), _number(a.get(F + "score"))
            if not rid or score is None or not 0.0 <= score <= 1.0:
                result.skipped["feedback span without response_id or a score in [0, 1]"] += 1
                continue
            result.feedback.setdefault(str(rid), []).append(score)
        else:
            result.other_spans += 1
    return result
