"""Python logging into OTLP, and the current trace and span ids on every log record.

`TraceContextFilter` stamps `trace_id` and `span_id` (hex, empty outside a span) on each
record, so the console format can print them; `otlp_log_handler` is the OpenTelemetry SDK's
`LoggingHandler` on the gateway's LoggerProvider, whose log records carry the same ids in their
own fields (taken from the caller's context). The body is the record's message; attributes are
`code.*`, `exception.*` and any `extra=` fields; the instrumentation scope is the logger's name.
LiteLLM's loggers propagate to the root logger, so `litellm_settings.set_verbose` debug output
takes the same path.
"""

from __future__ import annotations

import logging
import warnings

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider

CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s [trace_id=%(trace_id)s span_id=%(span_id)s]: %(message)s"
# Loggers of the export path itself: sending their records would feed the pipeline with its own noise
# (and recurse when the collector is down).
SKIPPED_LOGGERS = ("opentelemetry", "grpc", "urllib3", "requests", "hpack", "httpcore")


def current_ids() -> tuple[str, str]:
    """The active trace and span ids as lowercase hex, or two empty strings outside a span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


class TraceContextFilter(logging.Filter):
    """Adds `record.trace_id` and `record.span_id`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id, record.span_id = current_ids()
        return True


class ExportPathFilter(logging.Filter):
    """Drops the records of SKIPPED_LOGGERS, for the OTLP handler only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(SKIPPED_LOGGERS)


def otlp_log_handler(provider: LoggerProvider, level: int = logging.NOTSET) -> logging.Handler:
    """The SDK's handler, sending each record through `provider` in the caller's trace context."""
    from opentelemetry.sdk._logs import LoggingHandler

    with warnings.catch_warnings():
        # SDK 1.45 points to opentelemetry-instrumentation-logging instead; that package is not in
        # the locks, and this handler is the one the pinned SDK ships and tests.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level, logger_provider=provider)
    handler.addFilter(ExportPathFilter())
    return handler


def install_trace_filter(root: logging.Logger | None = None) -> None:
    """Stamp ids on every record passing the root logger's handlers (idempotent)."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
            handler.addFilter(TraceContextFilter())
            if handler.formatter is not None and "%(trace_id)" not in (handler.formatter._fmt or ""):
                handler.setFormatter(logging.Formatter(CONSOLE_FORMAT))
