"""gateway.telemetry.logs: records reach the LoggerProvider in the caller's trace, the export path's own do not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from gateway.telemetry.logs import TraceContextFilter, otlp_log_handler

tracer = TracerProvider().get_tracer("tests.telemetry")


@pytest.fixture
def exported() -> Iterator[tuple[logging.Handler, InMemoryLogRecordExporter]]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = otlp_log_handler(provider)
    yield handler, exporter
    provider.shutdown()


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers, log.propagate = [handler], False
    log.setLevel(logging.DEBUG)
    return log


def _records(exporter: InMemoryLogRecordExporter):
    return [data.log_record for data in exporter.get_finished_logs()]


def test_a_record_carries_the_trace_and_span_of_the_code_that_logged_it(exported):
    handler, exporter = exported
    log = _logger("gateway.routing.test", handler)
    with tracer.start_as_current_span("decision") as span:
        log.warning("routing decision %s", "model-a")
    (record,) = _records(exporter)
    ctx = span.get_span_context()
    assert (record.trace_id, record.span_id) == (ctx.trace_id, ctx.span_id)
    assert record.body == "routing decision model-a"
    assert (record.severity_text, record.severity_number) == ("WARN", SeverityNumber.WARN)
    assert record.attributes["code.function.name"].startswith("test_a_record_carries_the_trace")
    assert record.attributes["code.file.path"] == __file__ and record.attributes["code.line.number"] > 0
    assert exporter.get_finished_logs()[0].instrumentation_scope.name == "gateway.routing.test"


def test_outside_a_span_a_record_has_no_trace(exported):
    handler, exporter = exported
    _logger("gateway.startup", handler).info("started")
    (record,) = _records(exporter)
    assert record.trace_id == 0 and record.span_id == 0


def test_debug_records_and_exceptions_are_exported(exported):
    handler, exporter = exported
    log = _logger("LiteLLM", handler)
    log.debug("verbose")
    try:
        raise ValueError("upstream said no")
    except ValueError:
        log.exception("call failed")
    debug, error = _records(exporter)
    assert debug.severity_text == "DEBUG"
    assert error.severity_text == "ERROR" and error.body == "call failed"
    assert error.attributes["exception.type"] == "ValueError"
    assert error.attributes["exception.message"] == "upstream said no"


@pytest.mark.parametrize("name", ["opentelemetry.exporter.otlp", "grpc._channel", "urllib3.connectionpool"])
def test_the_export_path_own_records_are_not_exported(exported, name):
    handler, exporter = exported
    _logger(name, handler).error("collector unreachable")
    assert _records(exporter) == []


def test_trace_filter_stamps_ids_for_the_console_format():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    with tracer.start_as_current_span("s") as span:
        TraceContextFilter().filter(record)
    assert record.trace_id == f"{span.get_span_context().trace_id:032x}" and len(record.span_id) == 16
