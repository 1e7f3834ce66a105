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
