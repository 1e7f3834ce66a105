"""The OpenTelemetry Collector's `file` exporter (format: json): one ExportTraceServiceRequest per
line, OTLP/JSON encoding (camelCase keys, hex ids, int64 as strings). A plain single-document
OTLP/JSON file is read too. Old collectors wrote `instrumentationLibrarySpans`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gateway.mlops.errors import TraceFormatError
from gateway.mlops.spans import Span, hex_id, otlp_attributes

STATUS_ERROR = 2


def spans_of_request(doc: Mapping[str, Any], where: str) -> Iterator[Span]:
    """Spans of one OTLP traces document (`resourceSpans`, or Tempo's `batches`)."""
    resource_spans = doc.get("resourceSpans", doc.get("batches"))
    if not isinstance(resource_spans, list):
        raise TraceFormatError(f"{where}: no 'resourceSpans' list; is this an OTLP/JSON traces file?")
    for rs in resource_spans:
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for scope in scopes:
            for raw in scope.get("spans") or []:
                status = raw.get("status") or {}
                code = status.get("code", 0)
                yield Span(
                    trace_id=hex_id(raw.get("traceId", "")),
                    span_id=hex_id(raw.get("spanId", "")),
                    name=str(raw.get("name", "")),
                    start_ns=int(raw.get("startTimeUnixNano") or 0),
                    end_ns=int(raw.get("endTimeUnixNano") or 0),
                    attributes=otlp_attributes(raw.get("attributes")),
                    error=code in (STATUS_ERROR, "STATUS_CODE_ERROR"),
                )


def read(path: Path) -> Iterator[Span]:
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.strip()
    if not stripped:
        return
    try:  # one document (pretty-printed or not)
        docs = [json.loads(stripped)]
    except json.JSONDecodeError:
        docs = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TraceFormatError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
    for i, doc in enumerate(docs, 1):
        yield from spans_of_request(doc, f"{path}:{i}")
