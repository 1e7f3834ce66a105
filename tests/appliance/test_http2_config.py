"""The generated HAProxy configuration offers HTTP/2 where HTTP clients connect, and only there: the load
balancer and each gateway's front (http mode: h2 ends there, HTTP/1.1 to uvicorn). The other fronts pass
TCP to servers that speak no h2 (Redis, S3, OTLP), so advertising h2 there would break h2 clients."""

from __future__ import annotations

import pytest

from tests.appliance.conftest import EXAMPLES

GENERATED = [p for p in EXAMPLES.glob("*/generated/haproxy/*.cfg")]


def _http_frontends(text: str) -> set[str]:
    """frontends in http mode: the load balancer, and those built from the gateways' fronts' defaults."""
    return {line.split()[1] for line in text.splitlines()
            if line.startswith("frontend ") and line.endswith(("from load-balancer", "from gateway-fronts"))}


def _binds(text: str) -> dict[str, list[str]]:
    """frontend name -> its bind lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("frontend "):
            current = line.split()[1]
            out[current] = []
        elif current and line.strip().startswith("bind "):
            out[current].append(line)
    return out


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_only_http_frontends_offer_h2(path):
    text = path.read_text()
    http = _http_frontends(text)
    for frontend, lines in _binds(text).items():
        for line in lines:
            if frontend in http:
                assert line.endswith(" alpn h2,http/1.1"), line
            else:
                assert "alpn" not in line, line


def test_the_examples_have_a_load_balancer_and_gateway_fronts_in_http_mode():
    assert any("loadbalancer" in _binds(p.read_text()) for p in GENERATED)
    fronts = {f for p in GENERATED for f in _http_frontends(p.read_text())}
    assert {"gateway", "gateway-gw1", "gateway-gw2"} <= fronts, fronts
    assert not any(f.startswith(("redis", "s3", "otelcol")) for f in fronts), fronts
