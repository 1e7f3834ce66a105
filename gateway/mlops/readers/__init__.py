"""Trace readers, one per backend format; each yields `Span`s and raises TraceFormatError on a file
that is not that format. `read_spans(path, fmt)` picks the reader by name (imported lazily)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

from gateway.mlops.errors import TraceFormatError
from gateway.mlops.spans import Span

READERS = {
    "otlp": "gateway.mlops.readers.otlp_json:read",
    "jaeger": "gateway.mlops.readers.jaeger:read",
    "tempo": "gateway.mlops.readers.tempo:read",
    "xray": "gateway.mlops.readers.xray:read",
}


def read_spans(path: str | Path, fmt: str) -> Iterator[Span]:
    if fmt not in READERS:
        raise TraceFormatError(f"trace format '{fmt}' is unknown; valid: {', '.join(sorted(READERS))}")
    module, func = READERS[fmt].split(":")
    yield from getattr(importlib.import_module(module), func)(Path(path))


def load_json(path: Path):
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TraceFormatError(f"{path}: not valid JSON ({exc})") from None
