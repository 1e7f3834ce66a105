"""Read LLMRouter's model list (`llm_data_path`) into `registry.LLMInfo` records.

The file is LLMRouter's own format, so the same file serves training and the gateway:

    {"qwen2.5-7b": {"size": "7B", "feature": "...", "input_price": 0.2, "output_price": 0.2,
                    "model": "qwen/qwen2.5-7b-instruct", "service": "NVIDIA", "api_endpoint": "..."}}

Only `size`, `feature`, `input_price` and `output_price` matter to routing; `model`, `service`
and `api_endpoint` are LLMRouter's way of calling the model and are ignored (LiteLLM's
model_list says where a model lives). Prices are per million tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.routing.registry import LLMInfo

KNOWN_KEYS = {
    "size",
    "feature",
    "input_price",
    "output_price",
    "model",
    "service",
    "api_endpoint",
    "embedding",
}
_SUFFIX = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}


def parse_size(value: Any) -> float:
    """Billions of parameters from "7B", "512M", "1.5T", "70" or a number; like LLMRouter's parse_size.

    Raises ValueError (LLMRouter returns 0.0 silently; a typo here should be seen).
    """
    if isinstance(value, bool):
        raise ValueError(f"size {value!r} is not a size")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().upper()
        factor = _SUFFIX.get(text[-1:], None) if text else None
        number = float(text[:-1]) * factor if factor is not None else float(text)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"size {value!r} is not a non-negative number")
    return number


def _price(source: str, name: str, entry: Mapping[str, Any], key: str) -> float:
    value = entry.get(key, 0.0)
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            source, f"{name}.{key}", f"value {value!r} is not a number (price per 1M tokens)"
        ) from None
    if not math.isfinite(price) or price < 0:
        raise ConfigError(source, f"{name}.{key}", f"value {value!r} must be a non-negative number")
    return price


def parse_llm_data(data: Any, source: str = "<llm_data>") -> dict[str, LLMInfo]:
    """Validate an already-decoded model list; errors name the model and the key."""
    if not isinstance(data, dict):
        raise ConfigError(source, "<root>", "must be a JSON object {model_name: {size, input_price, ...}}")
    result: dict[str, LLMInfo] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise ConfigError(
                source, str(name), "must be an object with size, input_price, output_price, ..."
            )
        unknown = sorted(set(entry) - KNOWN_KEYS)
        if unknown:
            raise ConfigError(
                source, f"{name}.{unknown[0]}", f"unknown key; valid: {', '.join(sorted(KNOWN_KEYS))}"
            )
        size = 0.0
        if "size" in entry:
            try:
                size = parse_size(entry["size"])
            except ValueError as exc:
                raise ConfigError(source, f"{name}.size", f'{exc}; write e.g. "7B" or "512M"') from None
        result[str(name)] = LLMInfo(
            name=str(name),
            size=size,
            input_price=_price(source, name, entry, "input_price"),
            output_price=_price(source, name, entry, "output_price"),
            feature=str(entry.get("feature", "")),
        )
    return result


def load_llm_data(path: str | Path) -> dict[str, LLMInfo]:
    """Read and validate `path`; a ConfigError names the file, the model and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "llm_data_path", "file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), "<root>", f"not valid JSON ({exc})") from None
    return parse_llm_data(data, str(path))
