"""Grafana Tempo's query API: `GET /api/traces/<id>` (v1: `{"batches": [...]}`) or
`GET /api/v2/traces/<id>` (`{"trace": {"resourceSpans": [...]}}`). The payload is protobuf-JSON of
OTLP: same structure as the collector's file, but ids are base64 (decoded here) and enum/status
fields may be strings (`STATUS_CODE_ERROR`). A list of such documents (one per trace) is read too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gateway.mlops.errors import TraceFormatError
from gateway.mlops.readers import load_json
from gateway.mlops.readers.otlp_json import spans_of_request
from gateway.mlops.spans import Span


def read(path: Path) -> Iterator[Span]:
    data = load_json(path)
    docs = data if isinstance(data, list) else [data]
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise TraceFormatError(f"{path}: item {i} is not a Tempo trace object")
        body = doc.get("trace", doc)
        if "batches" not in body and "resourceSpans" not in body:
            raise TraceFormatError(f"{path}: item {i} has neither 'batches' nor 'trace.resourceSpans' "
                                   "(Tempo's /api/traces/<id> answer expected)")
        yield from spans_of_request(body, f"{path}[{i}]")
