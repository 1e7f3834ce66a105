"""Shared pieces: the loopback PKI, the OTLP receiver, a gateway process with telemetry on."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.gateway_process import GatewayProcess
from tests.observability.otlp_receiver import OtlpReceiver
from tests.observability.pki import loopback_pki

AUTH = {"Authorization": "Bearer sk-test"}
# Short export periods so a test sees its telemetry in about a second, and no CA override from
# the environment (requests lets these replace the OTLP CA; see docs/observability.md).
FAST_EXPORT = {"OTEL_METRIC_EXPORT_INTERVAL": "500", "OTEL_BSP_SCHEDULE_DELAY": "200",
               "OTEL_BLRP_SCHEDULE_DELAY": "200", "REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return loopback_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def receiver(pki):
    with OtlpReceiver(pki) as rx:
        yield rx


def chat(gateway, content: str, model: str = "auto", **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH, timeout=60)


def start_gateway(config, log, env: dict[str, str] | None = None) -> GatewayProcess:
    gw = GatewayProcess(config, log, env=env)
    try:
        gw.wait_ready()
    except Exception:
        gw.stop()
        raise
    return gw
