"""AWS X-Ray segment documents, as `aws xray batch-get-traces` returns them
(`{"Traces": [{"Id", "Segments": [{"Id", "Document": "<JSON string>"}]}]}`), or a list of
segment documents. The ADOT/collector X-Ray exporter writes OTel attributes to
`metadata.default` (keys unchanged) or, for indexed attributes, to `annotations`, where X-Ray
allows only letters, digits and `_`: a dot becomes `_`. Both are read; annotation keys are
mapped back through `known_keys`. Subsegments are spans too. Times are epoch seconds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gateway.mlops.errors import TraceFormatError
from gateway.mlops.readers import load_json
from gateway.mlops.spans import Span
from gateway.telemetry.decisions import CAPTURE_PREFIX, FEEDBACK_PREFIX, CaptureRecord, FeedbackRecord


def _known_keys() -> dict[str, str]:
    record = CaptureRecord("", "", "", [], "", 0.0)
    keys = list(record.attributes()) + list(FeedbackRecord("", 0.0).attributes())
    return {k.replace(".", "_"): k for k in keys if k.startswith((CAPTURE_PREFIX, FEEDBACK_PREFIX))}


def _trace_id(xray_id: str) -> str:
    """`1-5f84c7a1-a1b2c3d4e5f6a7b8c9d0e1f2` -> the 32-hex OTel id (epoch part + random part)."""
    parts = str(xray_id).split("-")
    return (parts[1] + parts[2]).lower() if len(parts) == 3 else str(xray_id).lower()


def _segments(doc: dict[str, Any], trace_id: str) -> Iterator[Span]:
    known = _known_keys()
    attrs: dict[str, Any] = {}
    for key, value in (doc.get("metadata") or {}).get("default", {}).items():
        attrs[key] = value
    for key, value in (doc.get("annotations") or {}).items():
        attrs.setdefault(known.get(key, key), value)
    start = float(doc.get("start_time", 0.0))
    end = float(doc.get("end_time", start))
    yield Span(
        trace_id=trace_id,
        span_id=str(doc.get("id", "")),
        name=str(doc.get("name", "")),
        start_ns=int(round(start * 1e9)),
        end_ns=int(round(end * 1e9)),
        attributes=attrs,
        error=bool(doc.get("error") or doc.get("fault")),
    )
    for sub in doc.get("subsegments") or []:
        yield from _segments(sub, trace_id)


def _documents(data: Any, path: Path) -> Iterable[dict[str, Any]]:
    if isinstance(data, dict) and "Traces" in data:
        for trace in data["Traces"]:
            for segment in trace.get("Segments") or []:
                raw = segment.get("Document")
                try:
                    yield json.loads(raw) if isinstance(raw, str) else raw
                except json.JSONDecodeError as exc:
                    raise TraceFormatError(
                        f"{path}: segment {segment.get('Id')} Document is not JSON ({exc})") from None
    elif isinstance(data, list):
        yield from data
    else:
        raise TraceFormatError(f"{path}: expected BatchGetTraces output ('Traces') or a list of segment documents")


def read(path: Path) -> Iterator[Span]:
    for doc in _documents(load_json(path), path):
        if not isinstance(doc, dict) or "trace_id" not in doc:
            raise TraceFormatError(f"{path}: a segment document without 'trace_id'")
        yield from _segments(doc, _trace_id(doc["trace_id"]))
