"""Bad input stops the start with one message naming the file, the key and the valid choices."""

from __future__ import annotations

import json
import tarfile

import pytest

from gateway.config.loader import DEFAULT_MAX_REQUEST_SIZE_MB, LITELLM_FALLBACK_STRATEGY, load_config
from gateway.errors import ConfigError
from gateway.routing import artifact as fmt
from gateway.routing.runtime import RoutingRuntime
from tests.helpers import knn_config, write_config


def build(tmp_path, data):
    return RoutingRuntime.from_config(load_config(write_config(tmp_path, data)))


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model_list:\n  - model_name: a\n    litellm_params: {model: x\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "line" in err.value.key and "malformed YAML" in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_llmrouter_strategy_lists_valid_names(tmp_path, demo_artifact):
    data = knn_config(demo_artifact)
    data["router_settings"]["routing_strategy"] = "llmrouter-nearest"
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, data))
    assert err.value.key == "router_settings.routing_strategy"
    assert "llmrouter-nearest" in str(err.value) and "llmrouter-knn" in str(err.value)


def test_other_strategies_reach_litellm_untouched(tmp_path):
    for name in ("simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing",
                 "usage-based-routing"):
        data = {"model_list": [], "router_settings": {"routing_strategy": name, "routing_strategy_args": {"x": 1}}}
        config = load_config(write_config(tmp_path, data))
        assert config.strategy is None
        assert config.litellm == data


def test_llmrouter_strategy_is_taken_out_of_litellms_copy(tmp_path, demo_artifact):
    config = load_config(write_config(tmp_path, knn_config(demo_artifact)))
    assert config.strategy == "llmrouter-knn"
    assert config.litellm["router_settings"]["routing_strategy"] == LITELLM_FALLBACK_STRATEGY
    assert "routing_strategy_args" not in config.litellm["router_settings"]
    assert config.raw["router_settings"]["routing_strategy"] == "llmrouter-knn"


def test_missing_model_path(tmp_path, demo_artifact):
    with pytest.raises(ConfigError) as err:
        build(tmp_path, knn_config(tmp_path / "missing.tar"))
    assert err.value.key == "router_settings.routing_strategy_args.model_path"
    assert "not found" in str(err.value)


def test_unreadable_model_path(tmp_path, demo_artifact):
    bad = tmp_path / "garbage.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 10)
    with pytest.raises(ConfigError, match="not a readable artifact archive"):
        build(tmp_path, knn_config(bad))


def _rewrite(src, dst, mutate_manifest=None, mutate_arrays=None):
    with tarfile.open(src) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    if mutate_manifest:
        manifest = json.loads(files[fmt.MANIFEST])
        mutate_manifest(manifest)
        files[fmt.MANIFEST] = json.dumps(manifest).encode()
    if mutate_arrays:
        files[fmt.ARRAYS] = mutate_arrays(files[fmt.ARRAYS])
    return fmt.write_tar(files, dst)


def test_other_format_version(tmp_path, demo_artifact):
    art = _rewrite(demo_artifact, tmp_path / "v2.tar", lambda m: m.update(format_version=2))
    with pytest.raises(ConfigError, match="format_version 2 is not supported"):
        build(tmp_path, knn_config(art))


def test_bad_checksum(tmp_path, demo_artifact):
    def flip(data: bytes) -> bytes:
        return data[:-10] + bytes(b ^ 0xFF for b in data[-10:])

    art = _rewrite(demo_artifact, tmp_path / "tampered.tar", mutate_arrays=flip)
    with pytest.raises(ConfigError, match="checksum mismatch for arrays.npz"):
        build(tmp_path, knn_config(art))


def test_artifact_of_another_strategy(tmp_path, demo_artifact):
    data = knn_config(demo_artifact)
    data["router_settings"]["routing_strategy"] = "llmrouter-mlp"
    with pytest.raises(ConfigError, match="holds a llmrouter-knn model, not llmrouter-mlp"):
        build(tmp_path, data)


def test_candidates_the_config_lacks(tmp_path, demo_artifact):
    data = knn_config(demo_artifact)
    data["model_list"] = [d for d in data["model_list"] if "coder" not in d["litellm_params"]["model"]]
    with pytest.raises(ConfigError) as err:
        build(tmp_path, data)
    assert err.value.key == "model_list" and "demo-coder" in str(err.value)


def test_unknown_strategy_argument_is_refused(tmp_path, demo_artifact):
    data = knn_config(demo_artifact)
    data["router_settings"]["routing_strategy_args"]["modle_path"] = "typo"
    with pytest.raises(ConfigError) as err:
        build(tmp_path, data)
    assert err.value.key.endswith("modle_path") and "not a setting of llmrouter-knn" in str(err.value)
    assert str(err.value).startswith(str(tmp_path))


def test_wrong_type_of_known_argument(tmp_path, demo_artifact):
    data = knn_config(demo_artifact)
    data["router_settings"]["routing_strategy_args"]["reload_interval"] = "often"
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, data))
    assert err.value.key == "router_settings.routing_strategy_args.reload_interval"


def test_unknown_model_group(tmp_path, demo_artifact):
    data = knn_config(demo_artifact)
    data["router_settings"]["routing_strategy_args"]["model_groups"] = ["smart"]
    with pytest.raises(ConfigError, match="no such model group: smart"):
        build(tmp_path, data)


def test_cli_prints_one_clear_error(tmp_path):
    from gateway.cli import main

    path = tmp_path / "c.yaml"
    path.write_text("router_settings: {routing_strategy: llmrouter-bogus}\n")
    assert main(["check", "--config", str(path)]) == 2


def test_request_size_cap_has_a_default_and_the_operator_overrides_it(tmp_path):
    assert load_config(write_config(tmp_path, {"model_list": []})).max_request_size_mb == DEFAULT_MAX_REQUEST_SIZE_MB
    data = {"model_list": [], "general_settings": {"master_key": "sk-x", "max_request_size_mb": 25}}
    config = load_config(write_config(tmp_path, data))
    assert config.max_request_size_mb == 25 and config.max_request_size_bytes == 25 * 1024 * 1024
    # the gateway enforces it, so LiteLLM (which would warn on every request without a licence) never sees it
    assert config.litellm["general_settings"] == {"master_key": "sk-x"}
    assert config.raw["general_settings"]["max_request_size_mb"] == 25


@pytest.mark.parametrize("value", [0, -1, "10MB", True])
def test_bad_request_size_cap_names_the_key(tmp_path, value):
    data = {"model_list": [], "general_settings": {"max_request_size_mb": value}}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, data))
    assert err.value.key == "general_settings.max_request_size_mb"
    assert repr(value) in str(err.value) and "greater than 0" in str(err.value)
