"""A minimal OTLP/HTTP traces receiver that writes what the OpenTelemetry Collector's `file`
exporter writes: one ExportTraceServiceRequest per line, OTLP/JSON (camelCase, hex ids).

For sites and tests without a collector (no collector binary is packaged for this appliance):

    gateway mlops otlp-sink --port 4318 --out /var/lib/gateway/traces/spans.jsonl

then `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`.
Loopback only, plain HTTP: put a real collector (mTLS receiver + file exporter) in front of it
anywhere else. The readers accept its output and the collector's alike.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def request_to_json(body: bytes) -> str:
    """Decode an OTLP/protobuf traces export and encode it as OTLP/JSON (ids in hex, as OTLP/JSON
    specifies; protobuf's generic JSON would write them in base64)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    doc = MessageToDict(request, use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(doc, separators=(",", ":"))


class OtlpFileSink:
    def __init__(self, out: Path, port: int = 0):
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                line = request_to_json(body)
                with sink.lock, sink.out.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpFileSink:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # the old name of `gateway mlops otlp-sink`
    from gateway.cli import main

    raise SystemExit(main(["mlops", "otlp-sink", *sys.argv[1:]]))
