"""`python -m gateway.mlops loop` on bad input: a clear message and exit 1, nothing published."""

from __future__ import annotations

import json

from gateway.mlops.__main__ import main
from tests.mlops.fixtures.make_fixtures import otlp_span, resource


def write_otlp(path, spans):
    doc = {"resourceSpans": [{"resource": resource(), "scopeSpans": [{"scope": {"name": "t"},
                                                                       "spans": [otlp_span(*s) for s in spans]}]}]}
    path.write_text(json.dumps(doc) + "\n")
    return path


def capture(i, model, query="q"):
    return (f"{i:016x}", "gateway.capture.call", 0, 10, {
        "gateway.capture.response_id": f"r{i}", "gateway.capture.query": query,
        "gateway.capture.candidates": ["a", "b"], "gateway.capture.chosen": model}, False)


def feedback(i, score):
    return (f"{0xff + i:016x}", "gateway.feedback", 0, 1,
            {"gateway.feedback.response_id": f"r{i}", "gateway.feedback.score": score}, False)


def test_traces_with_labels_for_one_model_stop_before_training(tmp_path, capsys):
    traces = write_otlp(tmp_path / "t.jsonl", [capture(1, "a"), feedback(1, 1.0), capture(2, "a", "q2")])
    target = tmp_path / "serving" / "knn.tar"
    code = main(["loop", "--traces", f"otlp:{traces}", "--work", str(tmp_path / "w"), "--publish-path", str(target)])
    assert code == 1
    assert "a router needs labels for at least 2 models (run a shadow evaluation)" in capsys.readouterr().err
    assert not target.exists()


def test_traces_without_any_capture_span_say_so(tmp_path, capsys):
    traces = write_otlp(tmp_path / "t.jsonl", [("00000000000000bb", "litellm_request", 0, 1, {}, False)])
    assert main(["loop", "--traces", f"otlp:{traces}", "--work", str(tmp_path / "w")]) == 1
    assert "no labelled queries" in capsys.readouterr().err
