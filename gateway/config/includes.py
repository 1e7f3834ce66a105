"""LiteLLM's `include:` directive, resolved by the gateway exactly as LiteLLM 1.108.7 resolves it.

The gateway must see the whole config (a `model_list` or a `router_settings.routing_strategy`
can live in an included file), and LiteLLM is handed a derived copy that sits elsewhere
(`gateway serve` writes it to a private directory, since the operator's directory is read-only
under systemd). So includes are merged here, relative to the operator's file, and the derived
copy carries no `include:` left to resolve against the wrong directory.

LiteLLM's rules (`litellm/proxy/common_utils/config_includes.py`), kept: an entry is relative to
the file that declares it (a file next to the root config is still found, as LiteLLM allows for
older configs); included files are merged in the order met, breadth first; a top-level list is
extended, any other top-level value is replaced; a file already read is not read again.
`tests/config/test_includes.py` compares this with LiteLLM's own resolver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

INCLUDE_KEY = "include"
logger = logging.getLogger("gateway.config")


def include_entries(config: dict[str, Any], declared_in: Path) -> list[str]:
    """The `include:` list of one file; anything but a list of paths is an error naming the file."""
    if INCLUDE_KEY not in config:
        return []
    entries = config[INCLUDE_KEY]
    if not isinstance(entries, list) or not all(isinstance(entry, str) and entry for entry in entries):
        raise ConfigError(str(declared_in), INCLUDE_KEY, f"must be a list of file paths, got {entries!r}")
    return list(entries)


def resolve_entry(entry: str, declared_in: Path, root: Path) -> Path:
    """The file an entry names: next to the declaring file, else (LiteLLM's leniency) next to the root."""
    declared = (declared_in.parent / entry).resolve()
    beside_root = (root.parent / entry).resolve()
    if declared == beside_root or not beside_root.exists() or declared.exists():
        return declared
    logger.warning("config include '%s' declared in %s was not found next to it; read %s instead",
                   entry, declared_in, beside_root)
    return beside_root


def _merge(base: dict[str, Any], included: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in included.items():
        if key == INCLUDE_KEY:
            continue
        old = merged.get(key)
        merged[key] = [*old, *value] if isinstance(old, list) and isinstance(value, list) else value
    return merged


def resolve_includes(config: dict[str, Any], source: Path,
                     read: Callable[[Path], dict[str, Any]]) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """The config with every included file merged in (no `include:` key left), and the files read."""
    root = source.resolve()
    pending = [(entry, index, root) for index, entry in enumerate(include_entries(config, root))]
    loaded: list[Path] = [root]
    merged = {key: value for key, value in config.items() if key != INCLUDE_KEY}
    while pending:
        entry, index, declared_in = pending.pop(0)
        location = resolve_entry(entry, declared_in, root)
        if location in loaded:
            continue
        if not location.is_file():
            raise ConfigError(str(declared_in), f"{INCLUDE_KEY}[{index}]",
                              f"'{entry}' not found (looked for {location}); paths are relative to the file "
                              "that includes them")
        included = read(location)
        loaded.append(location)
        merged = _merge(merged, included)
        pending += [(nested, i, location) for i, nested in enumerate(include_entries(included, location))]
    return merged, tuple(loaded[1:])
