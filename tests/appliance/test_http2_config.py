"""The generated HAProxy configuration offers HTTP/2 where users connect, and only there: a TLS front
passes TCP to uvicorn, which has no HTTP/2, so advertising h2 on a front would break every h2 client."""

from __future__ import annotations

import pytest

from tests.appliance.conftest import EXAMPLES

GENERATED = [p for p in EXAMPLES.glob("*/generated/haproxy/*.cfg")]


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
def test_only_the_load_balancer_offers_h2(path):
    binds = _binds(path.read_text())
    for frontend, lines in binds.items():
        for line in lines:
            if frontend == "loadbalancer":
                assert line.endswith(" alpn h2,http/1.1"), line
            else:
                assert "alpn" not in line, line


def test_the_examples_have_a_load_balancer():
    assert any("loadbalancer" in _binds(p.read_text()) for p in GENERATED)
