"""Shared fixtures: offline defaults for every test, the fake upstream, a gateway process."""

from __future__ import annotations

import pytest

from gateway.proxy.offline import apply_offline_defaults

apply_offline_defaults()


@pytest.fixture(scope="session")
def fake_upstream():
    from tests.fake_upstream import start_fake_upstream

    handle = start_fake_upstream(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def upstream(fake_upstream):
    """The session's fake upstream with behaviour and request log reset for this test."""
    fake_upstream.reset()
    yield fake_upstream
    fake_upstream.reset()


@pytest.fixture(scope="session")
def demo_artifact(tmp_path_factory):
    from gateway.routing.demo import build_demo_artifact

    return build_demo_artifact(tmp_path_factory.mktemp("demo") / "knn-artifact.tar")


@pytest.fixture(scope="session")
def span_exporter():
    """An in-memory OTel exporter behind the process's tracer provider (set once per session)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(span_exporter):
    span_exporter.clear()
    yield span_exporter
    span_exporter.clear()
