"""Reads appliance.yaml into a Manifest; turns every error into `file:line: path: problem`."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from gateway.appliance import manifest as m
from gateway.appliance.errors import ManifestError
from gateway.appliance.manifest import Manifest, ReferenceProblems, format_loc


@dataclass(frozen=True)
class Loaded:
    """A validated manifest with what generated files cite: its file name and its digest."""

    manifest: Manifest
    path: Path
    sha256: str


def load(path: str | Path) -> Loaded:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    return Loaded(parse(text, str(path)), path, hashlib.sha256(text.encode()).hexdigest())


def parse(text: str, source: str = "<manifest>") -> Manifest:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ManifestError(source, [f"not YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ManifestError(source, ["the manifest must be a mapping (apiVersion, site, hosts, ...)"])
    try:
        return Manifest.model_validate(data)
    except ReferenceProblems as exc:
        raise ManifestError(
            source, [_where(root, loc) + f"{format_loc(loc)}: {msg}" for loc, msg in exc.located]
        ) from None
    except ValidationError as exc:
        raise ManifestError(source, [_describe(root, e) for e in exc.errors()]) from None


def _describe(root, error: dict) -> str:
    loc = tuple(error["loc"])
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _all_keys(), n=1)
        msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
    elif error["type"] != "missing":
        msg = f"{msg} (got {error.get('input')!r})"
    return _where(root, loc) + (f"{format_loc(loc)}: {msg}" if loc else msg)


def _where(root, loc: tuple) -> str:
    """The line of the deepest node on `loc` that exists in the YAML, as `line N: `."""
    node = root
    line = node.start_mark.line if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line
    return f"line {line + 1}: " if line is not None else ""


def _all_keys() -> list[str]:
    keys: set[str] = set()
    for obj in vars(m).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == m.__name__:
            keys.update(f.alias or n for n, f in obj.model_fields.items())
    return sorted(keys)


def json_schema() -> str:
    """The committed schema (gateway/appliance/appliance.schema.json); editors validate with it."""
    schema = Manifest.model_json_schema(by_alias=True)
    schema["$id"] = "https://gateway.invalid/appliance.schema.json"
    schema["title"] = f"Appliance manifest ({m.API_VERSION})"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


SCHEMA_PATH = Path(__file__).with_name("appliance.schema.json")
