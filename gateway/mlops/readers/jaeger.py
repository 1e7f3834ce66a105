"""Jaeger's query API (`GET /api/traces?service=...` or `/api/traces/<id>`): `{"data": [trace]}`,
each span with `traceID`, `spanID`, `operationName`, `startTime`/`duration` in microseconds and
`tags` `[{"key", "type", "value"}]`. Jaeger stores OTel array attributes as a JSON string; they
are decoded here. Errors: tag `error=true` or `otel.status_code=ERROR`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.mlops.errors import TraceFormatError
from gateway.mlops.readers import load_json
from gateway.mlops.spans import Span


def _tag_value(tag: dict[str, Any]) -> Any:
    kind, value = tag.get("type", "string"), tag.get("value")
    if kind == "int64":
        return int(value)
    if kind == "float64":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def read(path: Path) -> Iterator[Span]:
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise TraceFormatError(f"{path}: no 'data' list; expected the Jaeger query API's /api/traces answer")
    for trace in data["data"]:
        for raw in trace.get("spans") or []:
            tags = {t["key"]: _tag_value(t) for t in raw.get("tags") or [] if "key" in t}
            start_ns = int(raw.get("startTime", 0)) * 1000
            error = tags.pop("error", False) is True or str(tags.get("otel.status_code", "")).upper() == "ERROR"
            yield Span(
                trace_id=str(raw.get("traceID", "")).lower(),
                span_id=str(raw.get("spanID", "")).lower(),
                name=str(raw.get("operationName", "")),
                start_ns=start_ns,
                end_ns=start_ns + int(raw.get("duration", 0)) * 1000,
                attributes=tags,
                error=error,
            )
