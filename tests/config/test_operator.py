"""The operator's LiteLLM config merged with the keys the appliance owns: owned keys are added, an owned
key the operator set differently (here or in an included file) is refused naming the file and the key."""

from __future__ import annotations

import pytest
import yaml

from gateway.cli import main
from gateway.config.loader import load_config
from gateway.config.operator import merge_owned
from gateway.errors import ConfigError
from tests.config.test_includes import write

OWNED = {
    "router_settings": {"routing_strategy": "llmrouter-knn", "routing_strategy_args": {"hot_reload": True}},
    "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    "litellm_settings": {"callbacks": ["otel"], "cache": True},
}
OPERATOR = {
    "model_list": [{"model_name": "auto", "litellm_params": {"model": "openai/a", "api_key": "os.environ/A_KEY"}}],
    "router_settings": {"fallbacks": [{"auto": ["backup"]}], "timeout": 30},
    "litellm_settings": {"callbacks": ["prometheus"], "drop_params": True},
}


def test_owned_keys_are_added_and_the_operators_keys_kept(tmp_path):
    merged = merge_owned(OPERATOR, OWNED, tmp_path / "operator.yaml")
    assert merged["router_settings"] == {"fallbacks": [{"auto": ["backup"]}], "timeout": 30,
                                         "routing_strategy": "llmrouter-knn",
                                         "routing_strategy_args": {"hot_reload": True}}
    assert merged["litellm_settings"] == {"callbacks": ["prometheus", "otel"], "drop_params": True, "cache": True}
    assert merged["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert merged["model_list"] == OPERATOR["model_list"] and "general_settings" not in OPERATOR


def test_the_same_value_is_accepted_and_a_listed_callback_not_repeated(tmp_path):
    operator = {"general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
                "litellm_settings": {"callbacks": ["otel", "prometheus"]}}
    merged = merge_owned(operator, OWNED, tmp_path / "operator.yaml")
    assert merged["litellm_settings"]["callbacks"] == ["otel", "prometheus"]


@pytest.mark.parametrize(("section", "key", "value"), [
    ("general_settings", "master_key", "sk-mine"),
    ("router_settings", "routing_strategy", "latency-based-routing"),
    ("litellm_settings", "cache", False),
])
def test_an_owned_key_set_differently_is_refused_naming_file_and_key(tmp_path, section, key, value):
    operator = {section: {key: value}}
    with pytest.raises(ConfigError) as info:
        merge_owned(operator, OWNED, tmp_path / "operator.yaml")
    assert info.value.source == str(tmp_path / "operator.yaml")
    assert info.value.key == f"{section}.{key}" and "owned by the appliance" in info.value.problem


def test_an_owned_key_in_an_included_file_is_refused_naming_that_file(tmp_path):
    write(tmp_path / "secrets.yaml", {"general_settings": {"master_key": "sk-hidden"}})
    with pytest.raises(ConfigError) as info:
        merge_owned({"include": ["secrets.yaml"]}, OWNED, tmp_path / "operator.yaml")
    assert info.value.source == str(tmp_path / "secrets.yaml") and info.value.key == "general_settings.master_key"
    assert "sk-hidden" not in str(info.value)


def test_a_callback_in_an_included_file_is_not_added_twice(tmp_path):
    write(tmp_path / "telemetry.yaml", {"litellm_settings": {"callbacks": ["otel"]}})
    merged = merge_owned({"include": ["telemetry.yaml"]}, OWNED, tmp_path / "operator.yaml")
    assert merged["litellm_settings"]["callbacks"] == ["otel"] and "include" not in merged


def test_owned_keys_survive_an_included_section_that_litellm_would_let_replace_them(tmp_path):
    """LiteLLM replaces a whole top-level section with an included file's: the result is flat instead."""
    write(tmp_path / "router.yaml", {"router_settings": {"fallbacks": [{"auto": ["backup"]}]}})
    merged = merge_owned({"include": ["router.yaml"], "router_settings": {"timeout": 5}}, OWNED,
                         tmp_path / "operator.yaml")
    assert "include" not in merged
    assert merged["router_settings"] == {"fallbacks": [{"auto": ["backup"]}], "routing_strategy": "llmrouter-knn",
                                         "routing_strategy_args": {"hot_reload": True}}


def test_callbacks_that_are_not_a_list_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"litellm_settings.callbacks: must be a list"):
        merge_owned({"litellm_settings": {"callbacks": "prometheus"}}, OWNED, tmp_path / "operator.yaml")


def test_the_cli_writes_once_then_reports_unchanged_and_the_result_loads(tmp_path, demo_artifact, capsys):
    write(tmp_path / "models.yaml", {"model_list": OPERATOR["model_list"]})
    operator = write(tmp_path / "operator.yaml",
                     {"include": ["models.yaml"], "litellm_settings": {"drop_params": True}})
    owned = write(tmp_path / "owned.yaml", {"router_settings": {
        "routing_strategy": "llmrouter-knn", "routing_strategy_args": {"model_path": str(demo_artifact)}}})
    out = tmp_path / "config.yaml"
    argv = ["config", "merge", "--operator", str(operator), "--owned", str(owned), "--out", str(out)]
    assert main(argv) == 0 and capsys.readouterr().out.startswith("written:")
    assert out.stat().st_mode & 0o777 == 0o640
    inode = out.stat().st_ino
    assert main(argv) == 0 and capsys.readouterr().out.startswith("unchanged:") and out.stat().st_ino == inode
    config = load_config(out)
    assert config.strategy == "llmrouter-knn" and config.model_list == OPERATOR["model_list"]
    assert "include" not in yaml.safe_load(out.read_text())


def test_the_cli_refusal_names_the_key_and_exits_2(tmp_path, capsys):
    operator = write(tmp_path / "operator.yaml", {"general_settings": {"master_key": "sk-mine"}})
    owned = write(tmp_path / "owned.yaml", {"general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}})
    out = tmp_path / "config.yaml"
    code = main(["config", "merge", "--operator", str(operator), "--owned", str(owned), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert f"{operator}: general_settings.master_key: is owned by the appliance" in capsys.readouterr().err
