"""Load a LiteLLM config file and split off what belongs to the gateway.

LiteLLM refuses unknown routing strategies at start-up, so an `llmrouter-*` strategy and its
args are taken out here, and LiteLLM gets a config it accepts (`simple-shuffle`, whose pick
is moot once the gateway's filter has narrowed the candidates to the one it chose).

`general_settings.max_request_size_mb` is the gateway's too: LiteLLM 1.108.7 enforces it only
for licensed (premium) users and otherwise logs a warning on every request, so the gateway
enforces it for everyone (`gateway.proxy.request_guard`), with a default, and takes it out of
LiteLLM's copy so that exactly one component answers an oversized body.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.config.includes import resolve_includes
from gateway.config.models import RoutingStrategyArgs
from gateway.errors import ConfigError
from gateway.routing.registry import STRATEGIES, is_llmrouter

LITELLM_FALLBACK_STRATEGY = "simple-shuffle"
REQUEST_SIZE_KEY = "max_request_size_mb"
#: MiB, as LiteLLM counts its MB. Twice the text of a 1M-token prompt (~4 MiB) plus room for
#: a few base64 images; bounds the memory one request can pin (LiteLLM holds several copies
#: of a body while it parses, logs and forwards it). Audio or large-image uploads need more.
DEFAULT_MAX_REQUEST_SIZE_MB = 10.0


@dataclass(frozen=True)
class GatewayConfig:
    """A parsed config: the raw mapping, LiteLLM's share of it, and the ML routing part."""

    source: Path
    raw: dict[str, Any]
    litellm: dict[str, Any]
    strategy: str | None
    strategy_args: RoutingStrategyArgs | None
    #: `general_settings.max_request_size_mb`: bodies larger than this are refused with a 413
    max_request_size_mb: float = DEFAULT_MAX_REQUEST_SIZE_MB
    #: the files `include:` pulled in (already merged into `raw` and `litellm`)
    includes: tuple[Path, ...] = ()

    @property
    def max_request_size_bytes(self) -> int:
        return int(self.max_request_size_mb * 1024 * 1024)

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


def _take_request_size(source: str, litellm_part: dict[str, Any]) -> float:
    """The body cap in MiB (default when unset); removed from LiteLLM's copy of the config."""
    settings = litellm_part.get("general_settings")
    if settings is None:
        return DEFAULT_MAX_REQUEST_SIZE_MB
    if not isinstance(settings, dict):
        raise ConfigError(source, "general_settings", "must be a mapping")
    value = settings.pop(REQUEST_SIZE_KEY, None)
    if value is None:
        return DEFAULT_MAX_REQUEST_SIZE_MB
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(source, f"general_settings.{REQUEST_SIZE_KEY}",
                          f"must be a number of MB greater than 0, got {value!r} (the cap cannot be turned off; "
                          f"default {DEFAULT_MAX_REQUEST_SIZE_MB:g})")
    return float(value)


def parse_config(data: dict[str, Any], source: Path) -> GatewayConfig:
    """Validate the parts the gateway owns and build LiteLLM's share of the config."""
    name = str(source)
    _validate_model_list(name, data.get("model_list") or [])
    router_settings = data.get("router_settings") or {}
    if not isinstance(router_settings, dict):
        raise ConfigError(name, "router_settings", "must be a mapping")
    strategy = router_settings.get("routing_strategy")
    litellm_part = copy.deepcopy(data)
    size_mb = _take_request_size(name, litellm_part)
    if not is_llmrouter(strategy):
        return GatewayConfig(source, data, litellm_part, None, None, size_mb)
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
    return GatewayConfig(source, data, litellm_part, strategy, args, size_mb)


def load_config(path: str | Path, relative_to: str | Path | None = None) -> GatewayConfig:
    """Read a config file with its `include:` files merged in.

    `relative_to`: the operator's `--config` when `path` is a new version of it fetched elsewhere
    (config hot reload from S3): includes and relative paths still resolve next to `--config`."""
    source = Path(relative_to or path).resolve()
    data, included = resolve_includes(read_yaml(Path(path).resolve()), source, read_yaml)
    return dataclasses.replace(parse_config(data, source), includes=included)
