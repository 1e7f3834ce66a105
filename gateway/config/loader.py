"""Load a LiteLLM config file and split off what belongs to the gateway.

LiteLLM refuses unknown routing strategies at start-up, so an `llmrouter-*` strategy and its
args are taken out here, and LiteLLM gets a config it accepts (`simple-shuffle`, whose pick
is moot once the gateway's filter has narrowed the candidates to the one it chose).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.config.models import RoutingStrategyArgs
from gateway.errors import ConfigError
from gateway.routing.registry import STRATEGIES, is_llmrouter

LITELLM_FALLBACK_STRATEGY = "simple-shuffle"


@dataclass(frozen=True)
class GatewayConfig:
    """A parsed config: the raw mapping, LiteLLM's share of it, and the ML routing part."""

    source: Path
    raw: dict[str, Any]
    litellm: dict[str, Any]
    strategy: str | None
    strategy_args: RoutingStrategyArgs | None

    @property
    def model_list(self) -> list[dict[str, Any]]:
        return list(self.raw.get("model_list") or [])


def read_yaml(path: Path) -> dict[str, Any]:
    """YAML to a mapping, with the file, line and column of a syntax error."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), "<file>", "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        raise ConfigError(str(path), where, f"malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "<root>", f"expected a mapping, got {type(data).__name__}")
    return data


def _validate_model_list(source: str, model_list: Any) -> None:
    if not isinstance(model_list, list):
        raise ConfigError(source, "model_list", "must be a list of deployments")
    for index, entry in enumerate(model_list):
        key = f"model_list[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(source, key, "must be a mapping with model_name and litellm_params")
        if not isinstance(entry.get("model_name"), str) or not entry["model_name"]:
            raise ConfigError(source, f"{key}.model_name", "missing or not a string")
        params = entry.get("litellm_params")
        if not isinstance(params, dict) or not isinstance(params.get("model"), str):
            raise ConfigError(source, f"{key}.litellm_params.model", "missing or not a string")


def parse_config(data: dict[str, Any], source: Path) -> GatewayConfig:
    """Validate the parts the gateway owns and build LiteLLM's share of the config."""
    name = str(source)
    _validate_model_list(name, data.get("model_list") or [])
    router_settings = data.get("router_settings") or {}
    if not isinstance(router_settings, dict):
        raise ConfigError(name, "router_settings", "must be a mapping")
    strategy = router_settings.get("routing_strategy")
    litellm_part = copy.deepcopy(data)
    if not is_llmrouter(strategy):
        return GatewayConfig(source, data, litellm_part, None, None)
    if strategy not in STRATEGIES:
        raise ConfigError(
            name,
            "router_settings.routing_strategy",
            f"unknown strategy '{strategy}'; valid: {', '.join(sorted(STRATEGIES))}",
        )
    raw_args = router_settings.get("routing_strategy_args") or {}
    if not isinstance(raw_args, dict):
        raise ConfigError(name, "router_settings.routing_strategy_args", "must be a mapping")
    try:
        args = RoutingStrategyArgs.model_validate(raw_args).resolved(source.parent)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        key = "router_settings.routing_strategy_args" + (f".{loc}" if loc else "")
        raise ConfigError(name, key, f"{first['msg']} (got {first.get('input')!r})") from None
    litellm_router = litellm_part.setdefault("router_settings", {})
    litellm_router["routing_strategy"] = LITELLM_FALLBACK_STRATEGY
    litellm_router.pop("routing_strategy_args", None)
    return GatewayConfig(source, data, litellm_part, strategy, args)


def load_config(path: str | Path) -> GatewayConfig:
    source = Path(path).resolve()
    return parse_config(read_yaml(source), source)
