"""`include:` is merged by the gateway as LiteLLM 1.108.7 merges it, relative to the including file."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from gateway.config.includes import resolve_includes
from gateway.config.loader import load_config, read_yaml
from gateway.errors import ConfigError

MODEL = {"model_name": "a", "litellm_params": {"model": "openai/a"}}
OTHER = {"model_name": "b", "litellm_params": {"model": "openai/b"}}


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def nested_site(tmp_path):
    """root -> models/list.yaml -> (next to it) router.yaml; plus a file included twice."""
    write(tmp_path / "models" / "list.yaml", {"model_list": [OTHER], "include": ["router.yaml", "../shared.yaml"]})
    write(tmp_path / "models" / "router.yaml", {"router_settings": {"num_retries": 2, "fallbacks": [{"a": ["b"]}]}})
    write(tmp_path / "shared.yaml", {"litellm_settings": {"drop_params": True}, "model_list": [OTHER]})
    return write(tmp_path / "config.yaml", {
        "include": ["models/list.yaml", "shared.yaml"],
        "model_list": [MODEL],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": "sk-x"},
    })


def test_nested_includes_merge_relative_to_the_declaring_file(tmp_path):
    config = load_config(nested_site(tmp_path))
    assert [m["model_name"] for m in config.model_list] == ["a", "b", "b"]
    assert config.raw["router_settings"] == {"num_retries": 2, "fallbacks": [{"a": ["b"]}]}
    assert "include" not in config.raw and "include" not in config.litellm
    assert [p.name for p in config.includes] == ["list.yaml", "shared.yaml", "router.yaml"]


def test_same_result_as_litellms_own_resolver(tmp_path):
    from litellm.proxy.proxy_server import ProxyConfig

    root = nested_site(tmp_path)
    theirs = asyncio.run(ProxyConfig()._process_includes(read_yaml(root), str(root)))
    ours, _ = resolve_includes(read_yaml(root), root, read_yaml)
    assert ours == theirs


def test_a_routing_strategy_in_an_included_file_is_the_gateways(tmp_path, demo_artifact):
    write(tmp_path / "routing.yaml", {"router_settings": {
        "routing_strategy": "llmrouter-knn", "routing_strategy_args": {"model_path": str(demo_artifact)}}})
    config = load_config(write(tmp_path / "config.yaml", {"include": ["routing.yaml"], "model_list": [MODEL]}))
    assert config.strategy == "llmrouter-knn"
    assert config.litellm["router_settings"]["routing_strategy"] == "simple-shuffle"


def test_a_missing_include_names_the_declaring_file_and_the_entry(tmp_path):
    write(tmp_path / "models" / "list.yaml", {"include": ["nope.yaml"]})
    root = write(tmp_path / "config.yaml", {"include": ["models/list.yaml"]})
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert info.value.source == str(tmp_path / "models" / "list.yaml")
    assert info.value.key == "include[0]" and "'nope.yaml' not found" in info.value.problem


def test_include_must_be_a_list_of_paths(tmp_path):
    with pytest.raises(ConfigError, match=r"config.yaml: include: must be a list of file paths"):
        load_config(write(tmp_path / "config.yaml", {"include": "models.yaml"}))


def test_a_bad_included_file_names_its_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("model_list: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "config.yaml", {"include": ["bad.yaml"]}))
    assert info.value.source == str(tmp_path / "bad.yaml") and info.value.key.startswith("line ")


def test_a_fetched_copy_resolves_includes_next_to_the_operators_file(tmp_path):
    write(tmp_path / "site" / "models.yaml", {"model_list": [OTHER]})
    operator = write(tmp_path / "site" / "config.yaml", {"include": ["models.yaml"]})
    fetched = write(tmp_path / "download" / "config.yaml", {"include": ["models.yaml"], "model_list": [MODEL]})
    config = load_config(fetched, relative_to=operator)
    assert [m["model_name"] for m in config.model_list] == ["a", "b"] and config.source == operator
