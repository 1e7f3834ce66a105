"""Synthetic trace files as the collector's file exporter writes them (one OTLP/JSON export request per
line), for the fast test of the trainer's loop without torch (tests/mlops/test_native_loop_without_torch.py):
it needs labelled traces in seconds, without a gateway. The site test no longer uses them: there the
gateway's capture spans reach the OTLP sink and a shadow replay labels them (tests/ansible/test_site.py).

Each demo query is answered by each of the three demo models (one `gateway.capture.call` span each, as
shadow evaluation writes them) and scored (`gateway.feedback`): the model a `truth` names for the query's
category scores 1, the others 0. Two truths give two trained routers that route differently."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ansible.playbook import REPO

MODELS = ("demo-small", "demo-coder", "demo-large")


def _value(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": str(v)}


def _span(trace: int, span: int, name: str, attributes: dict) -> dict:
    start = 1_764_000_000_000_000_000 + span * 1_000_000
    return {"traceId": f"{trace:032x}", "spanId": f"{span:016x}", "parentSpanId": "", "flags": 1, "name": name,
            "kind": 1, "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 5_000_000),
            "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()], "status": {}}


def trace_lines(truth: dict[str, str], run: str) -> list[str]:
    """One export request per query: its three capture spans and their three scores."""
    queries = [json.loads(line) for line in (REPO / "examples/demo/queries.jsonl").read_text().splitlines() if line]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "gateway"}}]}
    lines = []
    for i, q in enumerate(queries):
        spans = []
        for j, model in enumerate(MODELS):
            rid = f"chatcmpl-{run}-{i}-{model}"
            sid = (i * 8 + j) * 2 + 1
            spans.append(_span(i + 1, sid, "gateway.capture.call", {
                "gateway.capture.response_id": rid, "gateway.capture.model_group": "auto",
                "gateway.capture.query": q["query"], "gateway.capture.candidates": list(MODELS),
                "gateway.capture.chosen": model, "gateway.capture.latency_ms": 12.0,
                "gateway.capture.strategy": "llmrouter-quality"}))
            spans.append(_span(i + 1, sid + 1, "gateway.feedback", {
                "gateway.feedback.response_id": rid, "gateway.feedback.source": "reference",
                "gateway.feedback.score": 1.0 if truth[q["category"]] == model else 0.0}))
        lines.append(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [
            {"scope": {"name": "gateway.capture"}, "spans": spans}]}]}, separators=(",", ":")))
    return lines


#: first truth: the large model is best everywhere; second: each category has its specialist
FIRST = {"general": "demo-large", "code": "demo-large", "reasoning": "demo-large"}
SECOND = {"general": "demo-small", "code": "demo-coder", "reasoning": "demo-large"}


def write_traces(path: Path, truth: dict[str, str], run: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(trace_lines(truth, run)) + "\n")
    return path
