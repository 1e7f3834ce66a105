"""The whole loop against real processes: the gateway (demo models on the fake upstream) serves
traffic with capture on -> its spans reach an OTLP/HTTP sink that writes the collector's file
format -> a shadow evaluation replays the captured queries to every candidate and scores them
against reference answers -> conversion -> knn trained by llmrouter-lib (training environment)
-> evaluation gate -> published to a loopback SeaweedFS S3 over mTLS -> the running gateway
hot-reloads it -> its decisions follow the new model.

The reference answers say the world changed: general questions are now answered correctly only
by demo-large (the demo artifact sends them to demo-small); code stays with demo-coder and
reasoning with demo-large.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from gateway.mlops.dataset import ScoreWeights
from gateway.mlops.extract import extract
from gateway.mlops.otlp_sink import OtlpFileSink
from gateway.mlops.pipeline import run_loop
from gateway.mlops.publish import publish_s3
from gateway.mlops.readers import read_spans
from gateway.mlops.shadow import ReferenceScorer, replay
from gateway.routing.demo import build_demo_artifact
from tests.helpers import DEMO_DIR, DEMO_MODELS, deployments, write_config
from tests.integration.gateway_process import GatewayProcess
from tests.reload.s3_store import put, s3_store, settings, site_pki

pytestmark = [pytest.mark.training, pytest.mark.slow]
NEW_TRUTH = {"general": "demo-large", "code": "demo-coder", "reasoning": "demo-large"}
PER_CATEGORY = 24  # all 72 demo queries: fewer and knn (k=5) misroutes too many held-out ones


def demo_queries() -> list[dict]:
    rows = [json.loads(line) for line in (DEMO_DIR / "queries.jsonl").read_text().splitlines() if line]
    picked: dict[str, list[dict]] = {}
    for row in rows:
        if len(picked.setdefault(row["category"], [])) < PER_CATEGORY:
            picked[row["category"]].append(row)
    return [row for group in picked.values() for row in group]


def loop_config(tmp_path: Path, pki: Path, port: int, api_base: str) -> Path:
    s3 = settings(pki, port).model_dump(mode="json")
    model_list = deployments("auto", DEMO_MODELS, api_base)
    for name in DEMO_MODELS:  # one group per candidate: what the shadow evaluation asks
        model_list += deployments(name, (name,), api_base)
    return write_config(tmp_path, {
        "model_list": model_list,
        "router_settings": {"routing_strategy": "llmrouter-knn", "routing_strategy_args": {
            "llm_data_path": str(DEMO_DIR / "llm_data.json"), "hot_reload": True, "reload_interval": 0.5,
            "model_s3_bucket": "artifacts", "model_s3_key": "routers/knn.tar", "s3": s3}},
        "general_settings": {"master_key": "sk-test"},
    })


def routed(client: httpx.Client, query: str) -> tuple[str, str]:
    response = client.post("/v1/chat/completions", json={"model": "auto",
                                                         "messages": [{"role": "user", "content": query}]})
    response.raise_for_status()
    return response.headers["x-gateway-routed-model"], response.json()["id"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_traces_to_training_to_hot_reload_changes_decisions(tmp_path, fake_upstream):
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    rows = demo_queries()
    pki = site_pki(tmp_path / "pki")
    with s3_store(pki) as port, OtlpFileSink(tmp_path / "traces" / "gateway.jsonl") as sink:
        put(pki, port, "artifacts", "routers/knn.tar", build_demo_artifact(tmp_path / "demo.tar").read_bytes())
        gateway = GatewayProcess(loop_config(tmp_path, pki, port, fake_upstream.base_url), tmp_path / "gateway.log",
                                 env={
                                     "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                                     "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "100",
                                     "GATEWAY_OTEL_LOGS": "false", "GATEWAY_CAPTURE": "all",
                                     "OPENBLAS_NUM_THREADS": "1"})
        try:
            gateway.wait_ready()
            timings["start"] = time.monotonic() - t0
            client = httpx.Client(base_url=gateway.url, headers={"Authorization": "Bearer sk-test"}, timeout=30)
            before, ids = {}, {}
            for row in rows:
                before[row["query"]], ids[row["query"]] = routed(client, row["query"])
            assert sum(before[r["query"]] == "demo-small" for r in rows if r["category"] == "general") >= 16
            # a user's label through the feedback route (joined on the response id)
            first = rows[0]["query"]
            answer = client.post("/gateway/feedback", json={"response_id": ids[first], "score": 0.0})
            assert answer.status_code == 200, answer.text
            assert client.post("/gateway/feedback", json={"response_id": "x", "score": 7}).status_code == 422

            def captured():
                result = extract(read_spans(sink.out, "otlp")) if sink.out.exists() else None
                return result if result and len(result.calls) >= len(rows) and result.feedback else None
            traffic = wait_for(captured, 30, "capture spans in the OTLP file")
            assert {c.query for c in traffic.calls} == {r["query"] for r in rows}
            assert all(c.candidates == DEMO_MODELS and c.chosen in DEMO_MODELS for c in traffic.calls)
            timings["traffic_and_capture"] = time.monotonic() - t0 - timings["start"]

            references = {r["query"]: f"answer from {NEW_TRUTH[r['category']]}" for r in rows}
            t1 = time.monotonic()
            counts = replay(client, sorted({c.query for c in traffic.calls}), list(DEMO_MODELS),
                            ReferenceScorer(references), tmp_path / "traces" / "shadow.jsonl")
            assert counts == {"replayed": 3 * len(rows), "scored": 3 * len(rows), "unscored": 0, "errors": 0}
            timings["shadow_eval"] = time.monotonic() - t1

            t1 = time.monotonic()
            admin = settings(pki, port, "admin")
            result = run_loop([("otlp", sink.out), ("otlp", tmp_path / "traces" / "shadow.jsonl")],
                              tmp_path / "work", "knn", ScoreWeights(), min_quality=0.75,
                              llm_data=json.loads((DEMO_DIR / "llm_data.json").read_text()),
                              publish=lambda a, r: publish_s3(a, admin, "artifacts", "routers/knn.tar", r))
            timings["convert_train_evaluate_publish"] = time.monotonic() - t1
            assert result.published
            assert result.stats["labelled"] >= 3 * len(rows)

            t1 = time.monotonic()
            probe = next(r["query"] for r in rows if r["category"] == "general")
            wait_for(lambda: routed(client, probe)[0] == "demo-large", 30, "the reloaded model's decision")
            timings["publish_to_new_decision"] = time.monotonic() - t1
            after = {r["query"]: routed(client, r["query"])[0] for r in rows}
            agree = sum(after[r["query"]] == NEW_TRUTH[r["category"]] for r in rows)
            assert agree >= 0.85 * len(rows), (agree, after)
            status = client.get("/hot-reload/status").json()
            assert json.dumps(status).count("s3://artifacts/routers/knn.tar") >= 1

            # the same traces through a quality router: gated the same way, its held-out
            # cost-quality curve (table and plot, the dial's point marked) in the evaluation report
            quality = run_loop([("otlp", sink.out), ("otlp", tmp_path / "traces" / "shadow.jsonl")],
                               tmp_path / "work-quality", "quality", ScoreWeights(), min_quality=0.75,
                               llm_data=json.loads((DEMO_DIR / "llm_data.json").read_text()))
            curve = (tmp_path / "work-quality" / "evaluation" / "quality-curve.md").read_text()
            assert "**(dial)**" in curve and "Δ vs best single" in curve
            assert (tmp_path / "work-quality" / "evaluation" / "quality-curve.svg").read_text().startswith("<svg")
            assert quality.artifact.name == "quality.tar"
        finally:
            gateway.stop()
    timings["total"] = time.monotonic() - t0
    print("loop timings (s):", {k: round(v, 1) for k, v in timings.items()})
