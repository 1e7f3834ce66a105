"""Python logging into OTLP, and the current trace and span ids on every log record.

`TraceContextFilter` stamps `trace_id` and `span_id` (hex, empty outside a span) on each
record, so the console format can print them; `OtlpLogHandler` sends records through the
OpenTelemetry LoggerProvider, whose log records carry the same ids in their own fields.
LiteLLM's loggers propagate to the root logger, so `litellm_settings.set_verbose` debug output
takes the same path.
"""

from __future__ import annotations

import logging
from time import time_ns

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, LogRecord, SeverityNumber
from opentelemetry.context import get_current

CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s [trace_id=%(trace_id)s span_id=%(span_id)s]: %(message)s"
# Loggers of the export path itself: sending their records would feed the pipeline with its own noise
# (and recurse when the collector is down).
SKIPPED_LOGGERS = ("opentelemetry", "grpc", "urllib3", "requests", "hpack", "httpcore")
_SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}


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


class OtlpLogHandler(logging.Handler):
    """Hands each record to an OpenTelemetry LoggerProvider, in the caller's trace context."""

    def __init__(self, provider: LoggerProvider, level: int = logging.NOTSET):
        super().__init__(level)
        self.provider = provider

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SKIPPED_LOGGERS):
            return
        try:
            attributes: dict[str, str | int] = {
                "code.function.name": record.funcName,
                "code.line.number": record.lineno,
                "code.file.path": record.pathname,
                "logger.name": record.name,
            }
            if record.exc_info and record.exc_info[1] is not None:
                attributes["exception.type"] = type(record.exc_info[1]).__name__
                attributes["exception.message"] = str(record.exc_info[1])
            level = max((lvl for lvl in _SEVERITY if lvl <= record.levelno), default=logging.DEBUG)
            self.provider.get_logger(record.name).emit(LogRecord(
                timestamp=int(record.created * 1e9),
                observed_timestamp=time_ns(),
                context=get_current(),
                severity_text=_TEXT.get(record.levelname, record.levelname),
                severity_number=_SEVERITY[level],
                body=record.getMessage(),
                attributes=attributes,
            ))
        except Exception:  # a logging handler must not raise into the code that logged
            self.handleError(record)


def install_trace_filter(root: logging.Logger | None = None) -> None:
    """Stamp ids on every record passing the root logger's handlers (idempotent)."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
            handler.addFilter(TraceContextFilter())
            if handler.formatter is not None and "%(trace_id)" not in (handler.formatter._fmt or ""):
                handler.setFormatter(logging.Formatter(CONSOLE_FORMAT))
