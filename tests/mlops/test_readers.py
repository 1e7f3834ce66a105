"""Each backend's reader on fixtures in that backend's own format yields the same calls and labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.mlops.errors import TraceFormatError
from gateway.mlops.extract import extract
from gateway.mlops.readers import read_spans

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = [("otlp", "otlp_file.jsonl"), ("jaeger", "jaeger_api.json"), ("tempo", "tempo_api.json"),
           ("xray", "xray_batch_get_traces.json")]


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_every_backend_yields_the_captured_calls_and_feedback(fmt, name):
    result = extract(read_spans(FIXTURES / name, fmt))
    calls = {c.response_id: c for c in result.calls}
    assert sorted(calls) == ["chatcmpl-1", "chatcmpl-2", "chatcmpl-3", "chatcmpl-4"]
    first = calls["chatcmpl-1"]
    assert first.query == "Write a Python function that reverses a list"
    assert first.candidates == ("demo-small", "demo-coder", "demo-large")
    assert (first.chosen, first.latency_ms) == ("demo-coder", 120.5)
    assert (first.prompt_tokens, first.completion_tokens) == (9, 14)
    assert first.cost_usd == pytest.approx(0.0000064)
    assert calls["chatcmpl-4"].error.startswith("Timeout")
    assert result.feedback == {"chatcmpl-1": [1.0], "chatcmpl-2": [0.5]}


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_spans_without_the_needed_attributes_are_skipped_and_counted(fmt, name):
    result = extract(read_spans(FIXTURES / name, fmt))
    assert result.skipped == {"capture span without query": 1}
    assert result.other_spans == 1


@pytest.mark.parametrize("fmt", ["otlp", "jaeger", "tempo", "xray"])
def test_a_file_of_another_format_is_refused_by_name(tmp_path, fmt):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(TraceFormatError, match=str(bad)):
        list(read_spans(bad, fmt))


def test_an_unknown_format_lists_the_valid_ones(tmp_path):
    with pytest.raises(TraceFormatError, match="valid: jaeger, otlp, tempo, xray"):
        list(read_spans(tmp_path / "x", "zipkin"))
