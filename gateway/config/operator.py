"""The installed appliance's config: the operator's LiteLLM config plus the keys the appliance owns.

The operator brings any LiteLLM config (Ansible: `gateway_litellm_config`, its `include:` files,
secrets as `os.environ/NAME` from `gateway_environment`). The appliance owns a few keys, written
by the gateway role from the manifest (docs/install.md, "Your own LiteLLM config"):
`router_settings.routing_strategy` and `routing_strategy_args` (the ML router and where its
artifact lives), `general_settings.master_key` (the site's secret), `litellm_settings.cache` and
`cache_params` (the site's Redis), and callbacks it needs (`otel` when the site has a collector).

The rule: a list the appliance owns entries of (`litellm_settings.callbacks`) gets the appliance's
entries appended when missing; any other owned key is set when the operator left it out, accepted
when the operator gave the same value, and refused otherwise, naming the file and the key. An
operator never silently loses a value they wrote.

The result is flat: the operator's `include:` files are merged in first (as LiteLLM merges them,
gateway.config.includes), then the owned keys. LiteLLM replaces a whole top-level section with an
included file's, so owned keys written beside an `include:` would vanish when an included file has a
`router_settings:` of its own; merged into the resolved config they cannot. An owned key set in an
included file is refused like one in the main file, naming the included file.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from gateway.config.includes import resolve_includes
from gateway.config.loader import read_yaml
from gateway.errors import ConfigError

#: owned key -> what to change instead of setting it in the LiteLLM config
OWNERS = {
    "router_settings.routing_strategy": "set the role variable gateway_routing_strategy",
    "router_settings.routing_strategy_args": "the role writes them from the manifest (artifact in the site's S3)",
    "general_settings.master_key": "the site's key lives in secrets/gateway-master-key",
    "litellm_settings.cache": "set gateway_redis_cache (the site's Redis)",
    "litellm_settings.cache_params": "set gateway_redis_cache and gateway_cache_ttl",
}


def _where(files: dict[str, Path], source: Path, section: str, key: str) -> Path:
    """The file that set `section.key`: the last include that sets it (it wins), else the operator's file."""
    for path in reversed(list(files.values())):
        if key in (read_yaml(path).get(section) or {}):
            return path
    return source


def merge_owned(operator: dict[str, Any], owned: dict[str, Any], source: Path) -> dict[str, Any]:
    """The operator's config, its includes merged in, with the owned keys added; a conflicting owned
    key is a ConfigError. `source` is its path, for includes and for error messages."""
    resolved, included = resolve_includes(operator, source, read_yaml)
    files = {str(path): path for path in included}
    merged = copy.deepcopy(resolved)
    for section, keys in owned.items():
        if not isinstance(keys, dict):
            raise ConfigError("<appliance>", section, "the appliance's part must be a mapping of keys")
        if merged.get(section) is None:
            merged[section] = {}
        target = merged[section]
        if not isinstance(target, dict):
            raise ConfigError(str(source), section, f"must be a mapping, got {type(target).__name__}")
        for key, value in keys.items():
            dotted = f"{section}.{key}"
            if isinstance(value, list):
                have = target.get(key) or []
                if not isinstance(have, list):
                    raise ConfigError(str(source), dotted, f"must be a list, got {have!r}")
                target[key] = have + [item for item in value if item not in have]
            elif key not in target:
                target[key] = value
            elif target[key] != value:
                where = _where(files, source, section, key)
                why = OWNERS.get(dotted, "the appliance sets it from the manifest")
                raise ConfigError(str(where), dotted, f"is owned by the appliance, which sets {value!r}; "
                                  f"remove it from the operator's config ({why})")
    return merged


def merge_files(operator_path: str | Path, owned_path: str | Path) -> dict[str, Any]:
    """`merge_owned` on two YAML files (what the gateway role runs on the host)."""
    source = Path(operator_path).resolve()
    return merge_owned(read_yaml(source), read_yaml(Path(owned_path)), source)


def write_if_changed(data: dict[str, Any], out: Path) -> bool:
    """Write the merged config (0640: it may carry literal keys) unless the file already holds it.

    An unchanged file keeps its inode, owner and mode, so rerunning the role changes nothing."""
    text = yaml.safe_dump(data, sort_keys=False)
    if out.is_file() and out.read_text() == text:
        return False
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True
