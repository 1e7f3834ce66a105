"""The OTLP sink (the collector's stand-in): the OTel SDK's own OTLP/HTTP exporters over mutual TLS write
the collector's file format, which the trainer's reader reads; clients without the site CA's certificate,
plaintext off loopback and JSON bodies are refused."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys

import pytest

from gateway.mlops.extract import extract
from gateway.mlops.otlp_sink import OtlpFileSink, RotatingFile, server_tls
from gateway.mlops.readers import read_spans
from tests.reload.s3_store import site_pki

NAME = "otelcol-http.appliance.internal"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return site_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def sink(pki, tmp_path):
    tls = server_tls(pki / "servers/otelcol-http.chain.pem", pki / "servers/otelcol-http.key", pki / "ca-bundle.pem")
    with OtlpFileSink(tmp_path / "traces.json", metrics_out=tmp_path / "metrics.json", tls=tls,
                      client_cns=("gateway", "otelcol-http-front")) as running:
        yield running


def _exporters(pki, endpoint: str, client: str = "gateway"):
    """The SDK's OTLP/HTTP exporters, configured as the gateway's telemetry configures them."""
    from gateway.telemetry.settings import OtlpSettings
    from gateway.telemetry.setup import exporter

    settings = OtlpSettings(endpoint=endpoint, protocol="http",
                            ca_file=pki / "ca-bundle.pem", cert_file=pki / f"clients/{client}.chain.pem",
                            key_file=pki / f"clients/{client}.key")
    return {signal: exporter(settings, signal) for signal in ("traces", "metrics", "logs")}


def test_spans_metrics_and_logs_over_mtls_land_in_the_collectors_file_format(pki, sink, tmp_path, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from gateway.telemetry.decisions import CAPTURE_SPAN, CaptureRecord

    # The server certificate names the service: resolve its name to the sink's loopback address.
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real("127.0.0.1" if host in (NAME, "localhost")
                                                                           else host, *a, **k))
    exporters = _exporters(pki, f"https://{NAME}:{sink.port}")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporters["traces"]))
    record = CaptureRecord(response_id="chatcmpl-1", model_group="auto", query="what is 2+2?",
                           candidates=["demo-small", "demo-large"], chosen="demo-large", latency_ms=3.0)
    with provider.get_tracer("t").start_as_current_span(CAPTURE_SPAN, attributes=record.attributes()):
        pass
    provider.shutdown()

    lines = (tmp_path / "traces.json").read_text().splitlines()
    assert len(lines) == 1
    span = json.loads(lines[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16)  # hex, as OTLP/JSON says (not base64)
    calls = extract(read_spans(tmp_path / "traces.json", "otlp")).calls
    assert [(c.query, c.chosen) for c in calls] == [("what is 2+2?", "demo-large")]

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporters["metrics"])])
    meters.get_meter("t").create_counter("gateway.test").add(3)
    meters.shutdown()
    assert "gateway.test" in (tmp_path / "metrics.json").read_text()
    # logs have no file here: accepted and dropped, so the exporter reports success
    import logging

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    from gateway.telemetry.logs import otlp_log_handler

    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporters["logs"]))
    python_logger = logging.getLogger("tests.otlp_sink")
    handler = otlp_log_handler(logs)
    python_logger.addHandler(handler)
    try:
        python_logger.warning("hello")
    finally:
        python_logger.removeHandler(handler)
    logs.shutdown()
    assert sink.dropped["logs"] == 1 and not (tmp_path / "logs.json").exists()


def _handshake(pki, port: int, client: str | None) -> str:
    context = ssl.create_default_context(cafile=str(pki / "ca-bundle.pem"))
    if client:
        context.load_cert_chain(str(pki / f"clients/{client}.chain.pem"), str(pki / f"clients/{client}.key"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=NAME) as tls:
            tls.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return tls.recv(64).decode().split("\r\n")[0] or "closed"
    except (ssl.SSLError, ConnectionError) as exc:
        return f"refused: {type(exc).__name__}"


def test_a_client_without_a_certificate_or_with_another_cn_is_refused_and_an_admitted_one_answered(pki, sink):
    assert _handshake(pki, sink.port, None).startswith(("refused", "closed"))
    assert _handshake(pki, sink.port, "gateway-front") in ("closed", "refused: ConnectionResetError")  # CN not admitted
    assert _handshake(pki, sink.port, "otelcol-http-front") == "HTTP/1.1 200 OK"
    assert not sink.out.exists()  # an empty export is answered, not written as a line the readers must skip


def test_plaintext_off_loopback_and_half_a_tls_setup_are_refused_naming_the_options(tmp_path):
    with pytest.raises(ValueError, match="plain HTTP only on loopback"):
        OtlpFileSink(tmp_path / "t.json", host="198.18.0.10")
    done = subprocess.run([sys.executable, "-m", "gateway.mlops.otlp_sink", "--out", str(tmp_path / "t.json"),
                           "--port", "0", "--tls-cert", str(tmp_path / "c.pem")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--tls-cert, --tls-key and --client-ca go together" in done.stderr


def test_json_bodies_and_unknown_paths_get_clear_errors(tmp_path):
    import http.client

    with OtlpFileSink(tmp_path / "t.json") as plain:
        conn = http.client.HTTPConnection("127.0.0.1", plain.port, timeout=5)
        conn.request("POST", "/v1/traces", body=b"{}", headers={"content-type": "application/json"})
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (415, b"protobuf only (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)")
        conn.request("POST", "/v1/profiles", body=b"")
        assert conn.getresponse().status == 404
        conn.close()


def test_a_full_file_is_rotated_to_a_name_the_trainers_glob_matches_and_old_ones_pruned(tmp_path):
    rotating = RotatingFile(tmp_path / "traces.json", max_bytes=10, max_backups=2)
    for i in range(5):
        rotating.append(f"line-{i}-padding")
    rotated = sorted(p.name for p in tmp_path.glob("traces*.json"))
    assert len(rotated) == 3 and "traces.json" in rotated, rotated  # the live file and two backups
    assert all(name.startswith("traces-") for name in rotated if name != "traces.json")


def _head_only(pki, port: int, head: bytes) -> bytes:
    """Send a request's head and no body, as the front's identity; all the sink answers before it closes."""
    context = ssl.create_default_context(cafile=str(pki / "ca-bundle.pem"))
    context.load_cert_chain(str(pki / "clients/otelcol-http-front.chain.pem"),
                            str(pki / "clients/otelcol-http-front.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=NAME) as tls:
        tls.sendall(head)
        answer = b""
        while chunk := tls.recv(4096):  # a sink that waited for the body would time out here
            answer += chunk
        return answer


def test_a_body_over_the_cap_gets_413_before_it_is_read_and_the_sink_keeps_serving(pki, sink, tmp_path, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from gateway.mlops.otlp_sink import MAX_REQUEST_BODY_SIZE

    assert MAX_REQUEST_BODY_SIZE == 20 * 1024 * 1024  # the collector's confighttp default
    over = MAX_REQUEST_BODY_SIZE + 1
    answer = _head_only(pki, sink.port, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-protobuf"
                        b"\r\nContent-Length: %d\r\n\r\n" % over)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"connection: close" in answer.lower()
    assert answer.endswith(f"content-length {over} is over max_request_body_size {MAX_REQUEST_BODY_SIZE} bytes"
                           .encode())
    # The same server, right after: a normal export through the SDK's exporter is written.
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real("127.0.0.1" if host == NAME else host,
                                                                           *a, **k))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(
        _exporters(pki, f"https://{NAME}:{sink.port}", "otelcol-http-front")["traces"]))
    with provider.get_tracer("t").start_as_current_span("after-413"):
        pass
    provider.shutdown()
    assert '"after-413"' in (tmp_path / "traces.json").read_text()


def test_no_or_a_bad_content_length_and_a_gzip_body_inflating_past_the_cap_are_refused(tmp_path):
    import gzip
    import http.client

    from gateway.mlops.otlp_sink import request_to_json

    with OtlpFileSink(tmp_path / "t.json", max_request_body_size=1024) as small:
        def raw(head: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", small.port), timeout=5) as conn:
                conn.sendall(head)
                answer = b""
                while chunk := conn.recv(4096):
                    answer += chunk
                return answer

        assert raw(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 411 ")
        assert raw(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                   ).startswith(b"HTTP/1.1 411 ")
        bad = raw(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        assert bad.startswith(b"HTTP/1.1 400 ") and bad.endswith(b"content-length '-5' is not a number of bytes")
        conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=5)
        bomb = gzip.compress(b"\0" * 4096)  # 4 KiB inflated from a few dozen bytes
        assert len(bomb) < 1024
        conn.request("POST", "/v1/traces", body=bomb, headers={"content-encoding": "gzip"})
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (
            413, b"the traces export inflates past max_request_body_size 1024 bytes")
        conn.close()
        # within the cap, gzip or not, an export is still taken
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.add(name="small", trace_id=b"\1" * 16, span_id=b"\2" * 8)
        body = gzip.compress(request.SerializeToString())
        conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=5)
        conn.request("POST", "/v1/traces", body=body, headers={"content-encoding": "gzip"})
        assert conn.getresponse().status == 200
        conn.close()
        assert (tmp_path / "t.json").read_text() == request_to_json(request.SerializeToString()) + "\n"
    with pytest.raises(ValueError, match="--max-request-body-size 0"):
        OtlpFileSink(tmp_path / "t.json", max_request_body_size=0)
