"""An OTLP receiver for tests: gRPC (4317-style) and HTTP/protobuf (4318-style), both with mTLS.

No collector binary can be had here, so this stands in for one at the wire level: it serves the
real OTLP services (`opentelemetry.proto.collector.*`), requires a client certificate from the
site CA, decodes every export into the real protobuf messages and keeps them for assertions.

    with OtlpReceiver(pki) as rx:
        rx.grpc_endpoint, rx.http_endpoint   # https://127.0.0.1:port
        rx.spans(), rx.logs(), rx.metrics()  # flattened dicts, see below
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as logs_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2 as metrics_pb,
)
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2_grpc as metrics_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from tests.observability.pki import Loopback

HTTP_PATHS = {
    "/v1/traces": (trace_pb.ExportTraceServiceRequest, trace_pb.ExportTraceServiceResponse, "traces"),
    "/v1/metrics": (metrics_pb.ExportMetricsServiceRequest, metrics_pb.ExportMetricsServiceResponse, "metrics"),
    "/v1/logs": (logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse, "logs"),
}


def any_value(v) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs(kvs) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


class OtlpReceiver:
    def __init__(self, pki: Loopback):
        self.pki = pki
        self.lock = threading.Lock()
        self.received: dict[str, list[tuple[str, Any]]] = {"traces": [], "metrics": [], "logs": []}
        self.peer_subjects: list[str] = []

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> OtlpReceiver:
        self._start_grpc()
        self._start_http()
        return self

    def __exit__(self, *exc) -> None:
        self.grpc_server.stop(grace=0.5)
        self.http_server.shutdown()
        self.http_server.server_close()

    def _store(self, kind: str, transport: str, request) -> None:
        with self.lock:
            self.received[kind].append((transport, request))

    def _start_grpc(self) -> None:
        receiver = self

        class Traces(trace_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802 - the generated API's name
                receiver._peer(context)
                receiver._store("traces", "grpc", request)
                return trace_pb.ExportTraceServiceResponse()

        class Metrics(metrics_grpc.MetricsServiceServicer):
            def Export(self, request, context):  # noqa: N802
                receiver._store("metrics", "grpc", request)
                return metrics_pb.ExportMetricsServiceResponse()

        class Logs(logs_grpc.LogsServiceServicer):
            def Export(self, request, context):  # noqa: N802
                receiver._store("logs", "grpc", request)
                return logs_pb.ExportLogsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        metrics_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        logs_grpc.add_LogsServiceServicer_to_server(Logs(), server)
        credentials = grpc.ssl_server_credentials(
            [(self.pki.server_key.read_bytes(), self.pki.server_cert.read_bytes())],
            root_certificates=self.pki.ca.read_bytes(), require_client_auth=True,
        )
        self.grpc_port = server.add_secure_port("127.0.0.1:0", credentials)
        server.start()
        self.grpc_server = server

    def _peer(self, context) -> None:
        auth = context.auth_context()
        with self.lock:
            self.peer_subjects += [s.decode() for s in auth.get("x509_common_name", [])]

    def _start_http(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                spec = HTTP_PATHS.get(self.path)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if spec is None or self.headers.get("content-type") != "application/x-protobuf":
                    self.send_error(404 if spec is None else 415)
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request_type, response_type, kind = spec
                receiver._store(kind, "http", request_type.FromString(body))
                payload = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        context.load_verify_locations(self.pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED  # mTLS: no client certificate, no handshake
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.http_port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.http_server = server

    @property
    def grpc_endpoint(self) -> str:
        return f"https://localhost:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"https://localhost:{self.http_port}"

    def env(self, protocol: str) -> dict[str, str]:
        """The standard OTLP variables for one transport, with the site's CA and client identity."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.grpc_endpoint if protocol == "grpc" else self.http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc" if protocol == "grpc" else "http/protobuf",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(self.pki.ca),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(self.pki.client_cert),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(self.pki.client_key),
        }

    # -- decoded views ----------------------------------------------------------------------------
    def spans(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            batches = list(self.received["traces"])
        for transport, request in batches:
            for rs in request.resource_spans:
                resource = attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append({
                            "transport": transport, "resource": resource, "scope": ss.scope.name,
                            "name": s.name, "kind": s.kind, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(), "attributes": attrs(s.attributes),
                            "status": s.status.code, "status_message": s.status.message,
                            "events": [(e.name, attrs(e.attributes)) for e in s.events],
                        })
        return out

    def logs(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            batches = list(self.received["logs"])
        for transport, request in batches:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        out.append({
                            "transport": transport, "scope": sl.scope.name, "body": any_value(r.body),
                            "severity": r.severity_text, "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(),
                            "attributes": attrs(r.attributes), "resource": attrs(rl.resource.attributes),
                        })
        return out

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Metric name -> data points (attributes + value/count/sum), latest batches last."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            batches = list(self.received["metrics"])
        for transport, request in batches:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        for p in getattr(m, kind).data_points:
                            point = {"transport": transport, "kind": kind, "attributes": attrs(p.attributes)}
                            if kind in ("sum", "gauge"):
                                point["value"] = getattr(p, p.WhichOneof("value"))
                            else:
                                point.update(count=p.count, sum=p.sum)
                            out.setdefault(m.name, []).append(point)
        return out

    def wait_for(self, check, timeout: float = 30.0, what: str = "telemetry"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"no {what} after {timeout}s; received: "
                             f"{ {k: len(v) for k, v in self.received.items()} }")
