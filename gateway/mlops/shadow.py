"""Shadow evaluation: replay captured queries to every candidate through the gateway and score the
answers, to get a quality label for every (query, model) pair - what routers learn from.

Each candidate is asked through its own model group (a group named like the candidate, one
deployment: the gateway does not route it). The answer is scored against reference answers
(`ReferenceScorer`: 1.0 when the normalised reference occurs in the answer) or by a judge model
group (`JudgeScorer`: the judge answers a 0-10 grade). Each replay is written as the same
`gateway.capture.call` span the gateway emits plus a `gateway.feedback` span (source `reference`
or `judge`), to an OTLP/JSON file in the collector's file-exporter format, so conversion reads
live traffic and shadow labels alike.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
from tqdm import tqdm

from gateway.telemetry.decisions import CAPTURE_SPAN, FEEDBACK_SPAN, CaptureRecord, FeedbackRecord


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


class ReferenceScorer:
    def __init__(self, references: Mapping[str, str]):
        self.references = {q: _norm(a) for q, a in references.items()}

    def __call__(self, query: str, answer: str) -> float | None:
        ref = self.references.get(query)
        return None if ref is None else float(ref in _norm(answer))


class JudgeScorer:
    """Ask `judge_group` through the gateway for a 0-10 grade; None if it gives none."""

    PROMPT = ("Grade the answer to the question from 0 (wrong) to 10 (fully correct). Reply with the number only.\n"
              "Question: {query}\nAnswer: {answer}\nGrade:")

    def __init__(self, client: httpx.Client, judge_group: str):
        self.client, self.group = client, judge_group

    def __call__(self, query: str, answer: str) -> float | None:
        body = {"model": self.group, "messages": [{"role": "user", "content": self.PROMPT.format(query=query,
                                                                                                  answer=answer)}]}
        text = self.client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
        match = re.search(r"\d+(\.\d+)?", text or "")
        return None if match is None else min(10.0, float(match.group())) / 10.0


class OtlpJsonFile:
    """An OTel SDK tracer writing OTLP/JSON lines (the collector's file-exporter format) to a file."""

    def __init__(self, path: Path, service: str = "gateway-shadow-eval"):
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

        from gateway.mlops.otlp_sink import request_to_json

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)

        class Exporter(SpanExporter):
            def export(self, spans):
                with target.open("a", encoding="utf-8") as out:
                    out.write(request_to_json(encode_spans(spans).SerializeToString()) + "\n")
                return SpanExportResult.SUCCESS

        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(Exporter()))
        self.tracer = self.provider.get_tracer("gateway.mlops.shadow")

    def emit(self, name: str, attributes: Mapping[str, object]) -> None:
        with self.tracer.start_as_current_span(name, attributes=dict(attributes)):
            pass

    def close(self) -> None:
        self.provider.shutdown()


def replay(client: httpx.Client, queries: Sequence[str], candidates: Sequence[str],
           scorer: Callable[[str, str], float | None], out: Path, model_group: str = "auto") -> dict[str, int]:
    """Ask every candidate every query; write capture + feedback spans to `out`. Returns counts."""
    sink = OtlpJsonFile(out)
    counts = {"replayed": 0, "scored": 0, "unscored": 0, "errors": 0}
    try:
        pairs = [(q, m) for q in queries for m in candidates]
        for query, model in tqdm(pairs, desc="shadow evaluation", unit="call"):
            started = time.perf_counter()
            body = {"model": model, "messages": [{"role": "user", "content": query}]}
            error, answer, data = "", "", {}
            try:
                response = client.post("/v1/chat/completions", json=body)
                response.raise_for_status()
                data = response.json()
                answer = data["choices"][0]["message"]["content"] or ""
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            latency = (time.perf_counter() - started) * 1000
            usage = data.get("usage") or {}
            response_id = data.get("id") or f"shadow-{uuid.uuid4().hex}"
            sink.emit(CAPTURE_SPAN, CaptureRecord(
                response_id=response_id, model_group=model_group, query=query, candidates=list(candidates),
                chosen=model, latency_ms=latency, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)), error=error, strategy="shadow",
            ).attributes())
            counts["replayed"] += 1
            if error:
                counts["errors"] += 1
                continue
            score = scorer(query, answer)
            if score is None:
                counts["unscored"] += 1
                continue
            sink.emit(FEEDBACK_SPAN, FeedbackRecord(response_id, score, source="reference").attributes())
            counts["scored"] += 1
    finally:
        sink.close()
    return counts
