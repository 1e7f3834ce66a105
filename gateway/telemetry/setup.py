"""Set up the process's OpenTelemetry providers before LiteLLM starts (`configure`).

Decision (docs/observability.md): one provider per signal for the whole process.

- Metrics and logs: the gateway builds the MeterProvider and LoggerProvider with OTLP exporters
  and mTLS and publishes them as the OTel globals; LiteLLM's OTel integration reuses a global SDK
  provider when one is set, so its GenAI metrics and events ride the same pipeline.
- Traces: with `LITELLM_OTEL_V2=true` (GenAI semantic-convention spans, no content), LiteLLM
  builds its TracerProvider from the same `OTEL_EXPORTER_OTLP_*` variables and publishes it as
  the global at start-up; the gateway's tracers are the API's proxies and delegate to it. Without
  V2 the gateway builds and publishes the TracerProvider, and LiteLLM's legacy `otel` callback
  reuses it.

Python logging goes to OTLP through the SDK's `LoggingHandler` on the root logger; the records carry the
trace and span ids of the request that logged them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.telemetry import redact
from gateway.telemetry.logs import install_trace_filter, otlp_log_handler
from gateway.telemetry.settings import OtlpSettings

logger = logging.getLogger("gateway.telemetry")
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_state: dict[str, TelemetryHandle] = {}  # one set of providers per process: the OTel globals are set-once


@dataclass
class TelemetryHandle:
    """What `configure` built; `shutdown()` flushes every exporter (tests, clean stop)."""

    settings: OtlpSettings | None
    providers: list[Any] = field(default_factory=list)
    log_handler: logging.Handler | None = None

    def force_flush(self) -> None:
        for provider in self.providers:
            provider.force_flush()

    def shutdown(self) -> None:
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
        for provider in self.providers:
            provider.shutdown()


def _read(path) -> bytes | None:
    return path.read_bytes() if path is not None else None


def _grpc_credentials(s: OtlpSettings):
    import grpc

    return grpc.ssl_channel_credentials(root_certificates=_read(s.ca_file), private_key=_read(s.key_file),
                                        certificate_chain=_read(s.cert_file))


def _http_tls(s: OtlpSettings) -> dict[str, Any]:
    import requests

    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own CA (and applies
    # proxy variables): an exporter with an explicit site CA must not trust the environment.
    session = requests.Session()
    session.trust_env = False
    return {"session": session, "certificate_file": str(s.ca_file) if s.ca_file else None,
            "client_certificate_file": str(s.cert_file) if s.cert_file else None,
            "client_key_file": str(s.key_file) if s.key_file else None}


# signal -> (gRPC exporter, HTTP exporter), imported only when used
_EXPORTERS = {
    "traces": ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter:OTLPSpanExporter",
               "opentelemetry.exporter.otlp.proto.http.trace_exporter:OTLPSpanExporter"),
    "metrics": ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter:OTLPMetricExporter",
                "opentelemetry.exporter.otlp.proto.http.metric_exporter:OTLPMetricExporter"),
    "logs": ("opentelemetry.exporter.otlp.proto.grpc._log_exporter:OTLPLogExporter",
             "opentelemetry.exporter.otlp.proto.http._log_exporter:OTLPLogExporter"),
}


def exporter(s: OtlpSettings, signal: str):
    """The OTLP exporter for `signal` over the configured protocol, with the site's TLS material."""
    import importlib

    grpc_path, http_path = _EXPORTERS[signal]
    module, _, name = (grpc_path if s.protocol == "grpc" else http_path).partition(":")
    cls = getattr(importlib.import_module(module), name)
    if s.protocol != "grpc":
        return cls(endpoint=s.signal_url(signal), **_http_tls(s))
    if s.secure:
        return cls(endpoint=s.endpoint, credentials=_grpc_credentials(s), insecure=False)
    return cls(endpoint=s.endpoint, insecure=True)


def apply_verbose(litellm_settings: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> bool:
    """`litellm_settings.set_verbose: true` -> LiteLLM's and the gateway's loggers at DEBUG.

    LiteLLM's `set_verbose` alone prints to stdout; at DEBUG its loggers propagate to the root
    logger, so the debug records reach the console and OTLP like any other log record.
    Otherwise LiteLLM's loggers stay at WARNING, as under `litellm` itself (whose root logger is at
    WARNING), unless LITELLM_LOG names a level: they have no level of their own, so the gateway's
    INFO root would otherwise let several INFO records per request through, which cost ~9% of the
    proxy's CPU in `bench.proxy_vs_plain` (docs/performance.md).
    """
    environ = os.environ if environ is None else environ
    if not (litellm_settings or {}).get("set_verbose"):
        if not environ.get("LITELLM_LOG"):
            for name in LITELLM_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
        return False
    for name in (*LITELLM_LOGGERS, "gateway"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return True


def configure(settings: OtlpSettings | None, litellm_settings: Mapping[str, Any] | None = None,
              litellm_log: str = "") -> TelemetryHandle:
    """Build and publish the OTel providers for `settings` (None: no export); idempotent per process.

    Call it early in `gateway serve`, before LiteLLM's proxy is imported. `settings` and
    `litellm_log` come from the environment, validated once (`gateway.config.settings.ServeSettings`).
    """
    if "handle" in _state:
        return _state["handle"]
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    install_trace_filter()
    if apply_verbose(litellm_settings, {"LITELLM_LOG": litellm_log} if litellm_log else {}):
        sys.stdout = redact.RedactingStream(sys.stdout)  # set_verbose print()s request bodies
    handle = TelemetryHandle(settings)
    if settings is not None:
        resource = Resource.create({"service.name": settings.service_name})
        meters = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
            exporter(settings, "metrics"), export_interval_millis=settings.metric_interval_ms)])
        metrics.set_meter_provider(meters)
        handle.providers.append(meters)
        if not settings.litellm_owns_tracing:
            tracer_provider = TracerProvider(resource=resource)
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter(settings, "traces")))
            trace.set_tracer_provider(tracer_provider)
            handle.providers.append(tracer_provider)
        if settings.export_logs:
            log_provider = LoggerProvider(resource=resource)
            log_provider.add_log_record_processor(BatchLogRecordProcessor(exporter(settings, "logs")))
            set_logger_provider(log_provider)
            handle.providers.append(log_provider)
            handle.log_handler = otlp_log_handler(log_provider)
            logging.getLogger().addHandler(handle.log_handler)
        logger.info("telemetry: OTLP %s to %s (mTLS: %s), traces by %s", settings.protocol, settings.endpoint,
                    "on" if settings.cert_file else "off",
                    "LiteLLM (LITELLM_OTEL_V2)" if settings.litellm_owns_tracing else "the gateway")
    # Last, so the OTLP handler is covered too: no prompt text or key in any log line, DEBUG included.
    redact.install(LITELLM_LOGGERS)
    _state["handle"] = handle
    return handle
