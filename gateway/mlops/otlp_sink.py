"""An OTLP/HTTP receiver that writes what the OpenTelemetry Collector's `file` exporter writes: one
export request per line, OTLP/JSON (camelCase, hex ids), one file per signal, rotated by size.

It stands in for the collector where no collector package can be had (the otelcol role's
`otelcol_backend: sink`), and in tests. The trainer's glob reads its files as it reads the collector's.

- Loopback and plain HTTP by default:
  `gateway mlops otlp-sink --port 4318 --out /var/lib/otelcol/traces.json`.
- Any other address only with TLS and a client certificate from the site CA (`--tls-cert`,
  `--tls-key`, `--client-ca`, optionally `--client-cn`): on the appliance it sits behind the
  HAProxy TLS front, which checks CRLs and admits the manifest's clients.
- OTLP/HTTP only (protobuf bodies, gzip or not). OTLP/gRPC is not served: exporters pointed at it
  must use `http/protobuf`.
- Metrics and logs: written with `--metrics-out`/`--logs-out`, otherwise accepted and dropped, so
  that an exporter never retries or logs errors forever for a signal nobody reads.

- Bodies are bounded as the collector's OTLP/HTTP receiver bounds them (confighttp's
  `max_request_body_size`, default 20 MiB): a declared length over the cap is answered 413 before any
  of the body is read, and a gzip body may not inflate past it either; no or a bad content-length is
  answered 411 or 400. Each of these closes the connection (the unread body cannot be skipped).

Only the standard library, protobuf and opentelemetry-proto, and no import from `gateway`: the otelcol
role runs this file on its own (taken from the bundle's gateway wheel) in a venv of the sink's lock,
those two packages and nothing else (ansible/roles/otelcol/README.md).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROG = "gateway mlops otlp-sink"
ID_KEYS = ("traceId", "spanId", "parentSpanId")
HANDSHAKE_TIMEOUT = 10.0
# The collector's OTLP/HTTP default (confighttp `defaultMaxRequestBodySize = 20 * 1024 * 1024`).
MAX_REQUEST_BODY_SIZE = 20 * 2**20


def _request_class(signal: str):
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as cls
    elif signal == "metrics":
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest as cls
    else:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as cls
    return cls


def _hex_ids(node) -> None:
    """OTLP/JSON writes trace and span ids in hex; protobuf's generic JSON writes bytes in base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str) and value:
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def request_to_json(body: bytes, signal: str = "traces") -> str:
    """Decode an OTLP/protobuf export request of `signal` and encode it as OTLP/JSON."""
    from google.protobuf.json_format import MessageToDict

    request = _request_class(signal)()
    request.ParseFromString(body)
    doc = MessageToDict(request, use_integers_for_enums=True)
    _hex_ids(doc)
    return json.dumps(doc, separators=(",", ":"))


def _gunzip(body: bytes, limit: int) -> bytes | None:
    """The inflated body, or None past `limit` bytes: a small gzip body may not expand without bound."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit:
        return None
    if not inflater.eof:
        raise gzip.BadGzipFile("truncated gzip body")
    return out


class RotatingFile:
    """Appends lines; past `max_bytes` the file is renamed <stem>-<UTC time><suffix> (the collector's
    rotation names, so `traces*.json` matches both) and only `max_backups` renamed files are kept."""

    def __init__(self, path: Path, max_bytes: int = 100 * 2**20, max_backups: int = 10):
        self.path, self.max_bytes, self.max_backups = Path(path), max_bytes, max_backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def append(self, line: str) -> None:
        with self.lock:
            if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
                self._rotate()
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def _rotate(self) -> None:
        while True:  # a name per millisecond, as lumberjack's: wait one out rather than overwrite a backup
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
            target = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
            if not target.exists():
                break
            time.sleep(0.001)
        self.path.rename(target)
        backups = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
        for old in backups[: max(0, len(backups) - self.max_backups)]:
            old.unlink()


def server_tls(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """TLS 1.2+, a client certificate from `client_ca` required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(cert), str(key))
    return context


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _common_name(peer: dict) -> str:
    return next((value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"), "")


class OtlpFileSink:
    """The receiver. `out` takes traces; `metrics_out`/`logs_out` (None: accept and drop) the others."""

    def __init__(self, out: Path, port: int = 0, host: str = "127.0.0.1", *, metrics_out: Path | None = None,
                 logs_out: Path | None = None, tls: ssl.SSLContext | None = None,
                 client_cns: tuple[str, ...] = (), max_bytes: int = 100 * 2**20, max_backups: int = 10,
                 max_request_body_size: int = MAX_REQUEST_BODY_SIZE):
        if max_request_body_size <= 0:
            raise ValueError(f"--max-request-body-size {max_request_body_size}: give a positive number of bytes")
        if tls is None and not _is_loopback(host):
            # spans carry model names, teams and (with capture) query text: plaintext only on loopback
            raise ValueError(f"--host {host}: plain HTTP only on loopback; give --tls-cert, --tls-key and --client-ca")
        self.out = Path(out)
        self.files = {signal: RotatingFile(path, max_bytes, max_backups)
                      for signal, path in (("traces", out), ("metrics", metrics_out), ("logs", logs_out)) if path}
        self.dropped = {"metrics": 0, "logs": 0}
        self.max_request_body_size = max_request_body_size
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: exporters and HAProxy reuse connections

            def do_POST(self):  # noqa: N802 - http.server's name
                signal = self.path.removeprefix("/v1/")
                length = self._declared_length()
                if length is None:
                    return None  # answered, connection closed
                body = self.rfile.read(length)
                if signal not in ("traces", "metrics", "logs"):
                    return self._answer(404, b"not an OTLP/HTTP path: /v1/traces, /v1/metrics or /v1/logs")
                if "json" in (self.headers.get("content-type") or ""):
                    return self._answer(415, b"protobuf only (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)")
                try:
                    if self.headers.get("content-encoding") == "gzip":
                        body = _gunzip(body, sink.max_request_body_size)
                        if body is None:
                            return self._answer(413, f"the {signal} export inflates past max_request_body_size "
                                                f"{sink.max_request_body_size} bytes".encode(), close=True)
                    target = sink.files.get(signal)
                    if target is None:
                        _request_class(signal)().ParseFromString(body)  # still refuse garbage
                        sink.dropped[signal] += 1
                    else:
                        line = request_to_json(body, signal)
                        if line != "{}":  # an empty export (a probe) is answered, not written
                            target.append(line)
                except Exception as exc:  # noqa: BLE001 - a bad body is the client's error, said in the answer
                    return self._answer(400, f"cannot decode the {signal} export: {type(exc).__name__}".encode())
                return self._answer(200, b"", "application/x-protobuf")

            def _declared_length(self) -> int | None:
                """The body's length, or None once a refusal is answered: the cap is checked before a byte is read."""
                declared = self.headers.get("content-length")
                if self.headers.get("transfer-encoding") or declared is None:
                    self._answer(411, b"a content-length is required (no chunked bodies)", close=True)
                    return None
                if not declared.strip().isdigit():
                    self._answer(400, f"content-length {declared[:40]!r} is not a number of bytes".encode(),
                                 close=True)
                    return None
                length = int(declared)
                if length > sink.max_request_body_size:
                    self._answer(413, f"content-length {length} is over max_request_body_size "
                                 f"{sink.max_request_body_size} bytes".encode(), close=True)
                    return None
                return length

            def _answer(self, status: int, text: bytes, kind: str = "text/plain", close: bool = False) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(text)))
                if close:  # the body was not read: the next bytes on this connection are not a request
                    self.send_header("connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):  # quiet: one line per export would flood the journal
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                # The handshake runs in the request's thread: a slow client cannot stall accept().
                if tls is not None:
                    request.settimeout(HANDSHAKE_TIMEOUT)
                    try:
                        request = tls.wrap_socket(request, server_side=True)
                    except (ssl.SSLError, OSError):
                        request.close()
                        return
                    if client_cns and _common_name(request.getpeercert() or {}) not in client_cns:
                        request.close()
                        return
                    request.settimeout(None)
                try:
                    super().finish_request(request, client_address)
                finally:
                    request.close()  # the TLS socket: the raw one the server closes after this is detached

        family_host = host.strip("[]")
        Server.address_family = socket.AF_INET6 if ":" in family_host else socket.AF_INET
        self.server = Server((family_host, port), Handler)
        self.port = self.server.server_address[1]
        netloc = f"[{family_host}]" if ":" in family_host else family_host
        self.endpoint = f"{'https' if tls else 'http'}://{netloc}:{self.port}"

    def __enter__(self) -> OtlpFileSink:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options; `gateway mlops otlp-sink` and `python -m gateway.mlops.otlp_sink` share them."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1); any "
                        "other than loopback needs --tls-cert, --tls-key and --client-ca")
    parser.add_argument("--port", type=int, default=4318, help="port (default: 4318, OTLP/HTTP's)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the spans file (appended to)")
    parser.add_argument("--metrics-out", type=Path, metavar="FILE", help="the metrics file (default: accept, drop)")
    parser.add_argument("--logs-out", type=Path, metavar="FILE", help="the logs file (default: accept, drop)")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="its key")
    parser.add_argument("--client-ca", type=Path, metavar="PEM", help="CA bundle that clients' certificates chain to")
    parser.add_argument("--client-cn", action="append", default=[], metavar="CN",
                        help="admit only these client certificate CNs (repeatable; default: any from --client-ca)")
    parser.add_argument("--max-megabytes", type=int, default=100, help="rotate a file at this size (default: 100)")
    parser.add_argument("--max-backups", type=int, default=10, help="rotated files kept per signal (default: 10)")
    parser.add_argument("--max-request-body-size", type=int, default=MAX_REQUEST_BODY_SIZE, metavar="BYTES",
                        help="larger bodies, sent or inflated, get 413 (default: 20 MiB, the collector's)")


def build(args: argparse.Namespace) -> OtlpFileSink:
    """The sink of the parsed options; ValueError names a bad option, OSError a port that cannot be bound."""
    tls_files = (args.tls_cert, args.tls_key, args.client_ca)
    if any(tls_files) and not all(tls_files):
        raise ValueError("--tls-cert, --tls-key and --client-ca go together: give all three")
    for path in filter(None, tls_files):
        if not os.access(path, os.R_OK):
            raise ValueError(f"{path}: not a readable file")
    tls = server_tls(*tls_files) if all(tls_files) else None
    return OtlpFileSink(args.out, args.port, args.host, metrics_out=args.metrics_out, logs_out=args.logs_out,
                        tls=tls, client_cns=tuple(args.client_cn), max_bytes=args.max_megabytes * 2**20,
                        max_backups=args.max_backups, max_request_body_size=args.max_request_body_size)


def serve(sink: OtlpFileSink, args: argparse.Namespace) -> None:
    written = ", ".join(f"{signal} -> {f.path}" for signal, f in sink.files.items())
    print(f"OTLP/HTTP on {sink.endpoint}/v1/{{traces,metrics,logs}}: {written}; others accepted and dropped"
          f"{'; mTLS' if args.tls_cert else ''}", flush=True)
    sink.server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (no gateway CLI imports): exit 2 on bad options or a port in use."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        sink = build(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    serve(sink, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
