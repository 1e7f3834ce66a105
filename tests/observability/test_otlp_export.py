"""Traces, logs and metrics reach a real OTLP receiver over gRPC and HTTP, with mTLS.

The receiver decodes the real protobuf messages (`tests/observability/otlp_receiver.py`); the
assertions are on the exported spans, log records and metric points themselves.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request

import pytest

from tests.helpers import knn_config, write_config
from tests.observability.conftest import FAST_EXPORT, chat, start_gateway

pytestmark = pytest.mark.slow
SECRET = "kumquat-7731"


def by_name(spans, name):
    return [s for s in spans if s["name"] == name]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_request_trace_logs_and_metrics_arrive_over_mtls(protocol, tmp_path, receiver, demo_artifact, upstream):
    data = knn_config(demo_artifact, api_base=upstream.base_url)
    # set_verbose on the HTTP run: LiteLLM's debug records must take the same pipeline
    data["litellm_settings"] = {"callbacks": ["otel"], "set_verbose": protocol == "http"}
    env = {**receiver.env(protocol), **FAST_EXPORT, "LITELLM_OTEL_V2": "true", "OTEL_SERVICE_NAME": "gw-test",
           "LITELLM_OTEL_INTEGRATION_ENABLE_METRICS": "true"}
    gw = start_gateway(write_config(tmp_path, data), tmp_path / "gw.log", env)
    try:
        response = chat(gw, f"Write a Python function for project {SECRET}")
        assert response.status_code == 200, response.text
        trace_id = response.headers["traceresponse"].split("-")[1]

        # wait for every span the request should have: they end at different times, so one export
        # batch may hold only some of them
        expected = {"POST /v1/chat/completions", "route auto", "gateway.routing.decision", "chat auto"}

        def request_spans():
            spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
            return spans if expected <= {s["name"] for s in spans} else []

        spans = receiver.wait_for(request_spans, what=f"the request's spans {sorted(expected)}")
        assert {s["transport"] for s in spans} == {protocol}
        assert all(s["resource"]["service.name"] == "gw-test" for s in spans)
        (server,) = by_name(spans, "POST /v1/chat/completions")
        (route,) = by_name(spans, "route auto")
        (decision,) = by_name(spans, "gateway.routing.decision")
        (llm,) = by_name(spans, "chat auto")
        # one trace, nested: server -> route -> routing decision; server -> LLM call
        assert route["parent_span_id"] == server["span_id"] == llm["parent_span_id"]
        assert decision["parent_span_id"] == route["span_id"]
        chosen = response.headers["x-gateway-routed-model"]
        assert decision["attributes"]["gateway.routing.chosen"] == chosen
        assert decision["attributes"]["gateway.routing.strategy"] == "llmrouter-knn"
        # GenAI semantic conventions on the LLM call
        gen_ai = llm["attributes"]
        assert gen_ai["gen_ai.operation.name"] == "chat"
        assert gen_ai["gen_ai.provider.name"] == "openai"
        assert gen_ai["gen_ai.request.model"] == "auto"
        assert gen_ai["gen_ai.response.model"] == chosen
        assert gen_ai["gen_ai.usage.input_tokens"] > 0 and gen_ai["gen_ai.usage.output_tokens"] > 0
        # no prompt or response text anywhere (not configured)
        assert SECRET not in json.dumps(receiver.spans(), default=str)

        # wait for the records the checks below need: the request's records can arrive over several
        # export batches (CI once saw LiteLLM's debug lines without the decision's record)
        def request_logs():
            records = [r for r in receiver.logs() if r["trace_id"] == trace_id]
            has_decision = any(str(r["body"]).startswith("routing decision") for r in records)
            has_debug = protocol != "http" or any(r["severity"] == "DEBUG" and r["scope"].startswith("LiteLLM")
                                                  for r in records)
            return records if has_decision and has_debug else []

        logs = receiver.wait_for(request_logs, what="the routing decision's log record" + (
            " and LiteLLM's debug records (set_verbose: they should be exported)" if protocol == "http" else ""))
        decision_logs = [r for r in logs if str(r["body"]).startswith("routing decision")]
        assert decision_logs[0]["span_id"] == decision["span_id"]
        assert all(len(r["span_id"]) == 16 and r["span_id"] != "0" * 16 for r in logs)
        # nor in their attributes: the SDK's handler exports a record's `extra=` fields as attributes
        assert SECRET not in json.dumps([(r["body"], r["attributes"]) for r in logs if r["severity"] != "DEBUG"],
                                        default=str)

        metrics = receiver.wait_for(lambda: (m := receiver.metrics()) and "gen_ai.client.operation.duration" in m
                                    and "http.server.duration" in m and m, what="GenAI and HTTP server metrics")
        points = metrics["gen_ai.client.operation.duration"]
        assert any(p["attributes"].get("gen_ai.operation.name") == "chat" and p["count"] >= 1 for p in points), points
        if protocol == "grpc":
            assert "gateway" in receiver.peer_subjects  # the client certificate the collector saw
    finally:
        gw.stop()


def test_receiver_refuses_a_client_without_certificate(receiver, pki):
    """The mTLS in these tests is real: the site's client certificate is answered, no certificate
    ends at the handshake (the server's "certificate required" alert, or its close before any
    HTTP answer), on the same receiver."""
    def post(context):
        request = urllib.request.Request(f"{receiver.http_endpoint}/v1/traces", data=b"",
                                         headers={"content-type": "application/x-protobuf"})
        with urllib.request.urlopen(request, context=context, timeout=5) as answer:
            return answer.status

    admitted = ssl.create_default_context(cafile=str(pki.ca))
    admitted.load_cert_chain(pki.client_cert, pki.client_key)
    assert post(admitted) == 200
    with pytest.raises((ssl.SSLError, ConnectionResetError, urllib.error.URLError)) as refused:
        post(ssl.create_default_context(cafile=str(pki.ca)))
    assert re.search(r"CERTIFICATE_REQUIRED|certificate required|EOF occurred|UNEXPECTED_EOF|Connection reset",
                     str(refused.value)), refused.value
