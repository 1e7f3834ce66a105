"""examples/agents/config.yaml stays the shape the tests run (addresses aside) and loads."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.config.loader import parse_config
from tests.agents.conftest import gateway_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents" / "config.yaml"
ADDRESSES = {"a2a": "http://a2a", "mcp_http": "http://h", "mcp_sse": "http://s", "inventory": "http://i"}


def shape(value):
    """Keys all the way down; lists of mappings by their items' keys; leaves dropped."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [shape(item) for item in value]
    return None


def test_example_has_the_tested_keys():
    example = yaml.safe_load(EXAMPLE.read_text())
    assert shape(example) == shape(gateway_config(ADDRESSES, "http://fake"))


def test_example_loads_and_reaches_litellm_unchanged():
    data = yaml.safe_load(EXAMPLE.read_text())
    config = parse_config(data, EXAMPLE)
    assert config.litellm["mcp_servers"] == data["mcp_servers"]
    assert config.litellm["agents"] == data["agents"]
