"""Retries, fallbacks, context-window fallbacks and timeouts against injected upstream faults;
the final error carries details; `/metrics` and the exported spans count them.

One gateway process serves every scenario (a start costs ~10 s on this machine).
"""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import DEMO_MODELS, deployments, wait_until, write_config
from tests.observability.conftest import AUTH, FAST_EXPORT, chat, start_gateway

pytestmark = pytest.mark.slow
PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}


def deployment(upstream, group, model=None, **params):
    return {"model_name": group,
            "litellm_params": {"model": f"openai/{model or group}", "api_base": upstream.base_url, "api_key": "x",
                               **params},
            "model_info": PRICES}


def scrape(gateway) -> dict[str, list]:
    text = httpx.get(f"{gateway.url}/metrics/", headers=AUTH, timeout=10).text
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    return samples


def total(samples, name, **labels) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def test_faults_are_retried_fallen_back_timed_out_and_counted(tmp_path, receiver, demo_artifact, upstream):
    from tests.helpers import DEMO_DIR

    upstream.configure({"models": {
        "flaky": {"fail": "server_error", "fail_next": 2},            # 2 failures, then answers
        "primary": {"fail": "rate_limit", "retry_after": 0},           # always 429 -> fallback
        "small-ctx": {"context_window": 5},                           # long prompts -> context error
        "slow": {"fail": "timeout", "hang_s": 5},                     # hangs past the 1 s timeout
        "broken": {"fail": "server_error"},                           # always 500, no fallback
    }})
    data = {
        "model_list": [deployment(upstream, g) for g in ("flaky", "primary", "backup", "small-ctx", "big-ctx",
                                                          "broken")]
        + [deployment(upstream, "slow", timeout=1)]                       # per-model timeout
        + deployments("auto", DEMO_MODELS, upstream.base_url),
        "router_settings": {
            "num_retries": 2, "retry_after": 0, "timeout": 20,              # global timeout
            "fallbacks": [{"primary": ["backup"]}],
            "context_window_fallbacks": [{"small-ctx": ["big-ctx"]}],
            "routing_strategy": "llmrouter-knn",
            "routing_strategy_args": {"model_path": str(demo_artifact),
                                      "llm_data_path": str(DEMO_DIR / "llm_data.json"), "model_groups": ["auto"]},
        },
        "litellm_settings": {"callbacks": ["prometheus", "otel"]},
        "general_settings": {"master_key": "sk-test"},
    }
    env = {**receiver.env("grpc"), **FAST_EXPORT, "LITELLM_OTEL_V2": "true"}
    gw = start_gateway(write_config(tmp_path, data), tmp_path / "gw.log", env)
    try:
        r = chat(gw, "hi", model="flaky")
        assert r.status_code == 200 and r.headers["x-litellm-attempted-retries"] == "2"
        flaky_trace = r.headers["traceresponse"].split("-")[1]

        r = chat(gw, "hi", model="primary")
        assert r.status_code == 200 and r.json()["model"] == "backup"
        assert r.headers["x-litellm-attempted-fallbacks"] == "1"
        fallback_trace = r.headers["traceresponse"].split("-")[1]

        r = chat(gw, "one two three four five six seven eight", model="small-ctx")
        assert r.status_code == 200 and r.json()["model"] == "big-ctx"

        started = time.monotonic()
        r = chat(gw, "hi", model="slow")
        elapsed = time.monotonic() - started
        assert r.status_code == 408, r.text
        error = r.json()["error"]["message"]
        assert "timeout value=1.0" in error and "model group 'slow'" in error
        assert elapsed < 15, f"3 attempts of 1 s each should not take {elapsed:.1f} s"

        r = chat(gw, "hi", model="broken")
        assert r.status_code == 500
        error = r.json()["error"]["message"]
        assert "The server had an error while processing your request (fake upstream)" in error
        assert "no fallback model group" in error

        assert chat(gw, "Write a Python function", model="auto").status_code == 200

        attempts = [q["model"] for q in upstream.requests()]
        assert attempts.count("flaky") == 3 and attempts.count("primary") == 3 and attempts.count("broken") == 3
        assert attempts.count("slow") == 3

        assert httpx.get(f"{gw.url}/metrics/", timeout=10).status_code == 401  # LiteLLM's auth on /metrics
        # LiteLLM's Prometheus callback counts a request in a logging task that can run after the answer
        # has been sent: scrape until every count below is in (or 60 s pass), then assert each one.
        expected = [
            ("gateway_retries_total", {"model_group": "flaky"}, 2),
            ("gateway_fallbacks_total", {"model_group": "backup"}, 1),
            ("gateway_fallbacks_total", {"model_group": "big-ctx"}, 1),
            ("litellm_deployment_successful_fallbacks_total", {}, 2),
            ("litellm_proxy_total_requests_metric_total", {"route": "/v1/chat/completions"}, 6),
            ("litellm_proxy_failed_requests_metric_total", {"exception_status": "408"}, 1),
            ("litellm_proxy_failed_requests_metric_total", {"exception_status": "500"}, 1),
            ("litellm_request_total_latency_metric_count", {}, 4),  # the four answered requests
            ("litellm_spend_metric_total", {"model": "backup"}, 0.007),
            ("gateway_routing_decisions_total", {"strategy": "llmrouter-knn", "model_group": "auto"}, 1),
        ]

        def counted():
            m = scrape(gw)
            return m if all(total(m, n, **labels) == pytest.approx(v) for n, labels, v in expected) else None

        m = wait_until(counted, timeout=60) or scrape(gw)
        for name, labels, value in expected:
            assert total(m, name, **labels) == pytest.approx(value), f"{name}{labels} after 60 s"
        assert len({s.labels["le"] for s in m["litellm_request_total_latency_metric_bucket"]}) > 5  # P50/P95/P99
        assert {s.labels["team"] for s in m["litellm_spend_metric_total"]} == {"None"}  # per team (no teams here)
        assert "gateway_reloads_total" in m

        def attempt_spans():
            # Every span asserted below, not the first batch that holds the fallback's: the flaky
            # request's spans and the fallback's can reach the receiver in different batches.
            spans = receiver.spans()
            flaky = [s for s in spans if s["trace_id"] == flaky_trace]
            fallback = {s["name"] for s in spans if s["trace_id"] == fallback_trace}
            if (sum(s["name"] == "route flaky" for s in flaky) >= 3
                    and any(s["name"] == "chat flaky" and s["status"] == 2 for s in flaky)
                    and {"route primary", "route backup", "chat backup"} <= fallback):
                return spans
            return None

        spans = receiver.wait_for(attempt_spans, what="the flaky request's 3 route spans and failed chat span, "
                                  "and the fallback's route primary/route backup/chat backup spans")
        flaky = [s for s in spans if s["trace_id"] == flaky_trace]
        assert sum(s["name"] == "route flaky" for s in flaky) == 3                 # one per attempt
        failed = [s for s in flaky if s["name"] == "chat flaky" and s["status"] == 2]
        assert failed and failed[0]["attributes"]["error.type"] == "InternalServerError"
        fallback = {s["name"] for s in spans if s["trace_id"] == fallback_trace}
        assert {"route primary", "route backup", "chat backup"} <= fallback
    finally:
        gw.stop()
