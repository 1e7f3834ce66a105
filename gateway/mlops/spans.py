"""One span, whatever backend stored it: what the readers yield and extraction reads."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    trace_id: str  # lowercase hex
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: bool = False


def hex_id(value: str) -> str:
    """OTLP/JSON ids are hex; protobuf-JSON (Tempo's API) writes the same bytes as base64."""
    text = str(value or "")
    if len(text) in (16, 32) and all(ch in "0123456789abcdefABCDEF" for ch in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text


def otlp_value(value: Mapping[str, Any]) -> Any:
    """An OTLP AnyValue (`{"stringValue": ...}` etc.) as a Python value; int64 arrive as strings."""
    if not isinstance(value, Mapping):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [otlp_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: otlp_value(kv.get("value", {})) for kv in (value["kvlistValue"] or {}).get("values", [])}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def otlp_attributes(items: Any) -> dict[str, Any]:
    return {item["key"]: otlp_value(item.get("value", {})) for item in items or [] if "key" in item}
